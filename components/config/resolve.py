"""From raw `llm:` keys to a plan: parse, apply every rule, derive. Pure: no Pulumi runtime."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.config import rules, rules_acs, rules_cloud, rules_observability
from components.config.model import API_KEY_CHARS, SECRET_KEYS, Settings
from components.config.parse import parse_raw
from components.config.plans import AcsPlan, EcsPlan, Plan
from components.config.problems import ConfigError, Problem


def check_api_key(value: str | None) -> list[Problem]:
    """The key travels through Cloud Assistant parameters and shell quoting: keep it simple."""
    if value is None:
        return []
    if not API_KEY_CHARS.match(value):
        # Never echo the value: it is a secret.
        return [Problem("apiKey", "must be 16-128 characters of A-Z a-z 0-9 _ -", "[secret]", "[A-Za-z0-9_-]{16,128}")]
    return []


def cross_checks(s: Settings, secrets_set: frozenset[str] = frozenset()) -> tuple[Plan | None, list[Problem]]:
    """Every cross-key rule of the settings' mode; the plan when none fails."""
    model, problems = rules.model_spec(s)
    problems += rules.check_common(s) + rules_cloud.check_common(s) + rules_observability.check(s)
    ecs = s.mode != "acs"
    inst = None
    if ecs:
        inst, more = rules.instance_spec(s)
        problems += more + rules.check_billing(s)
    problems += rules.check_nccl(s)
    if model is None or (ecs and inst is None):
        return None, problems

    max_len = rules.max_model_len(s, model)
    length_problems = rules.check_max_model_len(s, model)
    problems += length_problems
    acs_parts: dict[str, Any] | None = None
    if inst is not None:
        tp_problems = rules.check_tensor_parallel(s, model, inst)
        pp_problems = rules.check_pipeline_parallel(s, model, inst)
        problems += tp_problems + pp_problems
        if not length_problems and not pp_problems:
            tp = None if tp_problems else rules.tensor_parallel(s, model, inst)
            problems += rules.check_ecs_sizing(s, model, inst, max_len, tp)
    else:
        acs_parts, more = rules_acs.acs_plan_parts(s, model, max_len, secrets_set)
        problems += more
    problems += rules.check_disk(s, model)
    if inst is not None:
        problems += rules_cloud.check_ecs(s, model)
    if problems:
        return None, problems

    common: dict[str, Any] = dict(
        settings=s, model=model, max_model_len=max_len,
        served_model_name=s.vllm.served_model_name or model.served_model_name,
        reasoning_parser=rules.reasoning_parser(s, model), vllm_image=rules.vllm_image(s),
        disk_size_gib=rules.disk_size_gib(s, model),
        vpc_cidr=s.network.existing_vpc_cidr or s.network.vpc_cidr,
    )  # fmt: skip
    if inst is not None:
        return EcsPlan(
            **common, instance=inst, tensor_parallel=rules.tensor_parallel(s, model, inst),
            tensor_parallel_derived=s.vllm.tensor_parallel_size is None,
            pipeline_parallel=rules.pipeline_parallel(s), nodes=rules.nodes(s),
            vswitch_cidr=rules.vswitch_cidr(s), download_timeout_s=rules.download_timeout_s(s, model),
            nccl_env=rules.nccl_env(s),
        ), []  # fmt: skip
    assert acs_parts is not None  # no problem means the ACS rules derived every part
    return AcsPlan(**common, **acs_parts), []


def resolve(raw: Mapping[str, Any], api_key: str | None = None) -> Plan:
    """Parse and check everything; raise ConfigError listing every problem.

    `raw` holds the `llm:` keys without the namespace; secret keys are looked at only for
    whether they are set (`apiKey`'s charset aside), never copied into the plan.
    """
    secrets_set = frozenset(k for k in SECRET_KEYS if raw.get(k) not in (None, ""))
    s, problems = parse_raw(raw)
    plan = None
    if s is not None:
        plan, more = cross_checks(s, secrets_set)
        problems += more
    problems += check_api_key(api_key)
    if problems or plan is None:
        raise ConfigError(problems)
    return plan
