"""`vllm serve` arguments, exactly, for the example stacks and each switch (mutation target)."""

from __future__ import annotations

import pytest

from components.common.vllm_args import image_vllm_version, serve_args
from components.config.resolve import resolve
from tests import planning as P


def _plan(stack: str = "dev", **changes):
    raw = {k.removeprefix("llm:"): v for k, v in P.with_changes(P.stack_config(stack), **changes).items()}
    return resolve(raw)


def test_dev_exactly():
    assert serve_args(_plan()) == [
        "--served-model-name", "DeepSeek-R1-Distill-Qwen-7B", "--max-model-len", "32768",
        "--gpu-memory-utilization", "0.9", "--tensor-parallel-size", "1", "--enable-chunked-prefill",
        "--enable-reasoning", "--reasoning-parser", "deepseek_r1",
        "--trust-remote-code", "--host", "0.0.0.0", "--port", "8000",
    ]  # fmt: skip


def test_prod_cluster_exactly():
    assert serve_args(_plan("prod")) == [
        "--served-model-name", "ds", "--max-model-len", "32768", "--gpu-memory-utilization", "0.92",
        "--tensor-parallel-size", "8", "--pipeline-parallel-size", "2", "--distributed-executor-backend", "ray",
        "--enable-chunked-prefill", "--enable-reasoning", "--reasoning-parser", "deepseek_r1",
        "--trust-remote-code", "--host", "0.0.0.0", "--port", "8000",
    ]  # fmt: skip


def test_switches_and_extra_args_come_last():
    args = serve_args(
        _plan(vllm={"enableChunkedPrefill": False, "reasoningParser": "none", "extraArgs": ["--max-num-seqs", "8"]})
    )
    assert "--enable-chunked-prefill" not in args and "--reasoning-parser" not in args
    assert "--enable-reasoning" not in args
    assert args[-2:] == ["--max-num-seqs", "8"]
    assert args[-6:-2] == ["--host", "0.0.0.0", "--port", "8000"]


@pytest.mark.parametrize(
    ("image", "enable_flag"),
    [
        ("registry.example.com/vllm/vllm-openai:v0.8.5", True),
        ("registry.example.com/vllm/vllm-openai:v0.9.0", False),
        ("registry.example.com/vllm/vllm-openai:v1.0.1", False),
        ("registry.example.com/vllm/vllm-openai:0.8.9-cu124", True),
        ("registry.example.com/vllm/vllm-openai:nightly-2025", False),  # unknown version: no old flag
    ],
)
def test_enable_reasoning_only_before_0_9(image, enable_flag):
    args = serve_args(_plan(vllm={"image": image}))
    assert ("--enable-reasoning" in args) is enable_flag
    assert args[args.index("--reasoning-parser") + 1] == "deepseek_r1"
    assert args.index("--reasoning-parser") > args.index("--tensor-parallel-size")


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("a.b/c/d:0.8.5-pytorch2.6", (0, 8)),
        ("a.b/c/d:v0.10.2", (0, 10)),
        ("a.b/c/d:12.3", (12, 3)),
        ("host:5000/c/d:v0.9", (0, 9)),
        ("a.b/c/d:v0.8.5@sha256:" + "0" * 64, (0, 8)),  # the tag, not the digest
        ("vllm:0.8.5", (0, 8)),  # no registry or path
        ("a.b/c/d:latest", None),
        ("a.b/c/d", None),
    ],
)
def test_image_vllm_version(image, version):
    assert image_vllm_version(image) == version


def test_utilization_renders_without_trailing_zeros():
    args = serve_args(_plan(vllm={"gpuMemoryUtilization": 0.85}))
    assert args[args.index("--gpu-memory-utilization") + 1] == "0.85"
