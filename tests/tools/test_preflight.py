"""`stackctl preflight` against stub SDK clients (canned ECS/OSS/Quotas/CS answers); no network."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("alibabacloud_ecs20140526")
pytest.importorskip("alibabacloud_oss_v2")
from alibabacloud_cs20151215 import models as cs_models  # noqa: E402
from alibabacloud_ecs20140526 import models as ecs_models  # noqa: E402
from alibabacloud_quotas20200510 import models as quota_models  # noqa: E402

from components.sizing.catalog import INSTANCE_TYPES, MODELS  # noqa: E402
from stackctl import preflight  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


class ApiError(Exception):
    """What the Tea/Dara SDKs raise: a code and a message."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code, self.message = code, message or code


def resp(cls, body):
    return cls().from_map({"statusCode": 200, "headers": {}, "body": body})


class StubEcs:
    def __init__(self, **kw) -> None:
        self.not_offered: set[str] = kw.get("not_offered", set())
        self.facts: dict = kw.get("facts", {})
        self.no_images = kw.get("no_images", False)
        self.vcpu_max = kw.get("vcpu_max", 10000)
        self.vcpu_used = kw.get("vcpu_used", 0)
        self.dry_run_error = kw.get("dry_run_error", "DryRunOperation")
        self.fail: dict[str, Exception] = kw.get("fail", {})

    def _maybe_fail(self, name):
        if name in self.fail:
            raise self.fail[name]

    def describe_available_resource(self, req):
        self._maybe_fail("describe_available_resource")
        value = req.instance_type if req.destination_resource == "InstanceType" else req.data_disk_category
        sup = [] if value in self.not_offered else [
            {"Value": value, "Status": "Available", "StatusCategory": "WithStock"}
        ]  # fmt: skip
        zone = {"ZoneId": req.zone_id, "Status": "Available", "AvailableResources": {"AvailableResource": [
            {"Type": req.destination_resource, "SupportedResources": {"SupportedResource": sup}}]}}  # fmt: skip
        return resp(ecs_models.DescribeAvailableResourceResponse, {"AvailableZones": {"AvailableZone": [zone]}})

    def describe_instance_types(self, req):
        self._maybe_fail("describe_instance_types")
        rows = []
        for t in req.instance_types:
            spec = INSTANCE_TYPES.get(t)
            row = {"InstanceTypeId": t, "CpuCoreCount": 8}
            if spec:
                row |= {"GPUAmount": spec.gpus, "GPUMemorySize": float(spec.gpu_memory_gib),
                        "EriQuantity": 1 if spec.erdma else 0, "NvmeSupport": "required" if spec.nvme else "unsupported"}  # fmt: skip
            rows.append(row | self.facts)
        return resp(ecs_models.DescribeInstanceTypesResponse, {"InstanceTypes": {"InstanceType": rows}})

    def describe_images(self, req):
        self._maybe_fail("describe_images")
        name = (
            "aliyun_3_x64_20G_uefi_alibase_20250101.vhd" if req.image_name else "aliyun_3_x64_20G_alibase_20250101.vhd"
        )
        images = [] if self.no_images else [
            {"ImageId": "m-old", "ImageName": name, "CreationTime": "2024-01-01T00:00:00Z"},
            {"ImageId": "m-new", "ImageName": name, "CreationTime": "2025-01-01T00:00:00Z"},
        ]  # fmt: skip
        return resp(ecs_models.DescribeImagesResponse, {"Images": {"Image": images}})

    def describe_account_attributes(self, req):
        self._maybe_fail("describe_account_attributes")
        vals = {n: (self.vcpu_max if n.startswith("max-") else self.vcpu_used) for n in req.attribute_name}
        items = [{"AttributeName": n, "AttributeValues": {"ValueItem": [{"Value": str(v)}]}} for n, v in vals.items()]
        return resp(
            ecs_models.DescribeAccountAttributesResponse, {"AccountAttributeItems": {"AccountAttributeItem": items}}
        )

    def describe_vswitches(self, req):
        body = {"VSwitches": {"VSwitch": [{"VSwitchId": "vsw-1", "VpcId": "vpc-1", "ZoneId": req.zone_id}]}}
        return resp(ecs_models.DescribeVSwitchesResponse, body)

    def describe_security_groups(self, req):
        body = {"SecurityGroups": {"SecurityGroup": [{"SecurityGroupId": "sg-1", "VpcId": req.vpc_id}]}}
        return resp(ecs_models.DescribeSecurityGroupsResponse, body)

    def run_instances(self, req):
        raise ApiError(self.dry_run_error, "Request validation has been passed with DryRun flag set.")


