"""Every validation rule at its edge values, with the full problem line users read (issue 17).

Each rule is called directly on parsed settings (the example stacks with changes), so a case
pins exactly one rule: both sides of each bound (the value that passes and the first that
does not) and the complete `llm:<key>: <what> (got X; allowed Y)` text.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.config import rules, rules_cloud
from components.config.model import Settings
from components.config.parse import parse_raw
from components.sizing import catalog
from tests import planning as P

MODELS = catalog.MODELS
TYPES = catalog.INSTANCE_TYPES


def settings(stack: str = "dev", **changes: Any) -> Settings:
    cfg = P.with_changes(P.stack_config(stack), **changes)
    raw = {k.removeprefix("llm:"): v for k, v in cfg.items() if k.startswith("llm:")}
    s, problems = parse_raw(raw)
    assert s is not None and not problems, problems
    return s


def text(problems) -> list[str]:
    return [str(p) for p in problems]


Q7 = MODELS["deepseek-r1-distill-qwen-7b"]  # 28 attention heads, 15.24 GB
L70 = MODELS["deepseek-r1-distill-llama-70b"]  # 141.2 GB
R1 = MODELS["deepseek-r1"]
A10 = TYPES["ecs.gn7i-c8g1.2xlarge"]
A10X4 = TYPES["ecs.gn7i-4x.8xlarge"]
EBM = TYPES["ecs.ebmgn8v.48xlarge"]
PREPAID = "1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 24, 36, 48, 60"
ZONE = "must be a zone of llm:region (checked by prefix, a heuristic: DescribeZones lists the zones)"
TPW = "must divide the model's 28 attention heads and not exceed the 4 GPUs of ecs.gn7i-4x.8xlarge"
TPXPP = "llm:vllm.pipelineParallelSize: TP x PP must equal the {gpus} GPUs of {n} x ecs.ebmgn8v.48xlarge"
MAXC = "Cloud Assistant's maximum command timeout of 86400 s (unverified bound)"
NAME = "must be safe as a name and a path segment: letters, digits, . _ -, starting with a letter or digit, no `..`, at most 64"
HOST = "must not contain `{{`, `}}` or a line break (it reaches the host as a Cloud Assistant parameter, and the agent resolves `{{...}}` references in parameters)"
KEYPAIR = "not an ECS key pair name (2-128 characters, starting with a letter)"
TAGS20 = "llm:tags: at most 20 tags per resource, counting the stack's own managed-by and llm-stack (got {n}; allowed at most 18 of your own)"


def _net(**n):
    return {"network": n}


CASES = {
    # vSwitch prefix length /16../29, VPC /8../24, inside the VPC
    "vsw /29": (lambda: rules.check_cidrs(settings(**_net(vpcCidr="10.0.0.0/16", vswitchCidr="10.0.0.0/29"))), []),
    "vsw /30": (
        lambda: rules.check_cidrs(settings(**_net(vpcCidr="10.0.0.0/16", vswitchCidr="10.0.0.0/30"))),
        ["llm:network.vswitchCidr: prefix length out of range (got '10.0.0.0/30'; allowed /16 to /29)"],
    ),
    "vsw /16": (lambda: rules.check_cidrs(settings(**_net(vpcCidr="10.0.0.0/16", vswitchCidr="10.0.0.0/16"))), []),
    "vsw /15": (
        lambda: rules.check_cidrs(settings(**_net(vpcCidr="10.0.0.0/8", vswitchCidr="10.0.0.0/15"))),
        ["llm:network.vswitchCidr: prefix length out of range (got '10.0.0.0/15'; allowed /16 to /29)"],
    ),
    "vpc /8": (lambda: rules.check_cidrs(settings(**_net(vpcCidr="10.0.0.0/8"))), []),
    "vpc /24": (lambda: rules.check_cidrs(settings(**_net(vpcCidr="10.0.0.0/24"))), []),
    "vpc /25": (
        lambda: rules.check_cidrs(settings(**_net(vpcCidr="10.0.0.0/25", vswitchCidr="10.0.0.0/26"))),
        ["llm:network.vpcCidr: prefix length out of range (got '10.0.0.0/25'; allowed /8 to /24)"],
    ),
    "vsw outside": (
        lambda: rules.check_cidrs(settings(**_net(vpcCidr="10.0.0.0/16", vswitchCidr="10.1.0.0/24"))),
        [
            "llm:network.vswitchCidr: must lie inside `network.vpcCidr` (got '10.1.0.0/24'; allowed a subnet of 10.0.0.0/16)"
        ],
    ),
    "existing vpc": (
        lambda: rules.check_cidrs(
            settings(**_net(vpcId="vpc-1", vswitchId="vsw-1", existingVpcCidr="10.0.0.0/8", vpcCidr="10.0.0.0/25"))
        ),
        [],
    ),
    # zones
    "zone other region": (
        lambda: rules.check_zones(settings(zoneId="cn-beijing-a")),
        [f"llm:zoneId: {ZONE} (got 'cn-beijing-a'; allowed a zone ID starting with cn-hangzhou, e.g. cn-hangzhou-k)"],
    ),
    "zone = region": (
        lambda: rules.check_zones(settings(zoneId="cn-hangzhou")),
        [f"llm:zoneId: {ZONE} (got 'cn-hangzhou'; allowed a zone ID starting with cn-hangzhou, e.g. cn-hangzhou-k)"],
    ),
    "zone letter": (lambda: rules.check_zones(settings(zoneId="cn-hangzhoub")), []),
    # every mode
    "public no cidrs": (
        lambda: rules.check_common(settings(publicAccess={"enabled": True})),
        [
            "llm:publicAccess.allowedCidrs: required when public access is enabled (got []; allowed a list of CIDRs, e.g. [203.0.113.0/24])"
        ],
    ),
    "bucket region": (
        lambda: rules.check_common(settings(modelSource={"uri": "oss://bkt/x/", "region": "cn-beijing"})),
        [
            "llm:modelSource.region: the bucket must be in the stack's region (internal endpoint, no cross-region traffic) (got 'cn-beijing'; allowed cn-hangzhou)"
        ],
    ),
    "egress none": (
        lambda: rules.check_common(settings(network={"egress": "none"})),
        [
            "llm:vllm.image: with `network.egress: none` the image must come from an in-VPC registry (got 'egs-registry.cn-hangzhou.cr.aliyuncs.com/egs/vllm:0.8.5-pytorch2.6-cu124-202...; allowed a `*-vpc.<region>.*aliyuncs.com/` registry)"
        ],
    ),
    "maxlen = limit": (lambda: rules.check_max_model_len(settings(vllm={"maxModelLen": 131072}), Q7), []),
    "maxlen > limit": (
        lambda: rules.check_max_model_len(settings(vllm={"maxModelLen": 131073}), Q7),
        ["llm:vllm.maxModelLen: above the model's limit (got 131073; allowed 1..131072)"],
    ),
    # 70B: 141.2 GB x 1.05 = 138.08 GiB
    "disk 138": (
        lambda: rules.check_disk(settings(modelDisk={"sizeGib": 138}), L70),
        ["llm:modelDisk.sizeGib: too small for the weights (got 138; allowed >= 139)"],
    ),
    "disk 139": (lambda: rules.check_disk(settings(modelDisk={"sizeGib": 139}), L70), []),
    # billing
    "prepaid 1": (lambda: rules.check_billing(settings(billing={"chargeType": "PrePaid", "period": 1})), []),
    "prepaid 60": (lambda: rules.check_billing(settings(billing={"chargeType": "PrePaid", "period": 60})), []),
    "prepaid 10": (
        lambda: rules.check_billing(settings(billing={"chargeType": "PrePaid", "period": 10})),
        [f"llm:billing.period: PrePaid needs a valid period in months (got 10; allowed {PREPAID})"],
    ),
    "prepaid spot": (
        lambda: rules.check_billing(settings(billing={"chargeType": "PrePaid", "period": 1, "spot": True})),
        ["llm:billing.spot: spot instances are PostPaid only (got true; allowed false with PrePaid)"],
    ),
    "postpaid period": (
        lambda: rules.check_billing(settings(billing={"chargeType": "PostPaid", "period": 1})),
        ["llm:billing.period: a period applies to PrePaid only (got 1; allowed unset with PostPaid)"],
    ),
    "nccl keys": (
        lambda: rules.check_nccl(settings("prod", cluster={"ncclEnv": {"NCCL_X": "1", "FOO": "2", "GLOO_Y": "3"}})),
        ["llm:cluster.ncclEnv.FOO: not an NCCL_/GLOO_ variable (got 'FOO'; allowed NCCL_* or GLOO_*)"],
    ),
    "nccl single": (lambda: rules.check_nccl(settings(cluster={"ncclEnv": {"FOO": "2"}})), []),
    # tensor parallel: divides 28 heads, <= 4 GPUs
    "tp 4": (lambda: rules.check_tensor_parallel(settings(vllm={"tensorParallelSize": 4}), Q7, A10X4), []),
    "tp 3": (
        lambda: rules.check_tensor_parallel(settings(vllm={"tensorParallelSize": 3}), Q7, A10X4),
        [f"llm:vllm.tensorParallelSize: {TPW} (got 3; allowed 1, 2, 4)"],
    ),
    "tp 7": (
        lambda: rules.check_tensor_parallel(settings(vllm={"tensorParallelSize": 7}), Q7, A10X4),
        [f"llm:vllm.tensorParallelSize: {TPW} (got 7; allowed 1, 2, 4)"],
    ),
    # pipeline parallel
    "pp 2 single": (
        lambda: rules.check_pipeline_parallel(settings(vllm={"pipelineParallelSize": 2}), Q7, A10),
        ["llm:vllm.pipelineParallelSize: pipeline parallelism needs ecs-cluster (got 2; allowed 1)"],
    ),
    "pp 1 single": (lambda: rules.check_pipeline_parallel(settings(vllm={"pipelineParallelSize": 1}), Q7, A10), []),
    "8 x 2 on 2 nodes": (
        lambda: rules.check_pipeline_parallel(
            settings("prod", vllm={"tensorParallelSize": 8, "pipelineParallelSize": 2}), R1, EBM
        ),
        [],
    ),
    "4 x 2 on 2 nodes": (
        lambda: rules.check_pipeline_parallel(
            settings("prod", vllm={"tensorParallelSize": 4, "pipelineParallelSize": 2}), R1, EBM
        ),
        [TPXPP.format(gpus=16, n=2) + " (got '4 x 2'; allowed TP 8 x PP 2)"],
    ),
    "8 x 1 on 2 nodes": (
        lambda: rules.check_pipeline_parallel(
            settings("prod", vllm={"tensorParallelSize": 8, "pipelineParallelSize": 1}), R1, EBM
        ),
        [TPXPP.format(gpus=16, n=2) + " (got '8 x 1'; allowed TP 8 x PP 2)"],
    ),
    "4 x 4 on 2 nodes": (  # 16 GPUs, but one stage per node
        lambda: rules.check_pipeline_parallel(
            settings("prod", vllm={"tensorParallelSize": 4, "pipelineParallelSize": 4}), R1, EBM
        ),
        ["llm:vllm.pipelineParallelSize: one pipeline stage per node (got 4; allowed 2)"],
    ),
    "4 x 4 on 4 nodes": (
        lambda: rules.check_pipeline_parallel(
            settings("prod", cluster={"nodes": 4}, vllm={"tensorParallelSize": 4, "pipelineParallelSize": 4}), R1, EBM
        ),
        [TPXPP.format(gpus=32, n=4) + " (got '4 x 4'; allowed TP 8 x PP 4)"],
    ),
    "pp 3 on 2 nodes": (
        lambda: rules.check_pipeline_parallel(settings("prod", vllm={"pipelineParallelSize": 3}), R1, EBM),
        ["llm:vllm.pipelineParallelSize: one pipeline stage per node (got 3; allowed 2)"],
    ),
    "pp 2 on 4 nodes": (
        lambda: rules.check_pipeline_parallel(
            settings("prod", cluster={"nodes": 4}, vllm={"pipelineParallelSize": 2}), R1, EBM
        ),
        ["llm:vllm.pipelineParallelSize: one pipeline stage per node (got 2; allowed 4)"],
    ),
    "pp derived": (lambda: rules.check_pipeline_parallel(settings("prod"), R1, EBM), []),
    # sizing
    "r1 on an A10": (
        lambda: rules.check_ecs_sizing(settings(model="deepseek-r1"), R1, A10, 32768, 1),
        [
            "llm:instanceType: deepseek-r1 needs 645 GiB (weights + KV for 32768 tokens + overhead) but 1 x 1 GPU(s) x 24 GiB x 0.9 give 22 GiB (got 'ecs.gn7i-c8g1.2xlarge'; allowed ecs.ebmgn8v.48xlarge, ecs.gn8v-8x.16xlarge, ecs.gn8v-8x.48xlarge)"
        ],
    ),
    "7b on an A10": (lambda: rules.check_ecs_sizing(settings(), Q7, A10, 32768, 1), []),
    "invalid tp not judged": (lambda: rules.check_ecs_sizing(settings(model="deepseek-r1"), R1, A10, 32768, None), []),
    "cluster without eRDMA": (
        lambda: rules.check_ecs_sizing(
            settings("prod", instanceType="ecs.gn7i-8x.16xlarge"), R1, TYPES["ecs.gn7i-8x.16xlarge"], 32768, 8
        ),
        [
            "llm:instanceType: ecs-cluster needs an eRDMA-capable instance type (got 'ecs.gn7i-8x.16xlarge'; allowed ecs.ebmgn8is.32xlarge, ecs.gn8is-8x.32xlarge, ecs.gn8v-4x.24xlarge, ecs.gn8v-4x.8xlarge, ecs.ebmgn8v.48xlarge, ecs.gn8v-8x.16xlarge, ecs.gn8v-8x.48xlarge)"
        ],
    ),
    "cluster that fits one node": (
        lambda: rules.check_ecs_sizing(settings("prod", cluster={"allowSingleNodeFit": False}), R1, EBM, 32768, 8),
        [
            "llm:mode: deepseek-r1 fits on one ecs.ebmgn8v.48xlarge: a cluster only adds cost and network hops (got 'ecs-cluster'; allowed ecs-single, or llm:cluster.allowSingleNodeFit: true)"
        ],
    ),
    "cluster allowed on one node": (lambda: rules.check_ecs_sizing(settings("prod"), R1, EBM, 32768, 8), []),
    "cluster too small": (
        lambda: rules.check_ecs_sizing(
            settings("prod", instanceType="ecs.gn8is-4x.16xlarge"), R1, TYPES["ecs.gn8is-4x.16xlarge"], 32768, 4
        ),
        [
            "llm:instanceType: deepseek-r1 needs 659 GiB (weights + KV for 32768 tokens + overhead) but 2 x 4 GPU(s) x 48 GiB x 0.92 give 353 GiB (got 'ecs.gn8is-4x.16xlarge'; allowed ecs.ebmgn8is.32xlarge, ecs.gn8is-8x.32xlarge, ecs.gn8v-4x.24xlarge, ecs.gn8v-4x.8xlarge, ecs.ebmgn8v.48xlarge, ecs.gn8v-8x.16xlarge, ecs.gn8v-8x.48xlarge)"
        ],
    ),
    # rules_cloud: IDs, key pair 2..128 starting with a letter
    "ids whitespace": (
        lambda: rules_cloud.check_ids(
            settings(**_net(vpcId="vpc 1", vswitchId="vsw-1", existingVpcCidr="10.0.0.0/8"), imageId="")
        ),
        [
            "llm:network.vpcId: must be a non-empty ID without whitespace (got 'vpc 1'; allowed an existing ID, e.g. as DescribeVpcs lists it)",
            "llm:imageId: must be a non-empty ID without whitespace (got ''; allowed an existing ID, e.g. as DescribeVpcs lists it)",
        ],
    ),
    "key pair 2": (lambda: rules_cloud.check_ids(settings(ssh={"keyPairName": "ab"})), []),
    "key pair 128": (lambda: rules_cloud.check_ids(settings(ssh={"keyPairName": "a" * 128})), []),
    "key pair 1": (
        lambda: rules_cloud.check_ids(settings(ssh={"keyPairName": "a"})),
        [f"llm:ssh.keyPairName: {KEYPAIR} (got 'a'; allowed [A-Za-z][A-Za-z0-9:_-]{{1,127}})"],
    ),
    "key pair 129": (
        lambda: rules_cloud.check_ids(settings(ssh={"keyPairName": "a" * 129})),
        [f"llm:ssh.keyPairName: {KEYPAIR} (got '{'a' * 76}...; allowed [A-Za-z][A-Za-z0-9:_-]{{1,127}})"],
    ),
    "key pair digit": (
        lambda: rules_cloud.check_ids(settings(ssh={"keyPairName": "1abc"})),
        [f"llm:ssh.keyPairName: {KEYPAIR} (got '1abc'; allowed [A-Za-z][A-Za-z0-9:_-]{{1,127}})"],
    ),
    # tags: key 1..128, value 0..128, reserved prefixes, no URL, 20 with the stack's 2
    "tag 128": (lambda: rules_cloud.check_tags(settings(tags={"k" * 128: "v" * 128})), []),
    "tag 129": (
        lambda: rules_cloud.check_tags(settings(tags={"k" * 129: "v" * 129})),
        [
            f"llm:tags.{'k' * 129}: a tag key must be 1-128 characters (got '{'k' * 76}...; allowed 1..128 characters)",
            f"llm:tags.{'k' * 129}: a tag value must be at most 128 characters (got '{'v' * 76}...; allowed 0..128 characters)",
        ],
    ),
    "tag empty key": (
        lambda: rules_cloud.check_tags(settings(tags={"": ""})),
        ["llm:tags.: a tag key must be 1-128 characters (got ''; allowed 1..128 characters)"],
    ),
    "tag reserved, url": (
        lambda: rules_cloud.check_tags(
            settings(tags={"AliyunX": "v", "acs:y": "v", "acsz": "v", "u": "see https://x"})
        ),
        [
            "llm:tags.AliyunX: a tag key must not start with `aliyun` or `acs:` (reserved) (got 'AliyunX'; allowed another prefix)",
            "llm:tags.acs:y: a tag key must not start with `aliyun` or `acs:` (reserved) (got 'acs:y'; allowed another prefix)",
            "llm:tags.u: tags must not contain `http://` or `https://` (got 'u=see https://x'; allowed no URL scheme)",
        ],
    ),
    "tag url in key": (
        lambda: rules_cloud.check_tags(settings(tags={"http://k": "v"})),
        ["llm:tags.http://k: tags must not contain `http://` or `https://` (got 'http://k=v'; allowed no URL scheme)"],
    ),
    # the dev stack has its own `env` tag: 17 more make 18 of the user's, 20 in all
    "18 own tags": (lambda: rules_cloud.check_tags(settings(tags={f"t{i}": "v" for i in range(17)})), []),
    "19 own tags": (
        lambda: rules_cloud.check_tags(settings(tags={f"t{i}": "v" for i in range(18)})),
        [TAGS20.format(n=21)],
    ),
    "stack tag counted once": (
        lambda: rules_cloud.check_tags(settings(tags={**{f"t{i}": "v" for i in range(17)}, "managed-by": "me"})),
        [],
    ),
    # image reference, name at most 255
    "image upper case": (
        lambda: rules_cloud.check_image(settings(vllm={"image": "Registry/Bad:tag"})),
        [
            "llm:vllm.image: not an image reference (registry/path:tag or @sha256:<64 hex>, lower-case path) (got 'Registry/Bad:tag'; allowed e.g. egs-registry.<region>.cr.aliyuncs.com/egs/vllm:<tag>)"
        ],
    ),
    "image name 255": (lambda: rules_cloud.check_image(settings(vllm={"image": "r.io/" + "a" * 250 + ":t"})), []),
    "image name 256": (
        lambda: rules_cloud.check_image(settings(vllm={"image": "r.io/" + "a" * 251 + ":t"})),
        [
            f"llm:vllm.image: not an image reference (registry/path:tag or @sha256:<64 hex>, lower-case path) (got 'r.io/{'a' * 71}...; allowed e.g. egs-registry.<region>.cr.aliyuncs.com/egs/vllm:<tag>)"
        ],
    ),
    # names: 1..64 characters, no `..`
    "name 64": (lambda: rules_cloud.check_names(settings(vllm={"servedModelName": "a" * 64})), []),
    "name 65": (
        lambda: rules_cloud.check_names(settings(vllm={"servedModelName": "a" * 65})),
        [f"llm:vllm.servedModelName: {NAME} (got '{'a' * 65}'; allowed [A-Za-z0-9][A-Za-z0-9._-]{{0,63}})"],
    ),
    "name dots, revision": (
        lambda: rules_cloud.check_names(settings(vllm={"servedModelName": "a..b"}, modelSource={"revision": "-x"})),
        [
            f"llm:vllm.servedModelName: {NAME} (got 'a..b'; allowed [A-Za-z0-9][A-Za-z0-9._-]{{0,63}})",
            f"llm:modelSource.revision: {NAME} (got '-x'; allowed [A-Za-z0-9][A-Za-z0-9._-]{{0,63}})",
        ],
    ),
    "host strings": (
        lambda: rules_cloud.check_host_strings(
            settings(vllm={"extraArgs": ["--x={{a}}", "ok", "a}}"], "reasoningParser": "p\r"})
        ),
        [
            f"llm:vllm.extraArgs[0]: {HOST} (got '--x={{{{a}}}}'; allowed a single line without {{{{ or }}}})",
            f"llm:vllm.extraArgs[2]: {HOST} (got 'a}}}}'; allowed a single line without {{{{ or }}}})",
            f"llm:vllm.reasoningParser: {HOST} (got 'p\\r'; allowed a single line without {{{{ or }}}})",
        ],
    ),
    "nccl value on a host": (
        lambda: rules_cloud.check_host_strings(settings("prod", cluster={"ncclEnv": {"NCCL_X": "a\nb"}})),
        [f"llm:cluster.ncclEnv.NCCL_X: {HOST} (got 'a\\nb'; allowed a single line without {{{{ or }}}})"],
    ),
    # disk limits by performance level (PL2 >= 461), <= 32768
    "PL2 460": (
        lambda: rules_cloud.check_disk_limits(
            settings(modelDisk={"category": "cloud_essd", "performanceLevel": "PL2", "sizeGib": 460}), Q7
        ),
        [
            "llm:modelDisk.sizeGib: a PL2 ESSD must be 461-32768 GiB (got 460; allowed 461..32768, or a lower modelDisk.performanceLevel)"
        ],
    ),
    "PL2 461": (
        lambda: rules_cloud.check_disk_limits(
            settings(modelDisk={"category": "cloud_essd", "performanceLevel": "PL2", "sizeGib": 461}), Q7
        ),
        [],
    ),
    "PL3 derived": (
        lambda: rules_cloud.check_disk_limits(
            settings(modelDisk={"category": "cloud_essd", "performanceLevel": "PL3"}), Q7
        ),
        [
            "llm:modelDisk.sizeGib: a PL3 ESSD must be 1261-32768 GiB (derived from the model: set modelDisk.sizeGib) (got 100; allowed 1261..32768, or a lower modelDisk.performanceLevel)"
        ],
    ),
    "cloud_auto 20": (
        lambda: rules_cloud.check_disk_limits(
            settings(modelDisk={"category": "cloud_auto", "performanceLevel": "PL3", "sizeGib": 20}), Q7
        ),
        [],
    ),
    "32768": (lambda: rules_cloud.check_disk_limits(settings(modelDisk={"sizeGib": 32768}), Q7), []),
    "derived above the limit": (
        lambda: rules_cloud.check_disk_limits(
            settings(), catalog.ModelSpec(**{**Q7.__dict__, "weight_bytes": 32768 * catalog.GIB})
        ),
        [
            "llm:modelDisk.sizeGib: above the disk size limit (derived from the model: set modelDisk.sizeGib) (got 41010; allowed <= 32768)"
        ],
    ),
    # command timeouts: sync = 3600 + download <= 86400; serve = 3600 + download (+ 1800) + 2 x startup <= 86400
    "sync 86401": (
        lambda: rules_cloud.check_command_timeouts(settings(downloadTimeoutS=82801), Q7),
        [
            f"llm:downloadTimeoutS: the model sync command's timeout (bootstrap wait 3600 + download 82801 = 86401 s) exceeds {MAXC}: lower downloadTimeoutS (got 82801; allowed <= 82800)"
        ],
    ),
    "sync 86400, serve over": (
        lambda: rules_cloud.check_command_timeouts(settings(downloadTimeoutS=82800, vllm={"startupTimeoutS": 1}), Q7),
        [
            f"llm:downloadTimeoutS: the serve command's timeout (bootstrap wait 3600 + download 82800 + Ray wait 0 + 2 x startup 1 = 86402 s) exceeds {MAXC}: lower downloadTimeoutS (got 82800; allowed <= 82798)"
        ],
    ),
    "serve 86400": (
        lambda: rules_cloud.check_command_timeouts(
            settings(downloadTimeoutS=3600, vllm={"startupTimeoutS": 39600}), Q7
        ),
        [],
    ),
    "serve 86402 names startup": (
        lambda: rules_cloud.check_command_timeouts(
            settings(downloadTimeoutS=3600, vllm={"startupTimeoutS": 39601}), Q7
        ),
        [
            f"llm:vllm.startupTimeoutS: the serve command's timeout (bootstrap wait 3600 + download 3600 + Ray wait 0 + 2 x startup 39601 = 86402 s) exceeds {MAXC}: lower vllm.startupTimeoutS (got 39601; allowed <= 39600 with a download bound of 3600 s)"
        ],
    ),
    "serve over, only download given": (
        lambda: rules_cloud.check_command_timeouts(settings(downloadTimeoutS=80000), Q7),
        [
            f"llm:downloadTimeoutS: the serve command's timeout (bootstrap wait 3600 + download 80000 + Ray wait 0 + 2 x startup 3600 = 90800 s) exceeds {MAXC}: lower downloadTimeoutS (got 80000; allowed <= 75600)"
        ],
    ),
    "cluster serve 86400": (
        lambda: rules_cloud.check_command_timeouts(
            settings("prod", downloadTimeoutS=3600, vllm={"startupTimeoutS": 38700}), R1
        ),
        [],
    ),
    "cluster serve 86402": (
        lambda: rules_cloud.check_command_timeouts(
            settings("prod", downloadTimeoutS=3600, vllm={"startupTimeoutS": 38701}), R1
        ),
        [
            f"llm:vllm.startupTimeoutS: the serve command's timeout (bootstrap wait 3600 + download 3600 + Ray wait 1800 + 2 x startup 38701 = 86402 s) exceeds {MAXC}: lower vllm.startupTimeoutS (got 38701; allowed <= 38700 with a download bound of 3600 s)"
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rule_edge_and_full_text(case):
    check, expected = CASES[case]
    assert text(check()) == expected


def test_download_timeout_formula():
    # weights / 100 MB/s x 2 + 1800 s, at least 3600 s; the setting wins
    assert rules.download_timeout_s(settings(), Q7) == 3600  # 304 + 1800 < 3600
    assert rules.download_timeout_s(settings(), L70) == 2824 + 1800
    assert rules.download_timeout_s(settings(), R1) == 13771 + 1800
    assert rules.download_timeout_s(settings(downloadTimeoutS=60), R1) == 60


def test_derivations():
    assert rules.vswitch_cidr(settings(**_net(vpcCidr="10.0.0.0/16"))) == "10.0.0.0/24"
    assert rules.vswitch_cidr(settings(**_net(vpcId="v", vswitchId="s", existingVpcCidr="10.0.0.0/8"))) is None
    assert rules.nodes(settings("prod")) == 2 and rules.nodes(settings()) == 1
    assert rules.pipeline_parallel(settings("prod")) == 2 and rules.pipeline_parallel(settings()) == 1
    assert rules.tensor_parallel(settings(), Q7, A10X4) == 4
    assert rules.tensor_parallel(settings(vllm={"tensorParallelSize": 2}), Q7, A10X4) == 2
    assert rules.max_model_len(settings(vllm={"maxModelLen": None}), Q7) == 32768
    assert rules.disk_size_gib(settings(), L70) == 215
    assert rules.disk_size_gib(settings(modelDisk={"sizeGib": 300}), L70) == 300
    assert rules.nccl_env(settings()) == {}
    assert rules.nccl_env(settings("prod", cluster={"ncclEnv": {"NCCL_X": "1"}}))["NCCL_X"] == "1"
    assert rules.reasoning_parser(settings(vllm={"reasoningParser": "none"}), Q7) is None
    assert rules.reasoning_parser(settings(), Q7) == "deepseek_r1"


def test_allowlist_every_problem_with_its_text():
    got = text(
        rules.check_allowlist("k", ["0.0.0.0/0", "bad", "10.0.0.1/24", "10.0.0.0/8", "10.1.0.0/16", "::/0", "fd00::/8"])
    )
    assert got == [
        "llm:k[0]: opens the port to the whole internet (got '0.0.0.0/0'; allowed a narrower range)",
        "llm:k[1]: not a valid CIDR (got 'bad'; allowed e.g. 203.0.113.0/24)",
        "llm:k[2]: not a valid CIDR (got '10.0.0.1/24'; allowed e.g. 203.0.113.0/24)",
        "llm:k[5]: opens the port to the whole internet (got '::/0'; allowed a narrower range)",
        "llm:k: CIDRs overlap (got '0.0.0.0/0 and 10.0.0.0/8'; allowed disjoint ranges)",
        "llm:k: CIDRs overlap (got '0.0.0.0/0 and 10.1.0.0/16'; allowed disjoint ranges)",
        "llm:k: CIDRs overlap (got '10.0.0.0/8 and 10.1.0.0/16'; allowed disjoint ranges)",
        "llm:k: CIDRs overlap (got '::/0 and fd00::/8'; allowed disjoint ranges)",
    ]
    assert rules.check_allowlist("k", ["10.0.0.0/24", "10.0.1.0/24", "fd00::/8", "0.0.0.0/1"][:3]) == []


def test_instance_spec_text():
    s = settings(instanceType="ecs.nope")
    assert text(rules.instance_spec(s)[1]) == [
        f"llm:instanceType: unknown GPU instance type (got 'ecs.nope'; allowed {', '.join(TYPES)})"
    ]
    assert text(rules.instance_spec(settings(mode="acs", instanceType=None))[1]) == [
        "llm:instanceType: required in mode acs (allowed a GPU ECS instance type)"
    ]
    assert rules.instance_spec(settings()) == (A10, [])


def test_model_spec_text():
    assert text(rules.model_spec(settings(model="gpt-5"))[1]) == [
        f"llm:model: unknown model (got 'gpt-5'; allowed {', '.join(MODELS)})"
    ]
    assert text(rules.model_spec(settings(model=None))[1]) == [
        f"llm:model: required: a catalog key or `customModel` (allowed {', '.join(MODELS)})"
    ]
    assert rules.model_spec(settings()) == (Q7, [])
