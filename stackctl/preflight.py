"""`python -m stackctl preflight`: check the stack against the real account before `pulumi up`.

Read-only, with the deployer's own credentials (Alibaba Cloud's default credential chain, as
`stackctl logs`). Every check is a row: ok, problem (with the reason) or skipped (with the
reason); all checks run, every problem is shown at once. Exit 0 when nothing is a problem.

1. config: the same validation as `plan` (Pulumi.yaml defaults merged, every `llm:` rule);
   a config error skips the cloud checks.
2. ECS (ecs modes; acs: the jump host type): the type is offered with stock in the zone for the
   charge type (DescribeAvailableResource), its GPU count, GPU memory, eRDMA and NVMe facts agree
   with the catalog (DescribeInstanceTypes), the OS image the program would choose resolves
   (DescribeImages), the model disk category is offered (DescribeAvailableResource DataDisk),
   the vCPUs fit the account's quota (DescribeAccountAttributes), and RunInstances with
   DryRun=true answers DryRunOperation (permission, stock and quota together).
3. OSS: the weights bucket is in the source region, the prefix lists, `config.json` and the
   safetensors index (or a single `model.safetensors`) exist, the shard count and total size
   agree with the catalog where it knows them, and every shard the index names is there.
4. Registry, quotas (Quotas API, by quota action code), ACS (cluster version for profile Acs):
   where no API answers, skipped with the reason.

Nothing is created, changed or deleted: every call is a Describe/List/Get, or RunInstances with
DryRun=true (tests/tools/test_preflight.py wraps the clients and asserts it).

Exit codes: 0 no problem; 1 some check is a problem; 2 usage (stack file missing); 3 no credentials.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_NO_CREDENTIALS = 3

OK, PROBLEM, SKIPPED = "ok", "problem", "skipped"
PROJECT_DIR = Path(__file__).resolve().parent.parent
INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
MAX_LIST_PAGES = 20  # 1,000 keys a page: far more files than any model prefix holds
MAX_INDEX_BYTES = 16 * 1024 * 1024
# The instance as gpu_node.py declares it: system disk category and size (GiB).
SYSTEM_DISK = ("cloud_essd", 100)
# DescribeAvailableResource: a resource is offered with stock when Status is Available; its
# StatusCategory WithStock / ClosedWithStock (WithoutStock: sold out).
IN_STOCK = {"WithStock", "ClosedWithStock"}
# What the stack creates that a quota could stop: (quota name, how many for a plan).
QUOTA_NEEDS: dict[str, Callable[[Any], int]] = {
    "eip": lambda p: 1 if p.public and p.settings.mode != "acs" else 0,
    "nat": lambda p: 1 if p.settings.network.egress == "nat" and not p.settings.network.vpc_id else 0,
    "clb": lambda p: (1 + int(p.public)) if p.settings.mode == "acs" else 0,
}

# (service, region, credential) -> SDK client; service: "ecs" | "oss" | "quotas" | "cs"
ClientFactory = Callable[[str, str, Any], Any]
CredentialFactory = Callable[[], Any]


class NoCredentials(Exception):
    pass


@dataclass
class Row:
    check: str
    status: str
    detail: str


def default_credential() -> Any:
    from stackctl.logs import NoCredentials as LogsNoCredentials
    from stackctl.logs import default_credential as logs_credential

    try:
        return logs_credential()
    except LogsNoCredentials as e:
        raise NoCredentials(str(e)) from None


def default_client_factory(service: str, region: str, credential: Any) -> Any:
    if service == "oss":
        import alibabacloud_oss_v2 as oss

        def creds() -> Any:
            c = credential.get_credential()
            return oss.credentials.Credentials(c.access_key_id, c.access_key_secret, c.security_token or None)

        cfg = oss.config.load_default()
        cfg.credentials_provider = oss.credentials.CredentialsProviderFunc(creds)
        cfg.region = region
        return oss.Client(cfg)
    from alibabacloud_tea_openapi.utils_models import Config

    config = Config(credential=credential, region_id=region)
    if service == "ecs":
        from alibabacloud_ecs20140526.client import Client as Ecs

        return Ecs(config)
    if service == "quotas":
        from alibabacloud_quotas20200510.client import Client as Quotas

        return Quotas(config)
    if service == "cs":
        from alibabacloud_cs20151215.client import Client as Cs

        return Cs(config)
    raise ValueError(service)


def error_text(e: BaseException) -> str:
    """`Code: first line of the message` of a Tea/Dara or OSS error."""
    inner = e.unwrap() if hasattr(e, "unwrap") and callable(e.unwrap) else None  # OSS OperationError
    src: Any = inner if inner is not None and getattr(inner, "code", None) else e
    code = getattr(src, "code", None) or type(src).__name__
    text = str(getattr(src, "message", None) or src)
    return f"{code}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def error_code(e: BaseException) -> str | None:
    inner = e.unwrap() if hasattr(e, "unwrap") and callable(e.unwrap) else None
    return getattr(inner, "code", None) or getattr(e, "code", None)


# -- config ------------------------------------------------------------------------------------


def load_plan(stack_file: Path, project_dir: Path = PROJECT_DIR) -> tuple[Any, list[str]]:
    """(plan, []) or (None, problem lines): the validation `plan` runs (planner/config.py)."""
    from pulumi.runtime.config import set_all_config

    from components.config.load import resolve_engine_config
    from components.config.problems import ConfigError
    from planner.config import merged_config

    cfg, secret_keys = merged_config(project_dir, stack_file)
    set_all_config(cfg, secret_keys)
    try:
        return resolve_engine_config(), []
    except ConfigError as e:
        return None, [str(p) for p in e.problems]


# -- the checks --------------------------------------------------------------------------------


class Preflight:
    def __init__(self, plan: Any, factory: ClientFactory, credential: Any, quota_codes: dict[str, str]) -> None:
        self.plan = plan
        self.s = plan.settings
        self.region = self.s.region
        self.factory = factory
        self.credential = credential
        self.quota_codes = quota_codes
        self.rows: list[Row] = []
        self._clients: dict[tuple[str, str], Any] = {}
        self.type_facts: dict[str, Any] = {}  # instance type -> DescribeInstanceTypes row
        self.image_id: str | None = None

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = self.factory(service, key[1], self.credential)
        return self._clients[key]

    def add(self, check: str, status: str, detail: str) -> None:
        self.rows.append(Row(check, status, detail))

    def guarded(self, check: str, fn: Callable[[], None]) -> None:
        """Run one check; an API error is that check's problem, the others still run."""
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - Tea/Dara and OSS errors share no base we can rely on
            self.add(check, PROBLEM, f"API error: {error_text(e)}")

    def run(self) -> list[Row]:
        ecs = self.s.mode != "acs"
        # acs: the only ECS instance is the jump host.
        t: str = self.s.instance_type if ecs else self.s.acs.jump_host_instance_type
        self.guarded(f"offered: {t}", partial(self.check_offered, t))
        self.guarded(f"type facts: {t}", partial(self.check_type_facts, t))
        if ecs:
            self.guarded("OS image", partial(self.check_image, t))
            self.guarded("model disk", self.check_disk_offered)
        self.guarded("vCPU quota", partial(self.check_vcpu_quota, t, self.plan.nodes if ecs else 1))
        if ecs:
            self.guarded("dry run: RunInstances", partial(self.check_run_instances_dry_run, t))
            self.add("dry run: CreateDisk", SKIPPED,
                     "CreateDisk takes no DryRun parameter (ECS API, SDK 7.11.8); the disk category is "
                     "checked by DescribeAvailableResource above")  # fmt: skip
        self.add("other permissions", SKIPPED,
                 "RAM has no policy simulator: VPC, NAT, RAM, OOS, Cloud Assistant rights show only at "
                 "`pulumi up` (docs/deployer-policy.json lists them)")  # fmt: skip
        self.guarded("weights: bucket", self.check_bucket)
        self.check_registry()
        for name in QUOTA_NEEDS:
            self.guarded(f"quota: {name}", partial(self.check_quota, name))
        if not ecs:
            self.add("ACS GPU series", SKIPPED,
                     f"no API found that lists the ACS GPU model series ({self.plan.series.name}) offered per "
                     "zone; the pod schedules or stays Pending at `pulumi up`")  # fmt: skip
            self.guarded("ACS cluster version", self.check_acs_version)
        return self.rows

    # -- ECS ------------------------------------------------------------------------------

    def _charge(self) -> tuple[str, str]:
        b = self.s.billing
        return b.charge_type, ("SpotAsPriceGo" if b.spot else "NoSpot")

    def check_offered(self, instance_type: str) -> None:
        from alibabacloud_ecs20140526 import models

        charge, spot = self._charge()
        req = models.DescribeAvailableResourceRequest(
            region_id=self.region, zone_id=self.s.zone_id, destination_resource="InstanceType",
            instance_type=instance_type, instance_charge_type=charge,
            spot_strategy=spot if charge == "PostPaid" else None,
        )  # fmt: skip
        where = f"zone {self.s.zone_id}, {charge}" + (" spot" if spot != "NoSpot" else "")
        status = self._supported(self.client("ecs").describe_available_resource(req), instance_type)
        if status is None:
            self.add(f"offered: {instance_type}", PROBLEM, f"{instance_type} is not offered in {where}")
        elif status != "ok":
            self.add(f"offered: {instance_type}", PROBLEM, f"{instance_type} in {where}: {status}")
        else:
            self.add(f"offered: {instance_type}", OK, f"offered with stock in {where}")

    def _supported(self, resp: Any, value: str) -> str | None:
        """'ok', a reason it is not in stock, or None when the zone does not list it."""
        body = resp.body if resp else None
        zones = body.available_zones.available_zone if body and body.available_zones else None
        for zone in zones or []:
            if zone.zone_id != self.s.zone_id:
                continue
            for res in (zone.available_resources.available_resource or []) if zone.available_resources else []:
                for sup in (res.supported_resources.supported_resource or []) if res.supported_resources else []:
                    if sup.value != value:
                        continue
                    if sup.status == "Available" and (sup.status_category in IN_STOCK or not sup.status_category):
                        return "ok"
                    return f"no stock (Status {sup.status}, StatusCategory {sup.status_category})"
        return None

    def _describe_type(self, instance_type: str) -> Any:
        if instance_type not in self.type_facts:
            from alibabacloud_ecs20140526 import models

            req = models.DescribeInstanceTypesRequest(instance_types=[instance_type])
            resp = self.client("ecs").describe_instance_types(req)
            rows = resp.body.instance_types.instance_type if resp.body and resp.body.instance_types else []
            self.type_facts[instance_type] = next((r for r in rows or [] if r.instance_type_id == instance_type), None)
        return self.type_facts[instance_type]

    def check_type_facts(self, instance_type: str) -> None:
        from components.sizing.catalog import INSTANCE_TYPES

        check = f"type facts: {instance_type}"
        row = self._describe_type(instance_type)
        if row is None:
            self.add(check, PROBLEM, f"DescribeInstanceTypes does not know {instance_type}")
            return
        spec = INSTANCE_TYPES.get(instance_type)
        if spec is None:
            self.add(check, SKIPPED, f"{instance_type} is not in the catalog: nothing to compare "
                                     f"(API: {row.gpuamount or 0} GPUs, {row.cpu_core_count} vCPUs)")  # fmt: skip
            return
        api_nvme = (row.nvme_support or "").lower() == "required"
        api_erdma = (row.eri_quantity or 0) > 0
        gpu_mem = row.gpumemory_size
        pairs = [
            ("GPU count", spec.gpus, row.gpuamount or 0),
            ("GPU memory GiB", spec.gpu_memory_gib, None if gpu_mem is None else round(float(gpu_mem))),
            ("eRDMA (EriQuantity > 0)", spec.erdma, api_erdma),
            ("NVMe (NvmeSupport required)", spec.nvme, api_nvme),
        ]
        wrong = [f"{what}: catalog {ours}, API {theirs}" for what, ours, theirs in pairs
                 if theirs is not None and ours != theirs]  # fmt: skip
        if wrong:
            self.add(
                check, PROBLEM, "components/sizing/catalog.py disagrees with DescribeInstanceTypes: " + "; ".join(wrong)
            )
        else:
            self.add(check, OK, f"{spec.gpus} x {spec.gpu_memory_gib} GiB, eRDMA {spec.erdma}, NVMe {spec.nvme}")

    def check_image(self, instance_type: str) -> None:
        from alibabacloud_ecs20140526 import models

        from components.common.images import ALINUX3_FAMILY, ALINUX3_UEFI_REGEX

        ecs = self.client("ecs")
        if self.s.image_id:
            req = models.DescribeImagesRequest(
                region_id=self.region, image_id=self.s.image_id, instance_type=instance_type
            )
            found = _images(ecs.describe_images(req))
            if found:
                self.image_id = found[0].image_id
                self.add("OS image", OK, f"llm:imageId {self.s.image_id} exists in {self.region} for {instance_type}")
            else:
                self.add(
                    "OS image", PROBLEM, f"llm:imageId {self.s.image_id} not found in {self.region} for {instance_type}"
                )
            return
        if self.plan.instance.uefi:
            req = models.DescribeImagesRequest(
                region_id=self.region, image_owner_alias="system", instance_type=instance_type,
                image_name="aliyun_3", page_size=100,
            )  # fmt: skip
            found = [i for i in _images(ecs.describe_images(req)) if re.match(ALINUX3_UEFI_REGEX, i.image_name or "")]
            what = f"a system image named {ALINUX3_UEFI_REGEX}"
        else:
            req = models.DescribeImagesRequest(
                region_id=self.region, image_owner_alias="system", instance_type=instance_type,
                image_family=ALINUX3_FAMILY, page_size=10,
            )  # fmt: skip
            found = _images(ecs.describe_images(req))
            what = f"image family {ALINUX3_FAMILY}"
        if not found:
            self.add("OS image", PROBLEM, f"no {what} for {instance_type} in {self.region}; set llm:imageId")
            return
        newest = max(found, key=lambda i: i.creation_time or "")
        self.image_id = newest.image_id
        self.add("OS image", OK, f"{what}: {newest.image_id} ({newest.image_name})")

    def check_disk_offered(self) -> None:
        from alibabacloud_ecs20140526 import models

        category = self.s.model_disk.category
        req = models.DescribeAvailableResourceRequest(
            region_id=self.region, zone_id=self.s.zone_id, destination_resource="DataDisk",
            resource_type="disk", data_disk_category=category,
        )  # fmt: skip
        status = self._supported(self.client("ecs").describe_available_resource(req), category)
        if status == "ok":
            self.add("model disk", OK, f"{category} offered in {self.s.zone_id}")
        else:
            self.add("model disk", PROBLEM, f"{category} in {self.s.zone_id}: {status or 'not offered'}")

    def check_vcpu_quota(self, instance_type: str, count: int) -> None:
        from alibabacloud_ecs20140526 import models

        charge, spot = self._charge()
        if charge != "PostPaid":
            self.add(
                "vCPU quota",
                SKIPPED,
                "ECS reports vCPU quotas for pay-as-you-go and spot only (DescribeAccountAttributes)",
            )
            return
        kind = "spot" if spot != "NoSpot" else "postpaid"
        row = self._describe_type(instance_type)
        if row is None or not row.cpu_core_count:
            self.add("vCPU quota", SKIPPED, f"vCPUs of {instance_type} unknown (DescribeInstanceTypes)")
            return
        need = int(row.cpu_core_count) * count
        names = [f"max-{kind}-instance-vcpu-count", f"used-{kind}-instance-vcpu-count"]
        req = models.DescribeAccountAttributesRequest(region_id=self.region, attribute_name=names)
        values = _account_attributes(self.client("ecs").describe_account_attributes(req))
        if names[0] not in values:
            self.add("vCPU quota", SKIPPED, f"the account reports no {names[0]}")
            return
        limit, used = values[names[0]], values.get(names[1], 0)
        if used + need > limit:
            self.add("vCPU quota", PROBLEM, f"{count} x {instance_type} need {need} vCPUs; {kind} quota {limit}, "
                                            f"used {used}: {limit - used} left (raise it in the Quota Center)")  # fmt: skip
        else:
            self.add("vCPU quota", OK, f"need {need} {kind} vCPUs; quota {limit}, used {used}")

    def check_run_instances_dry_run(self, instance_type: str) -> None:
        from alibabacloud_ecs20140526 import models

        check = "dry run: RunInstances"
        if not self.image_id:
            self.add(check, SKIPPED, "needs the OS image, which did not resolve")
            return
        ecs = self.client("ecs")
        net = self.s.network
        vswitch = net.vswitch_id
        vpc = net.vpc_id
        if not vswitch:
            vreq = models.DescribeVSwitchesRequest(region_id=self.region, zone_id=self.s.zone_id, page_size=10)
            vresp = ecs.describe_vswitches(vreq)
            found = vresp.body.v_switches.v_switch if vresp.body and vresp.body.v_switches else []
            if not found:
                self.add(check, SKIPPED, f"RunInstances needs a vSwitch and a security group; the account has no "
                                         f"vSwitch in {self.s.zone_id} yet (the stack creates its own)")  # fmt: skip
                return
            vswitch, vpc = found[0].v_switch_id, found[0].vpc_id
        sreq = models.DescribeSecurityGroupsRequest(region_id=self.region, vpc_id=vpc, page_size=10)
        sresp = ecs.describe_security_groups(sreq)
        groups = sresp.body.security_groups.security_group if sresp.body and sresp.body.security_groups else []
        if not groups:
            self.add(check, SKIPPED, f"no security group in VPC {vpc} to dry-run against")
            return
        charge, spot = self._charge()
        b = self.s.billing
        req = models.RunInstancesRequest(
            region_id=self.region, zone_id=self.s.zone_id, instance_type=instance_type, image_id=self.image_id,
            v_switch_id=vswitch, security_group_id=groups[0].security_group_id, amount=self.plan.nodes,
            system_disk=models.RunInstancesRequestSystemDisk(category=SYSTEM_DISK[0], size=str(SYSTEM_DISK[1])),
            internet_max_bandwidth_out=0, instance_charge_type=charge,
            spot_strategy=spot if charge == "PostPaid" else None,
            period=b.period if charge == "PrePaid" else None, period_unit="Month" if charge == "PrePaid" else None,
            dry_run=True,
        )  # fmt: skip
        try:
            ecs.run_instances(req)
        except Exception as e:  # noqa: BLE001
            if error_code(e) == "DryRunOperation":
                self.add(check, OK, f"{self.plan.nodes} x {instance_type} would be created (DryRunOperation; "
                                    f"vSwitch {vswitch})")  # fmt: skip
            else:
                self.add(check, PROBLEM, f"{error_text(e)}")
            return
        self.add(check, PROBLEM, "RunInstances with DryRun=true answered without DryRunOperation")

    # -- OSS ------------------------------------------------------------------------------

    def check_bucket(self) -> None:
        import alibabacloud_oss_v2 as oss

        src = self.s.model_source
        region = src.region or self.region
        client = self.client("oss", region)
        info = client.get_bucket_info(oss.GetBucketInfoRequest(bucket=src.bucket)).bucket_info
        location = getattr(info, "location", None)
        if location and location != f"oss-{region}":
            self.add("weights: bucket", PROBLEM, f"bucket {src.bucket} is in {location}, not oss-{region}")
            return
        self.add("weights: bucket", OK, f"{src.bucket} in {location or region}")
        self.guarded("weights: files", lambda: self.check_files(client, src.bucket, src.prefix))

    def check_files(self, client: Any, bucket: str, prefix: str) -> None:
        import alibabacloud_oss_v2 as oss

        sizes: dict[str, int] = {}
        token = None
        for _ in range(MAX_LIST_PAGES):
            req = oss.ListObjectsV2Request(bucket=bucket, prefix=prefix, max_keys=1000, continuation_token=token)
            page = client.list_objects_v2(req)
            for obj in page.contents or []:
                sizes[obj.key[len(prefix) :]] = int(obj.size or 0)
            token = page.next_continuation_token if page.is_truncated else None
            if not token:
                break
        where = f"oss://{bucket}/{prefix}"
        if not sizes:
            self.add("weights: files", PROBLEM, f"{where} lists nothing (empty, or no oss:ListObjects on it)")
            return
        missing = [f for f in ("config.json",) if f not in sizes]
        if INDEX not in sizes and SINGLE not in sizes:
            missing.append(f"{INDEX} (or a single {SINGLE})")
        if missing:
            self.add("weights: files", PROBLEM, f"{where}: missing {', '.join(missing)}")
            self.add("weights: shards", SKIPPED, "needs the index")
            return
        self.add("weights: files", OK, f"{where}: {len(sizes)} objects, config.json and "
                                       f"{INDEX if INDEX in sizes else SINGLE}")  # fmt: skip
        self.guarded("weights: shards", lambda: self.check_shards(client, bucket, prefix, sizes))

    def check_shards(self, client: Any, bucket: str, prefix: str, sizes: dict[str, int]) -> None:
        import alibabacloud_oss_v2 as oss

        model = self.plan.model
        if INDEX in sizes:
            if sizes[INDEX] > MAX_INDEX_BYTES:
                self.add("weights: shards", PROBLEM, f"{INDEX} is {sizes[INDEX]} bytes: not an index")
                return
            body = client.get_object(oss.GetObjectRequest(bucket=bucket, key=prefix + INDEX)).body
            index = json.loads(_read(body))
            shards = sorted(set((index.get("weight_map") or {}).values()))
            total = (index.get("metadata") or {}).get("total_size")
        else:
            shards, total = [SINGLE], None
        problems = []
        absent = [s for s in shards if s not in sizes]
        if absent:
            problems.append(f"{len(absent)} shard(s) the index names are missing: {', '.join(absent[:5])}")
        if model.shards is not None and len(shards) != model.shards:
            problems.append(f"shard count: catalog {model.shards}, bucket {len(shards)}")
        if model.exact_bytes and total is not None and int(total) != model.weight_bytes:
            problems.append(f"total size: catalog {model.weight_bytes}, index metadata.total_size {int(total)}")
        listed = sum(sizes.get(s, 0) for s in shards)
        if problems:
            self.add("weights: shards", PROBLEM, "; ".join(problems))
        else:
            known = "" if model.shards is not None else " (the catalog does not know the count: not compared)"
            self.add("weights: shards", OK, f"{len(shards)} shard(s), {listed} bytes listed{known}")

    # -- registry, quotas, ACS --------------------------------------------------------------

    def check_registry(self) -> None:
        image = self.plan.vllm_image
        host = image.split("/", 1)[0] if "/" in image else ""
        if re.fullmatch(r"egs-registry\.[a-z0-9-]+\.cr\.aliyuncs\.com", host):
            self.add("vLLM image", SKIPPED, f"{image}: the EGS public registry has no account API to list tags "
                                            "(unverifiable here); the serving phase pulls it at `pulumi up`")  # fmt: skip
        elif host.endswith(".aliyuncs.com"):
            self.add("vLLM image", SKIPPED, f"{image}: an ACR registry; looking up its tag needs the ACR instance ID "
                                            "(cr:ListRepoTag), which the image reference does not carry")  # fmt: skip
        else:
            self.add("vLLM image", SKIPPED, f"{image}: not an Alibaba registry; no account API to ask")

    def check_quota(self, name: str) -> None:
        need = QUOTA_NEEDS[name](self.plan)
        check = f"quota: {name}"
        if need == 0:
            self.add(check, SKIPPED, f"the stack creates no {name.upper()}")
            return
        code = self.quota_codes.get(name)
        if not code:
            self.add(check, SKIPPED, f"no Quotas API quota action code known for {name.upper()} (none found in a "
                                     f"primary source); pass --quota-code {name}=PRODUCT/CODE from the Quota Center")  # fmt: skip
            return
        from alibabacloud_quotas20200510 import models

        product, _, action = code.partition("/")
        req = models.ListProductQuotasRequest(
            product_code=product, quota_action_code=action,
            dimensions=[models.ListProductQuotasRequestDimensions(key="regionId", value=self.region)],
        )  # fmt: skip
        resp = self.client("quotas").list_product_quotas(req)
        rows = resp.body.quotas if resp.body else []
        row = next((q for q in rows or [] if q.quota_action_code == action), None)
        if row is None or row.total_quota is None:
            self.add(check, SKIPPED, f"the Quotas API reports no {code} in {self.region}")
            return
        left = float(row.total_quota) - float(row.total_usage or 0)
        if left < need:
            self.add(check, PROBLEM, f"{code}: need {need}, quota {row.total_quota:g}, used {row.total_usage or 0:g}")
        else:
            self.add(check, OK, f"{code}: need {need}, {left:g} left")

    def check_acs_version(self) -> None:
        from alibabacloud_cs20151215 import models

        want = self.s.acs.kubernetes_version
        req = models.DescribeKubernetesVersionMetadataRequest(
            region=self.region, cluster_type="ManagedKubernetes", profile="Acs"
        )
        resp = self.client("cs").describe_kubernetes_version_metadata(req)
        versions = sorted(v.version for v in resp.body or [] if v.version)
        if want in versions:
            self.add("ACS cluster version", OK, f"{want} offered in {self.region}")
        else:
            self.add("ACS cluster version", PROBLEM,
                     f"llm:acs.kubernetesVersion {want} not offered for profile Acs in {self.region} "
                     f"(offered: {', '.join(versions) or 'none'})")  # fmt: skip