def model_files(model_key: str | None, shards: int | None = None, total: int | None = None, index: bool = True):
    """Object key -> size, and the index text, for a prefix holding a model."""
    spec = MODELS[model_key] if model_key else None
    n = shards if shards is not None else ((spec.shards if spec else None) or 2)
    names = [f"model-{i:05d}-of-{n:06d}.safetensors" for i in range(1, n + 1)]
    size = (total if total is not None else (spec.weight_bytes if spec else 4_000_000_000)) // n
    files = {"config.json": 700, **{k: size for k in names}}
    text = json.dumps({"metadata": {"total_size": total if total is not None else (spec.weight_bytes if spec else 0)},
                       "weight_map": {f"layer.{i}": k for i, k in enumerate(names)}})  # fmt: skip
    if index:
        files[preflight.INDEX] = len(text)
    return files, text


class StubOss:
    def __init__(self, files: dict[str, int], index: str, location: str = "oss-cn-hangzhou", prefix: str = "") -> None:
        self.files, self.index, self.location, self.prefix = files, index, location, prefix

    def get_bucket_info(self, req):
        return SimpleNamespace(bucket_info=SimpleNamespace(location=self.location, name=req.bucket))

    def list_objects_v2(self, req):
        contents = [SimpleNamespace(key=req.prefix + k, size=v) for k, v in sorted(self.files.items())]
        return SimpleNamespace(contents=contents, is_truncated=False, next_continuation_token=None)

    def get_object(self, req):
        assert req.key.endswith(preflight.INDEX)
        return SimpleNamespace(body=self.index.encode())


class StubQuotas:
    def __init__(self, total: float = 20, used: float = 0) -> None:
        self.total, self.used = total, used

    def list_product_quotas(self, req):
        body = {
            "Quotas": [{"QuotaActionCode": req.quota_action_code, "TotalQuota": self.total, "TotalUsage": self.used}]
        }
        return resp(quota_models.ListProductQuotasResponse, body)


class StubCs:
    def __init__(self, versions=("1.30.1-aliyunacs.1", "1.31.1-aliyunacs.1")) -> None:
        self.versions = versions

    def describe_kubernetes_version_metadata(self, req):
        assert (req.profile, req.cluster_type) == ("Acs", "ManagedKubernetes")
        return resp(cs_models.DescribeKubernetesVersionMetadataResponse, [{"version": v} for v in self.versions])


class Recorder:
    """Wraps a stub client and records every call's name and request."""

    def __init__(self, inner, calls: list) -> None:
        self._inner, self._calls = inner, calls

    def __getattr__(self, name):
        fn = getattr(self._inner, name)

        def call(req, *a, **kw):
            self._calls.append((name, req))
            return fn(req, *a, **kw)

        return call


def args(stack="dev", **kw) -> argparse.Namespace:
    return argparse.Namespace(**({"stack": stack, "config_file": None, "quota_code": [], "json": True} | kw))


