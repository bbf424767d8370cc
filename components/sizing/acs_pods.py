"""ACS GPU pods: the model series ACS offers, pod shapes per GPU count, and what fits in a group.

Figures and where they come from (FACTS.md, "ACS and Kubernetes"):
- GPU model series and their memory: ACS GPU pod docs (GU8TF 96 GB, GU8TEF 141 GB, L20 48 GB);
  L20X, A10 and T4 figures and every GPU count per pod other than GU8TF 1 and 8 are unverified.
- vCPU/memory per GPU count: GU8TF 1 GPU takes 2-16 vCPU at 1-8 GiB per vCPU, or 22 vCPU;
  8 GPUs take 64 vCPU (64-512 GiB), 128 vCPU (<= 920 GiB) or 184 vCPU. Defaults follow the seed
  (1 GPU: 16 vCPU / 128 GiB; 8 GPUs: 64 vCPU / 512 GiB); other counts scale the seed's ratio
  (unverified).
"""

from __future__ import annotations

from dataclasses import dataclass

from components.sizing.catalog import GIB, ModelSpec
from components.sizing.fit import memory_needed


@dataclass(frozen=True)
class GpuSeries:
    name: str
    memory_gib: int  # per GPU
    counts: tuple[int, ...]  # GPUs per pod ACS offers
    verified: bool  # memory and counts checked against a primary source


GPU_SERIES: dict[str, GpuSeries] = {
    s.name: s
    for s in (
        GpuSeries("GU8TF", 96, (1, 2, 4, 8), verified=True),  # 2 and 4: unverified
        GpuSeries("GU8TEF", 141, (1, 2, 4, 8), verified=False),
        GpuSeries("L20", 48, (1, 2, 4, 8), verified=False),
        GpuSeries("L20X", 141, (1, 2, 4, 8), verified=False),
        GpuSeries("A10", 24, (1, 2, 4, 8), verified=False),
        GpuSeries("T4", 16, (1, 2, 4), verified=False),
    )
}
# Default vCPU / GiB per GPU count (seed: 1 GPU 16/128, 8 GPUs 64/512; 2 and 4 unverified).
DEFAULT_SHAPE = {1: (16, 128), 2: (32, 256), 4: (64, 512), 8: (64, 512)}

# A derived layout leaves at least this share of the usable GPU memory to the KV cache, so that
# more than one sequence runs at a time: DeepSeek-R1 on 8 x GU8TF would fit one pod with ~30 GiB
# of KV cache; it gets the seed's 2 pods x 8 GPUs instead. Explicit settings need only fit.
KV_HEADROOM = 0.2


def shape_problem(series: str, gpus: int, cpu: int, memory_gib: int) -> str | None:
    """Why ACS would refuse this pod shape, where the documented rules (GU8TF) say so."""
    if series != "GU8TF":
        return None  # no documented rule: ACS decides at scheduling time
    if gpus == 1:
        if cpu == 22 or (2 <= cpu <= 16 and cpu <= memory_gib <= 8 * cpu):
            return None
        return "GU8TF with 1 GPU takes 2-16 vCPU at 1-8 GiB per vCPU, or 22 vCPU"
    if gpus == 8:
        limits = {64: (64, 512), 128: (64, 920), 184: (64, 1840)}
        lo_hi = limits.get(cpu)
        if lo_hi and lo_hi[0] <= memory_gib <= lo_hi[1]:
            return None
        return "GU8TF with 8 GPUs takes 64 vCPU (64-512 GiB), 128 vCPU (<= 920 GiB) or 184 vCPU"
    return None


def group_fits(model: ModelSpec, max_len: int, util: float, series: GpuSeries, gpus: int, pods: int) -> bool:
    need = memory_needed(model, max_len, gpus * pods)
    return need <= int(series.memory_gib * GIB * gpus * pods * util)


def group_roomy(model: ModelSpec, util: float, series: GpuSeries, gpus: int, pods: int) -> bool:
    return model.weight_bytes <= (1 - KV_HEADROOM) * series.memory_gib * GIB * gpus * pods * util
