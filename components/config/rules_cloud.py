"""Rules that hold the settings to the cloud's documented contracts (issue 9). Pure functions.

Each checks what Alibaba Cloud (or the tool a value reaches) accepts, before any resource is
declared, and returns every problem it finds. The fact behind each rule, its primary source and
the test that pins it: docs/cloud-contracts.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from components.config.model import (
    COMMAND_TIMEOUT_MAX_S,
    DISK_MAX_GIB,
    ESSD_MIN_GIB,
    HOST_UNSAFE,
    IMAGE_NAME_MAX,
    IMAGE_REFERENCE,
    KEY_PAIR_NAME,
    SAFE_NAME,
    STACK_TAG_KEYS,
    TAG_KEY_MAX,
    TAG_RESERVED_PREFIXES,
    TAG_VALUE_MAX,
    TAGS_MAX,
    Settings,
)
from components.config.problems import Problem
from components.config.rules import disk_size_gib, download_timeout_s, vllm_image
from components.sizing import catalog, timeouts

_URL_IN_TAG = re.compile(r"https?://")


def check_ids(s: Settings) -> list[Problem]:
    """IDs and names passed to the cloud: non-empty, no whitespace; key pairs as ECS names them.

    Alibaba documents no ID shape (`vpc-`, `vsw-` are only seen in examples; public image IDs have
    no `m-`), so only emptiness and whitespace are checked.
    """
    out = []
    ids = [("network.vpcId", s.network.vpc_id), ("network.vswitchId", s.network.vswitch_id), ("imageId", s.image_id)]
    for key, value in ids:
        if value is not None and (not value or re.search(r"\s", value)):
            out.append(
                Problem(
                    key,
                    "must be a non-empty ID without whitespace",
                    value,
                    "an existing ID, e.g. as DescribeVpcs lists it",
                )
            )
    name = s.ssh.key_pair_name
    if name is not None and not KEY_PAIR_NAME.match(name):
        out.append(
            Problem(
                "ssh.keyPairName",
                "not an ECS key pair name (2-128 characters, starting with a letter)",
                name,
                "[A-Za-z][A-Za-z0-9:_-]{1,127}",
            )
        )
    return out


def check_tags(s: Settings) -> list[Problem]:
    """ECS tag rules (TagResources, RunInstances Tag.N), on `llm:tags` plus the stack's own two."""
    out = []
    for k, v in s.tags.items():
        key = f"tags.{k}"
        if not 1 <= len(k) <= TAG_KEY_MAX:
            out.append(Problem(key, "a tag key must be 1-128 characters", k, f"1..{TAG_KEY_MAX} characters"))
        if k.lower().startswith(TAG_RESERVED_PREFIXES):
            out.append(Problem(key, "a tag key must not start with `aliyun` or `acs:` (reserved)", k, "another prefix"))
        if len(v) > TAG_VALUE_MAX:
            out.append(Problem(key, "a tag value must be at most 128 characters", v, f"0..{TAG_VALUE_MAX} characters"))
        if _URL_IN_TAG.search(k) or _URL_IN_TAG.search(v):
            out.append(Problem(key, "tags must not contain `http://` or `https://`", f"{k}={v}", "no URL scheme"))
    total = len(set(s.tags) | set(STACK_TAG_KEYS))
    if total > TAGS_MAX:
        out.append(
            Problem(
                "tags",
                f"at most {TAGS_MAX} tags per resource, counting the stack's own {' and '.join(STACK_TAG_KEYS)}",
                total,
                f"at most {TAGS_MAX - len(STACK_TAG_KEYS)} of your own",
            )
        )
    return out


def check_image(s: Settings) -> list[Problem]:
    """The vLLM image is a reference by distribution/reference's grammar (no-`latest` is model.py's)."""
    image = vllm_image(s)
    m = IMAGE_REFERENCE.match(image)
    if m and len(m["name"]) <= IMAGE_NAME_MAX:
        return []
    return [
        Problem(
            "vllm.image",
            "not an image reference (registry/path:tag or @sha256:<64 hex>, lower-case path)",
            image,
            "e.g. egs-registry.<region>.cr.aliyuncs.com/egs/vllm:<tag>",
        )
    ]