def run_preflight(capsys, a, ecs=None, oss=None, quotas=None, cs=None, model="deepseek-r1-distill-qwen-7b", calls=None):
    files, index = model_files(model)
    clients = {"ecs": ecs or StubEcs(), "oss": oss or StubOss(files, index), "quotas": quotas or StubQuotas(),
               "cs": cs or StubCs()}  # fmt: skip
    calls = [] if calls is None else calls
    seen = []

    def factory(service, region, credential):
        seen.append((service, region, credential))
        return Recorder(clients[service], calls)

    code = preflight.run(a, client_factory=factory, credential_factory=lambda: "cred")
    out, err = capsys.readouterr()
    rows = {r["check"]: r for r in json.loads(out)} if out.strip().startswith("[") else {}
    return code, rows, err, calls, seen


def problems(rows):
    return {k: r["detail"] for k, r in rows.items() if r["status"] == "problem"}


# -- passing stacks ----------------------------------------------------------------------------


def test_a_passing_ecs_single_stack(capsys):
    code, rows, err, calls, seen = run_preflight(capsys, args("dev"))
    assert code == 0, (problems(rows), err)
    t = "ecs.gn7i-c8g1.2xlarge"
    assert rows["config"]["status"] == "ok"
    assert rows[f"offered: {t}"]["status"] == "ok"
    assert rows[f"type facts: {t}"]["status"] == "ok"
    assert rows["OS image"]["detail"].startswith("image family acs:alibaba_cloud_linux_3_2104_lts_x64: m-new")
    assert rows["dry run: RunInstances"]["status"] == "ok"
    assert rows["weights: shards"]["status"] == "ok"
    assert "not compared" in rows["weights: shards"]["detail"]  # the 7B's shard count is not in the catalog
    assert rows["vLLM image"]["status"] == "skipped" and "EGS" in rows["vLLM image"]["detail"]
    assert (
        rows["other permissions"]["status"] == "skipped" and "policy simulator" in rows["other permissions"]["detail"]
    )
    assert rows["quota: nat"]["status"] == "skipped" and "--quota-code nat=" in rows["quota: nat"]["detail"]
    assert {s for s, _, _ in seen} == {"ecs", "oss"}
    assert all(cred == "cred" for _, _, cred in seen)
    # The request fields the checks rely on.
    [avail] = [r for n, r in calls if n == "describe_available_resource" and r.destination_resource == "InstanceType"]
    assert (avail.region_id, avail.zone_id, avail.instance_type) == ("cn-hangzhou", "cn-hangzhou-i", t)
    assert (avail.instance_charge_type, avail.spot_strategy) == ("PostPaid", "NoSpot")
    [img] = [r for n, r in calls if n == "describe_images"]
    assert (img.image_owner_alias, img.instance_type) == ("system", t)
    [dry] = [r for n, r in calls if n == "run_instances"]
    assert dry.dry_run is True and dry.image_id == "m-new" and dry.amount == 1
    assert (dry.v_switch_id, dry.security_group_id, dry.instance_type) == ("vsw-1", "sg-1", t)
    assert (dry.system_disk.category, dry.system_disk.size) == ("cloud_essd", "100")


def test_a_passing_cluster_stack_compares_r1_shards_and_uses_the_uefi_image(capsys):
    code, rows, err, calls, _ = run_preflight(capsys, args("prod"), model="deepseek-r1")
    assert code == 0, (problems(rows), err)
    assert rows["weights: shards"]["detail"].startswith("163 shard(s)")
    assert "uefi" in rows["OS image"]["detail"]
    [dry] = [r for n, r in calls if n == "run_instances"]
    assert dry.amount == 2  # both nodes: the quota and stock of the whole cluster
    [vcpu] = [r for n, r in calls if n == "describe_account_attributes"]
    assert vcpu.attribute_name == ["max-postpaid-instance-vcpu-count", "used-postpaid-instance-vcpu-count"]


