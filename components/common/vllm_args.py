"""The `vllm serve` argument list, as a pure function of the plan (every shape)."""

from __future__ import annotations

import re

from components.common.ports import PORT
from components.config.plans import Common

# vLLM 0.9 made `--enable-reasoning` obsolete (the parser alone turns reasoning output on);
# earlier versions need both flags.
_ENABLE_REASONING_BEFORE = (0, 9)


def image_vllm_version(image: str) -> tuple[int, int] | None:
    """vLLM version from an image tag like `0.8.5-pytorch2.6-...` or `v0.9.1`; None if unknown."""
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    m = re.match(r"v?(\d+)\.(\d+)(?:\.\d+)?", tag)
    return (int(m[1]), int(m[2])) if m else None


def serve_args(r: Common) -> list[str]:
    v = r.settings.vllm
    args = [
        "--served-model-name", r.served_model_name,
        "--max-model-len", str(r.max_model_len),
        "--gpu-memory-utilization", f"{v.gpu_memory_utilization:g}",
        "--tensor-parallel-size", str(r.tensor_parallel),
    ]  # fmt: skip
    if r.pipeline_parallel > 1:
        args += ["--pipeline-parallel-size", str(r.pipeline_parallel), "--distributed-executor-backend", "ray"]
    if v.enable_chunked_prefill:
        args.append("--enable-chunked-prefill")
    if r.reasoning_parser:
        version = image_vllm_version(r.vllm_image)
        if version is not None and version < _ENABLE_REASONING_BEFORE:
            args.append("--enable-reasoning")
        args += ["--reasoning-parser", r.reasoning_parser]
    # The API key reaches vLLM as VLLM_API_KEY from a root-only env file, never as an argument.
    args += ["--trust-remote-code", "--host", "0.0.0.0", "--port", str(PORT)]
    return args + list(v.extra_args)
