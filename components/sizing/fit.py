"""Sizing rules on the catalog: what a model needs in GPU memory and disk, what fits where.

Pure functions. The allowance per GPU is a planning figure, not a measurement.
"""

from __future__ import annotations

from components.sizing.catalog import GIB, INSTANCE_TYPES, InstanceSpec, ModelSpec

# Per-GPU memory vLLM needs besides weights and KV cache (CUDA context, activations, graphs).
# A planning allowance, not a measurement.
OVERHEAD_PER_GPU_BYTES = 2 * GIB


def attention_head_divisors(heads: int, limit: int) -> list[int]:
    return [d for d in range(1, min(heads, limit) + 1) if heads % d == 0]


def default_tensor_parallel(model: ModelSpec, gpus: int) -> int:
    """Largest divisor of the model's attention heads that fits the GPUs of one node."""
    return max(attention_head_divisors(model.attention_heads, gpus))


def memory_needed(model: ModelSpec, max_model_len: int, gpus_used: int) -> int:
    """Weights + one full-length sequence of KV cache + per-GPU overhead, in bytes."""
    return model.weight_bytes + model.kv_bytes_per_token * max_model_len + OVERHEAD_PER_GPU_BYTES * gpus_used


def memory_available(inst: InstanceSpec, gpus_used: int, utilization: float, nodes: int = 1) -> int:
    return int(inst.gpu_memory_gib * GIB * gpus_used * nodes * utilization)


def fits(model: ModelSpec, inst: InstanceSpec, max_model_len: int, utilization: float, tp: int, nodes: int = 1) -> bool:
    return memory_needed(model, max_model_len, tp * nodes) <= memory_available(inst, tp, utilization, nodes)


def types_that_fit(
    model: ModelSpec, max_model_len: int, utilization: float, nodes: int = 1, erdma_only: bool = False
) -> list[str]:
    """Instance types on which the model fits with the default tensor parallel size, smallest first."""
    out = []
    for inst in sorted(INSTANCE_TYPES.values(), key=lambda i: (i.gpus * i.gpu_memory_gib, i.name)):
        if erdma_only and not inst.erdma:
            continue
        tp = default_tensor_parallel(model, inst.gpus)
        if fits(model, inst, max_model_len, utilization, tp, nodes):
            out.append(inst.name)
    return out


def disk_size_gib(model: ModelSpec) -> int:
    """Model disk: the weights, room for a second revision's download of a quarter, and 50 GiB slack.

    Ray's DeepSeek guide asks for at least 720 GB free per node for the 671B model (FACTS.md).
    """
    weights_gib = model.weight_bytes / GIB
    return max(100, int(weights_gib * 1.25 + 50 + 0.999))