def test_a_passing_acs_stack_checks_the_cluster_version(capsys):
    files, index = model_files("qwq-32b")
    oss = StubOss(files, index, location="oss-cn-wulanchabu")
    code, rows, err, _, seen = run_preflight(capsys, args("acs"), oss=oss, model="qwq-32b")
    assert code == 0, (problems(rows), err)
    assert rows["ACS cluster version"]["status"] == "ok"
    assert rows["ACS GPU series"]["status"] == "skipped"
    assert "offered: ecs.g7.large" in rows  # the jump host
    assert ("cs", "cn-wulanchabu", "cred") in seen


# -- each failing check alone ------------------------------------------------------------------


def only_problem(rows) -> tuple[str, str]:
    found = problems(rows)
    assert len(found) == 1, found
    return next(iter(found.items()))


def test_type_not_offered(capsys):
    code, rows, *_ = run_preflight(capsys, args("dev"), ecs=StubEcs(not_offered={"ecs.gn7i-c8g1.2xlarge"}))
    assert code == 1
    check, detail = only_problem(rows)
    assert check == "offered: ecs.gn7i-c8g1.2xlarge"
    assert detail == "ecs.gn7i-c8g1.2xlarge is not offered in zone cn-hangzhou-i, PostPaid"


def test_catalog_disagreement_names_both_values(capsys):
    code, rows, *_ = run_preflight(capsys, args("dev"), ecs=StubEcs(facts={"GPUAmount": 2, "NvmeSupport": "required"}))
    assert code == 1
    check, detail = only_problem(rows)
    assert check == "type facts: ecs.gn7i-c8g1.2xlarge"
    assert "GPU count: catalog 1, API 2" in detail and "NVMe (NvmeSupport required): catalog False, API True" in detail


def test_image_missing(capsys):
    code, rows, *_ = run_preflight(capsys, args("dev"), ecs=StubEcs(no_images=True))
    assert code == 1
    assert problems(rows)["OS image"].startswith("no image family acs:alibaba_cloud_linux_3_2104_lts_x64 for ecs.gn7i")
    assert rows["dry run: RunInstances"]["status"] == "skipped"  # it needs the image


def test_index_missing(capsys):
    files, index = model_files("deepseek-r1-distill-qwen-7b", index=False)
    code, rows, *_ = run_preflight(capsys, args("dev"), oss=StubOss(files, index))
    assert code == 1
    check, detail = only_problem(rows)
    assert check == "weights: files"
    assert detail.endswith("missing model.safetensors.index.json (or a single model.safetensors)")


def test_a_single_safetensors_file_needs_no_index(capsys):
    oss = StubOss({"config.json": 1, "model.safetensors": 3_000_000_000}, "")
    code, rows, *_ = run_preflight(capsys, args("dev"), oss=oss)
    assert code == 0, problems(rows)
    assert rows["weights: shards"]["detail"].startswith("1 shard(s), 3000000000 bytes")


def test_shard_count_wrong(capsys):
    files, index = model_files("deepseek-r1", shards=160, total=MODELS["deepseek-r1"].weight_bytes)
    code, rows, *_ = run_preflight(capsys, args("prod"), oss=StubOss(files, index), model="deepseek-r1")
    assert code == 1
    check, detail = only_problem(rows)
    assert (check, detail) == ("weights: shards", "shard count: catalog 163, bucket 160")


def test_total_size_wrong_and_a_missing_shard(capsys):
    files, index = model_files("deepseek-r1", total=1000 * 163)
    del files["model-00007-of-000163.safetensors"]
    code, rows, *_ = run_preflight(capsys, args("prod"), oss=StubOss(files, index), model="deepseek-r1")
    detail = problems(rows)["weights: shards"]
    assert "1 shard(s) the index names are missing: model-00007-of-000163.safetensors" in detail
    assert "total size: catalog 688586727753, index metadata.total_size 163000" in detail


def test_bucket_in_another_region(capsys):
    files, index = model_files("deepseek-r1-distill-qwen-7b")
    code, rows, *_ = run_preflight(capsys, args("dev"), oss=StubOss(files, index, location="oss-cn-beijing"))
    assert code == 1
    assert only_problem(rows) == ("weights: bucket", "bucket my-llm-weights is in oss-cn-beijing, not oss-cn-hangzhou")