def _names(s: Settings) -> Iterable[tuple[str, str | None]]:
    yield "vllm.servedModelName", s.vllm.served_model_name
    if s.custom_model:
        yield "customModel.name", s.custom_model.name
        yield "customModel.servedModelName", s.custom_model.served_model_name
    yield "modelSource.revision", s.model_source.revision or None


def check_names(s: Settings) -> list[Problem]:
    """Names that become directory names, URL path segments and the `model` clients send."""
    return [
        Problem(
            key,
            "must be safe as a name and a path segment: letters, digits, . _ -, starting with a letter or digit, no `..`, at most 64",
            value,
            SAFE_NAME.pattern.strip("^$"),
        )
        for key, value in _names(s)
        if value is not None and (not SAFE_NAME.match(value) or ".." in value)
    ]


def _host_strings(s: Settings) -> Iterable[tuple[str, str | None]]:
    """Every string setting that reaches a host as a Cloud Assistant invocation parameter (issue
    13) or in command content. The agent substitutes parameters as plain text and then resolves
    `{{oos-secret:...}}`, `{{oos:...}}` and `{{ACS::...}}` in the result with the instance's role
    (research notes Q2): a value carrying `{{` could make the host fetch any secret parameter the
    role can read. Checked for all of them, even those with a stricter charset of their own (the
    image, the names, the revision: check_image, check_names, model.py), so that a later change
    to one charset cannot open this."""
    yield "vllm.image", s.vllm.image
    yield "vllm.servedModelName", s.vllm.served_model_name
    for i, arg in enumerate(s.vllm.extra_args):
        yield f"vllm.extraArgs[{i}]", arg
    yield "vllm.reasoningParser", s.vllm.reasoning_parser
    if s.custom_model:
        yield "customModel.name", s.custom_model.name
        yield "customModel.servedModelName", s.custom_model.served_model_name
        yield "customModel.reasoningParser", s.custom_model.reasoning_parser
    yield "modelSource.uri", s.model_source.uri
    yield "modelSource.revision", s.model_source.revision or None
    if s.mode == "ecs-cluster":
        for k, v in s.cluster.nccl_env.items():
            yield f"cluster.ncclEnv.{k}", v
            yield f"cluster.ncclEnv.{k} (name)", k


def check_host_strings(s: Settings) -> list[Problem]:
    return [
        Problem(
            key.removesuffix(" (name)"),
            "must not contain `{{`, `}}` or a line break (it reaches the host as a Cloud Assistant parameter, and the agent resolves `{{...}}` references in parameters)",
            value,
            "a single line without {{ or }}",
        )
        for key, value in _host_strings(s)
        if value is not None and any(bad in value for bad in HOST_UNSAFE)
    ]


# Bounds that keep a run's command content plus its parameters under the InvokeCommand limit
# (24 KB after Base64; issue 13 budgets 16 KB: scripts.INVOKE_B64_LIMIT), pinned by
# tests/unit/test_parameters.py with the longest values these allow.
EXTRA_ARGS_CHARS_MAX = 1536
EXTRA_ARGS_MAX = 64
PARSER_MAX = 64
OSS_URI_MAX = 1024  # an OSS object name is at most 1023 bytes
NCCL_ENV_MAX = 16
NCCL_VALUE_MAX = 128


def check_parameter_sizes(s: Settings) -> list[Problem]:
    out: list[Problem] = []
    args = s.vllm.extra_args
    if len(args) > EXTRA_ARGS_MAX or sum(len(a) for a in args) > EXTRA_ARGS_CHARS_MAX:
        out.append(Problem(
            "vllm.extraArgs", "too long for a Cloud Assistant parameter",
            f"{len(args)} arguments, {sum(len(a) for a in args)} characters",
            f"at most {EXTRA_ARGS_MAX} arguments and {EXTRA_ARGS_CHARS_MAX} characters in all",
        ))  # fmt: skip
    for key, value, limit in (
        ("vllm.reasoningParser", s.vllm.reasoning_parser, PARSER_MAX),
        ("customModel.reasoningParser", s.custom_model.reasoning_parser if s.custom_model else None, PARSER_MAX),
        ("modelSource.uri", s.model_source.uri, OSS_URI_MAX),
    ):
        if value is not None and len(value) > limit:
            out.append(Problem(key, "too long", f"{len(value)} characters", f"at most {limit}"))
    if s.mode == "ecs-cluster":
        env = s.cluster.nccl_env
        if len(env) > NCCL_ENV_MAX:
            out.append(Problem("cluster.ncclEnv", "too many variables", len(env), f"at most {NCCL_ENV_MAX}"))
        for k, v in env.items():
            if len(k) > 64 or len(v) > NCCL_VALUE_MAX:
                out.append(Problem(f"cluster.ncclEnv.{k}", "too long", f"{len(k)}+{len(v)} characters",
                                   f"a name of at most 64 and a value of at most {NCCL_VALUE_MAX}"))  # fmt: skip
    return out