def _images(resp: Any) -> list[Any]:
    body = resp.body if resp else None
    return list(body.images.image or []) if body and body.images else []


def _account_attributes(resp: Any) -> dict[str, int]:
    body = resp.body if resp else None
    items = body.account_attribute_items.account_attribute_item if body and body.account_attribute_items else []
    out: dict[str, int] = {}
    for item in items or []:
        values = item.attribute_values.value_item if item.attribute_values else []
        total = sum(int(v.value) for v in values or [] if v.value not in (None, ""))
        if values:
            out[item.attribute_name] = total
    return out


def _read(body: Any) -> bytes:
    if isinstance(body, (bytes, str)):
        return body.encode() if isinstance(body, str) else body
    if hasattr(body, "read"):
        return body.read()
    return body.content


# -- CLI ---------------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0]
    parser.add_argument("--stack", help="stack name: checks Pulumi.<stack>.yaml")
    parser.add_argument("--config-file", type=Path, help="any other stack file")
    parser.add_argument(
        "--quota-code", action="append", default=[], metavar="NAME=PRODUCT/CODE",
        help=f"Quotas API quota action code for {', '.join(QUOTA_NEEDS)} (repeatable)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")


def _print(rows: Iterable[Row], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    colour = {OK: "green", PROBLEM: "red", SKIPPED: "yellow"}
    table = Table(title=title, show_lines=False)
    for col in ("check", "result", "detail"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r.check, f"[{colour[r.status]}]{r.status}[/{colour[r.status]}]", r.detail)
    Console(width=160).print(table)


def run(
    args: argparse.Namespace,
    client_factory: ClientFactory | None = None,
    credential_factory: CredentialFactory | None = None,
    project_dir: Path = PROJECT_DIR,
) -> int:
    if not args.stack and not args.config_file:
        print("preflight: error: pass --stack NAME or --config-file PATH", file=sys.stderr)
        return EXIT_USAGE
    stack_file = args.config_file or project_dir / f"Pulumi.{args.stack}.yaml"
    codes: dict[str, str] = {}
    for item in args.quota_code or []:
        name, _, code = item.partition("=")
        if name not in QUOTA_NEEDS or "/" not in code:
            print(f"preflight: error: --quota-code {item!r}: want NAME=PRODUCT/CODE, NAME one of "
                  f"{', '.join(QUOTA_NEEDS)}", file=sys.stderr)  # fmt: skip
            return EXIT_USAGE
        codes[name] = code
    from planner.config import PlanConfigError

    try:
        plan, problems = load_plan(stack_file, project_dir)
    except PlanConfigError as e:
        print(f"preflight: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    rows: list[Row]
    if plan is None:
        rows = [Row("config", PROBLEM, "\n".join(problems))]
        rows += [Row(c, SKIPPED, "needs a valid config") for c in ("cloud checks",)]
    else:
        try:
            credential = (credential_factory or default_credential)()
        except NoCredentials as e:
            print("preflight: error: no Alibaba Cloud credentials: looked for ALIBABA_CLOUD_ACCESS_KEY_ID / "
                  "ALIBABA_CLOUD_ACCESS_KEY_SECRET (+ ALIBABA_CLOUD_SECURITY_TOKEN), then OIDC, the aliyun CLI "
                  f"profile, ~/.alibabacloud/credentials.ini and the ECS RAM role [{e}]", file=sys.stderr)  # fmt: skip
            return EXIT_NO_CREDENTIALS
        rows = [Row("config", OK, f"{stack_file.name}: {plan.settings.mode}, {plan.model.key}")]
        rows += Preflight(plan, client_factory or default_client_factory, credential, codes).run()
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2, ensure_ascii=False))
    else:
        _print(rows, f"preflight: {stack_file.name}")
    return EXIT_PROBLEM if any(r.status == PROBLEM for r in rows) else EXIT_OK