def test_vcpu_quota_short(capsys):
    code, rows, *_ = run_preflight(capsys, args("dev"), ecs=StubEcs(vcpu_max=100, vcpu_used=96))
    assert code == 1
    check, detail = only_problem(rows)
    assert check == "vCPU quota"
    assert detail.startswith("1 x ecs.gn7i-c8g1.2xlarge need 8 vCPUs; postpaid quota 100, used 96: 4 left")


def test_quota_short_through_the_quotas_api(capsys):
    a = args("dev", quota_code=["nat=vpc/q_nat-example"])
    code, rows, _, calls, _ = run_preflight(capsys, a, quotas=StubQuotas(total=5, used=5))
    assert code == 1
    assert only_problem(rows) == ("quota: nat", "vpc/q_nat-example: need 1, quota 5, used 5")
    [req] = [r for n, r in calls if n == "list_product_quotas"]
    assert (req.product_code, req.quota_action_code) == ("vpc", "q_nat-example")
    assert [(d.key, d.value) for d in req.dimensions] == [("regionId", "cn-hangzhou")]


def test_dry_run_error_is_named(capsys):
    ecs = StubEcs(dry_run_error="Forbidden.RAM")
    code, rows, *_ = run_preflight(capsys, args("dev"), ecs=ecs)
    assert code == 1
    check, detail = only_problem(rows)
    assert check == "dry run: RunInstances" and detail.startswith("Forbidden.RAM: ")


def test_acs_version_not_offered(capsys):
    files, index = model_files("qwq-32b")
    oss = StubOss(files, index, location="oss-cn-wulanchabu")
    code, rows, *_ = run_preflight(capsys, args("acs"), oss=oss, cs=StubCs(("1.31.1-aliyunacs.1",)), model="qwq-32b")
    assert code == 1
    check, detail = only_problem(rows)
    assert check == "ACS cluster version"
    assert "1.30.1-aliyunacs.1 not offered for profile Acs in cn-wulanchabu (offered: 1.31.1-aliyunacs.1)" in detail


def test_config_error_lists_the_lines_and_skips_the_cloud(capsys, tmp_path):
    bad = tmp_path / "Pulumi.bad.yaml"
    text = (REPO / "Pulumi.dev.yaml").read_text()
    bad.write_text(
        text.replace("ecs.gn7i-c8g1.2xlarge", "ecs.nope.large").replace("maxModelLen: 32768", "maxModelLen: 0")
    )
    code, rows, _, calls, seen = run_preflight(capsys, args(None, config_file=bad))
    assert code == 1
    lines = rows["config"]["detail"].splitlines()
    assert len(lines) >= 2 and all(line.startswith("llm:") for line in lines)
    assert any("llm:instanceType" in line for line in lines) and any("llm:vllm" in line for line in lines)
    assert rows["cloud checks"]["status"] == "skipped"
    assert calls == [] and seen == []


# -- no credentials, API errors, read-only -----------------------------------------------------


def test_no_credentials_is_one_line(capsys):
    def none():
        raise preflight.NoCredentials("unable to load credentials from any of the providers in the chain")

    called = []
    code = preflight.run(args("dev"), client_factory=lambda *a: called.append(a), credential_factory=none)
    out, err = capsys.readouterr()
    assert code == preflight.EXIT_NO_CREDENTIALS
    assert out == "" and called == []
    assert len(err.strip().splitlines()) == 1
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in err and "Traceback" not in err


def test_no_credentials_from_the_real_chain(monkeypatch, tmp_path, capsys):
    for var in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN",
                "ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "ALIBABA_CLOUD_CREDENTIALS_FILE"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    code = preflight.run(args("dev"), client_factory=lambda *a: pytest.fail("no client without credentials"))
    _, err = capsys.readouterr()
    assert code == 3 and len(err.strip().splitlines()) == 1 and err.startswith("preflight: error: no Alibaba Cloud")