def check_common(s: Settings) -> list[Problem]:
    """Every mode's contract rules. A key a stricter rule already refused is not reported again
    by the host-string rule (one problem per key and cause)."""
    stricter = check_ids(s) + check_tags(s) + check_image(s) + check_names(s)
    seen = {p.key for p in stricter}
    return stricter + [p for p in check_host_strings(s) if p.key not in seen] + check_parameter_sizes(s)


# ---------------------------------------------------------------------------------------------
# ECS shapes (the model disk and the Cloud Assistant phases exist only there)


def check_disk_limits(s: Settings, model: catalog.ModelSpec) -> list[Problem]:
    """CreateDisk Size by category and performance level (the model's own minimum is rules.check_disk)."""
    d = s.model_disk
    size = disk_size_gib(s, model)
    derived = "" if d.size_gib else " (derived from the model: set modelDisk.sizeGib)"
    lo = ESSD_MIN_GIB[d.performance_level] if d.category == "cloud_essd" else 1
    if size < lo:
        return [
            Problem(
                "modelDisk.sizeGib",
                f"a {d.performance_level} ESSD must be {lo}-{DISK_MAX_GIB} GiB{derived}",
                size,
                f"{lo}..{DISK_MAX_GIB}, or a lower modelDisk.performanceLevel",
            )
        ]
    if size > DISK_MAX_GIB:
        return [Problem("modelDisk.sizeGib", f"above the disk size limit{derived}", size, f"<= {DISK_MAX_GIB}")]
    return []


def check_command_timeouts(s: Settings, model: catalog.ModelSpec) -> list[Problem]:
    """The sync and serve commands' timeouts (sizing/timeouts.py) within Cloud Assistant's maximum."""
    dl = download_timeout_s(s, model)
    start = s.vllm.startup_timeout_s
    cluster = s.mode == "ecs-cluster"
    boot = timeouts.BOOTSTRAP_WAIT_S
    ray = timeouts.RAY_WAIT_S if cluster else 0
    limit = f"Cloud Assistant's maximum command timeout of {COMMAND_TIMEOUT_MAX_S} s (unverified bound)"
    sync = timeouts.sync_timeout_for(dl)
    if sync > COMMAND_TIMEOUT_MAX_S:
        return [
            Problem(
                "downloadTimeoutS",
                f"the model sync command's timeout (bootstrap wait {boot} + download {dl} = {sync} s) exceeds {limit}: lower downloadTimeoutS",
                dl,
                f"<= {COMMAND_TIMEOUT_MAX_S - boot}",
            )
        ]
    serve = timeouts.serve_timeout_for(dl, start, cluster)
    if serve <= COMMAND_TIMEOUT_MAX_S:
        return []
    what = f"the serve command's timeout (bootstrap wait {boot} + download {dl} + Ray wait {ray} + 2 x startup {start} = {serve} s) exceeds {limit}"
    max_start = (COMMAND_TIMEOUT_MAX_S - boot - dl - ray) // 2
    # Name the key the user raised: the download bound when only it was given.
    download_given = s.download_timeout_s is not None and "startup_timeout_s" not in s.vllm.model_fields_set
    if max_start >= 1 and not download_given:
        return [
            Problem(
                "vllm.startupTimeoutS",
                f"{what}: lower vllm.startupTimeoutS",
                start,
                f"<= {max_start} with a download bound of {dl} s",
            )
        ]
    return [
        Problem(
            "downloadTimeoutS",
            f"{what}: lower downloadTimeoutS",
            dl,
            f"<= {COMMAND_TIMEOUT_MAX_S - boot - ray - 2 * start}",
        )
    ]


def check_ecs(s: Settings, model: catalog.ModelSpec) -> list[Problem]:
    return check_disk_limits(s, model) + check_command_timeouts(s, model)
