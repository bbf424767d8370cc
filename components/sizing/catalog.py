"""Model and GPU instance catalog (pure data; the sizing rules are in `fit.py`).

Figures and where they come from:
- DeepSeek-R1 / V3 bytes and shard count: the published safetensors index (FACTS.md).
- Other weight sizes are *computed* as parameters x dtype bytes (BF16 = 2) and are not checked
  against the published files (unverified); the sync script checks the real files when the
  catalog knows their count and size, and skips the check where it does not.
- Attention heads, KV heads, layers, head dim, max length: each model's `config.json` on the
  Hugging Face hub (read from memory of the public files: unverified here, no network).
- Instance type names and GPU counts: Alibaba Cloud's page "GPU-accelerated compute-optimized
  instance families" (https://www.alibabacloud.com/help/en/ecs/user-guide/gpu-accelerated-compute-optimized-and-vgpu-accelerated-instance-families-1;
  its text read in the code index, id 59137736427; the URL itself is unverified), tables of gn7i,
  gn8is and gn8v (research/ecs-facts.md Q7). Entries read there carry `verified=True`. The API's
  DescribeInstanceTypes stays authoritative (`stackctl preflight`).
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3
GB = 1000**3


@dataclass(frozen=True)
class ModelSpec:
    key: str
    hf_repo: str
    params_b: float  # billions of parameters
    dtype: str  # "fp8" | "bf16"
    weight_bytes: int
    attention_heads: int
    kv_bytes_per_token: int  # KV cache bytes per token for the whole model (all layers)
    max_model_len: int  # the model's own limit (max_position_embeddings)
    default_max_model_len: int  # what we serve by default
    served_model_name: str
    reasoning_parser: str | None
    shards: int | None = None  # count of *.safetensors files, when known exactly
    exact_bytes: bool = False  # weight_bytes is the published total, not a computation


def _kv_gqa(layers: int, kv_heads: int, head_dim: int, dtype_bytes: int = 2) -> int:
    """K and V per token for grouped-query attention."""
    return 2 * layers * kv_heads * head_dim * dtype_bytes


def _bf16(params_b: float) -> int:
    return int(params_b * 1e9 * 2)


# DeepSeek MLA caches the compressed latent (kv_lora_rank 512 + rope dim 64) per layer, 61 layers.
_MLA_KV = 61 * (512 + 64) * 2

MODELS: dict[str, ModelSpec] = {
    m.key: m
    for m in [
        ModelSpec(
            "deepseek-r1", "deepseek-ai/DeepSeek-R1", 671, "fp8", 688_586_727_753, 128, _MLA_KV,
            163840, 32768, "ds", "deepseek_r1", shards=163, exact_bytes=True,
        ),
        ModelSpec(
            "deepseek-v3", "deepseek-ai/DeepSeek-V3", 671, "fp8", 688_586_727_753, 128, _MLA_KV,
            163840, 32768, "deepseek-v3", None, shards=163, exact_bytes=True,
        ),
        ModelSpec(
            "deepseek-r1-distill-qwen-1.5b", "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", 1.78,
            "bf16", _bf16(1.78), 12, _kv_gqa(28, 2, 128), 131072, 32768,
            "DeepSeek-R1-Distill-Qwen-1.5B", "deepseek_r1",
        ),
        ModelSpec(
            "deepseek-r1-distill-qwen-7b", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", 7.62,
            "bf16", _bf16(7.62), 28, _kv_gqa(28, 4, 128), 131072, 32768,
            "DeepSeek-R1-Distill-Qwen-7B", "deepseek_r1",
        ),
        ModelSpec(
            "deepseek-r1-distill-llama-8b", "deepseek-ai/DeepSeek-R1-Distill-Llama-8B", 8.03,
            "bf16", _bf16(8.03), 32, _kv_gqa(32, 8, 128), 131072, 32768,
            "DeepSeek-R1-Distill-Llama-8B", "deepseek_r1",
        ),
        ModelSpec(
            "deepseek-r1-distill-qwen-14b", "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", 14.8,
            "bf16", _bf16(14.8), 40, _kv_gqa(48, 8, 128), 131072, 32768,
            "DeepSeek-R1-Distill-Qwen-14B", "deepseek_r1",
        ),
        ModelSpec(
            "deepseek-r1-distill-qwen-32b", "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", 32.8,
            "bf16", _bf16(32.8), 40, _kv_gqa(64, 8, 128), 131072, 32768,
            "DeepSeek-R1-Distill-Qwen-32B", "deepseek_r1",
        ),
        ModelSpec(
            "deepseek-r1-distill-llama-70b", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B", 70.6,
            "bf16", _bf16(70.6), 64, _kv_gqa(80, 8, 128), 131072, 32768,
            "DeepSeek-R1-Distill-Llama-70B", "deepseek_r1",
        ),
        # QwQ-32B: max_position_embeddings 40960 (131072 only with YaRN scaling): unverified.
        ModelSpec(
            "qwq-32b", "Qwen/QwQ-32B", 32.8, "bf16", _bf16(32.8), 40, _kv_gqa(64, 8, 128),
            40960, 32768, "QwQ-32B", "deepseek_r1",
        ),
    ]
}  # fmt: skip


@dataclass(frozen=True)
class InstanceSpec:
    name: str
    gpus: int
    gpu_memory_gib: int  # per GPU
    gpu_model: str
    erdma: bool = False
    uefi: bool = False  # needs a UEFI image (ebmgn8*)
    nvme: bool = False  # cloud disks attach as NVMe (/dev/nvme*n1), per the family page
    # GPUs joined by NVSwitch (HGX): CUDA needs nvidia-fabricmanager running, same version as the
    # driver (NVIDIA's Fabric Manager guide). Which Alibaba types these are is unverified for the
    # VM types (llm:host.fabricManager overrides: auto | on | off).
    nvswitch: bool = False
    disk_bandwidth_mbps: int | None = None  # cloud-disk bandwidth cap, MB/s, where known
    verified: bool = False  # name and figures checked against a primary source


def _family(prefix: str, sizes: dict[str, int], mem: int, model: str, **kw) -> list[InstanceSpec]:
    return [InstanceSpec(f"ecs.{prefix}{size}", gpus, mem, model, **kw) for size, gpus in sizes.items()]


INSTANCE_TYPES: dict[str, InstanceSpec] = {
    t.name: t
    for t in [
        # gn7i: NVIDIA A10 24 GB, PCIe, no eRDMA (family page table: names and GPU counts).
        *_family(
            "gn7i-",
            {"c8g1.2xlarge": 1, "c16g1.4xlarge": 1, "c32g1.8xlarge": 1, "2x.8xlarge": 2,
             "4x.8xlarge": 4, "8x.16xlarge": 8},
            24, "A10", verified=True,
        ),
        # gn8is: NVIDIA L20 48 GB, PCIe Gen4 (no NVLink), eRDMA, NVMe (family page table).
        *_family(
            "gn8is",
            {".2xlarge": 1, ".4xlarge": 1, "-2x.8xlarge": 2, "-4x.16xlarge": 4, "-8x.32xlarge": 8},
            48, "L20", erdma=True, nvme=True, verified=True,
        ),
        # gn8v: 96 GB HBM3 per GPU, NVLink 900 GB/s, eRDMA, NVMe (family page table). The
        # gn8v-4x.12xlarge and gn8v-8x.24xlarge of the first release do not exist.
        *_family(
            "gn8v",
            {".4xlarge": 1, ".6xlarge": 1, "-2x.8xlarge": 2, "-4x.8xlarge": 4, "-2x.12xlarge": 2,
             "-4x.24xlarge": 4},
            96, "GU8TF", erdma=True, nvme=True, verified=True,
        ),
        # The 8-GPU gn8v VMs: NVLink-connected per the family page; whether they expose NVSwitch
        # (and so need Fabric Manager) is unverified for VM types: nvswitch=True is the cautious
        # guess; the llm:host.fabricManager override (host-setup work) decides per stack.
        *_family(
            "gn8v", {"-8x.16xlarge": 8, "-8x.48xlarge": 8},
            96, "GU8TF", erdma=True, nvme=True, nvswitch=True, verified=True,
        ),
        # Bare metal, 2 eRDMA NICs each, UEFI images only (FACTS.md). ebmgn8v is an HGX host
        # (NVSwitch: Fabric Manager needed, NVIDIA's guide).
        InstanceSpec("ecs.ebmgn8v.48xlarge", 8, 96, "GU8TF", erdma=True, uefi=True, nvme=True, nvswitch=True, verified=True),
        InstanceSpec("ecs.ebmgn8is.32xlarge", 8, 48, "L20", erdma=True, uefi=True, nvme=True, verified=True),
    ]
}  # fmt: skip