def test_an_api_error_mid_way_is_that_checks_problem_and_the_others_run(capsys):
    ecs = StubEcs(fail={"describe_images": ApiError("Throttling.User", "Request was denied due to user flow control.")})
    code, rows, *_ = run_preflight(capsys, args("dev"), ecs=ecs)
    assert code == 1
    found = problems(rows)
    assert found == {"OS image": "API error: Throttling.User: Request was denied due to user flow control."}
    assert rows["weights: shards"]["status"] == "ok"  # later checks still ran
    assert rows["vCPU quota"]["status"] == "ok"


def test_an_oss_error_is_the_bucket_problem(capsys):
    class Denied(StubOss):
        def get_bucket_info(self, req):
            raise ApiError("AccessDenied", "You have no right to access this object because of bucket acl.")

    files, index = model_files("deepseek-r1-distill-qwen-7b")
    code, rows, *_ = run_preflight(capsys, args("dev"), oss=Denied(files, index))
    assert only_problem(rows) == ("weights: bucket", "API error: AccessDenied: You have no right to access this "
                                                     "object because of bucket acl.")  # fmt: skip


READ_ONLY = re.compile(r"^(describe|list|get|head)", re.IGNORECASE)
DRY_RUN_CALLS = {"run_instances"}


@pytest.mark.parametrize("stack,model", [("dev", "deepseek-r1-distill-qwen-7b"), ("prod", "deepseek-r1")])
def test_every_call_is_read_only_or_a_dry_run(capsys, stack, model):
    calls: list = []
    code, rows, *_ = run_preflight(capsys, args(stack, quota_code=["nat=vpc/q_x", "eip=vpc/q_y"]), model=model,
                                   calls=calls)  # fmt: skip
    assert code == 0, problems(rows)
    assert len(calls) >= 8
    names = {n for n, _ in calls}
    assert {"run_instances", "list_product_quotas", "get_object", "list_objects_v2"} <= names
    for name, req in calls:
        if name in DRY_RUN_CALLS:
            assert req.dry_run is True, name
        else:
            assert READ_ONLY.match(name), f"{name} is neither a read nor a dry run"


def test_the_read_only_check_can_fail():
    assert not READ_ONLY.match("create_disk") and not READ_ONLY.match("delete_instance")
    assert READ_ONLY.match("DescribeImages") and READ_ONLY.match("list_objects_v2")


def test_the_default_client_factory_builds_each_client_offline():
    """The real clients are built (no call is made): the OSS one takes the region and asks the
    credential chain for the key only when it signs (an empty STS token becomes None)."""
    keys = SimpleNamespace(access_key_id="AK", access_key_secret="SK", security_token="")
    cred = SimpleNamespace(get_credential=lambda: keys)
    oss_client = preflight.default_client_factory("oss", "cn-hangzhou", cred)
    opts = oss_client._client._options
    got = opts.credentials_provider.get_credentials()
    assert opts.region == "cn-hangzhou"
    assert (got.access_key_id, got.access_key_secret, got.security_token) == ("AK", "SK", None)
    for service, module in (("ecs", "alibabacloud_ecs20140526"), ("quotas", "alibabacloud_quotas20200510"),
                            ("cs", "alibabacloud_cs20151215")):  # fmt: skip
        client = preflight.default_client_factory(service, "cn-hangzhou", cred)
        assert type(client).__module__ == f"{module}.client" and client._region_id == "cn-hangzhou"
    with pytest.raises(ValueError):
        preflight.default_client_factory("nope", "cn-hangzhou", cred)


def test_registered_as_a_command():
    from stackctl.__main__ import COMMANDS

    assert COMMANDS["preflight"][0] == "stackctl.preflight"
