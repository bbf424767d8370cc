"""Sizing pinned to exact byte counts and boundaries (issue 17: tests that fail when a number is wrong).

Expected figures are computed here from each model's architecture values, not through
`catalog._kv_gqa` or `fit.memory_needed`, so a wrong formula in the code cannot also be the
expected value. Where the values come from (each model's `config.json` on the Hugging Face hub):

- DeepSeek-R1 / V3 (huggingface.co/deepseek-ai/DeepSeek-R1/blob/main/config.json):
  num_hidden_layers 61, kv_lora_rank 512, qk_rope_head_dim 64, max_position_embeddings 163840.
  Seen in a copy of that config.json found with the `search` tool (code corpus, "deepseek-ai/
  DeepSeek-R1 model config": kv_lora_rank 512, max_position_embeddings 163840) and a DeepSeek-V3
  config copy (num_hidden_layers 61, qk_rope_head_dim 64, num_attention_heads 128): third-party
  copies, not the hub file itself: unverified against the published file.
- DeepSeek-R1-Distill-Qwen-7B (Qwen2.5-Math-7B architecture): num_hidden_layers 28,
  num_key_value_heads 4, hidden_size 3584 / num_attention_heads 28 = head dim 128. A layer table
  of Qwen2.5-7B found with `search` shows 28 blocks and k_proj [512, 3584] (4 KV heads x 128):
  third-party, unverified against the published file.
- DeepSeek-R1-Distill-Llama-8B (Llama 3.1 8B): 32 layers, 8 KV heads, head dim 4096 / 32 = 128;
  DeepSeek-R1-Distill-Llama-70B (Llama 3.3 70B): 80 layers, 8 KV heads, head dim 8192 / 64 = 128.
  The oumi recipes' README (search, code corpus) lists these: third-party, unverified.
"""

from __future__ import annotations

import dataclasses

import pytest

from components.sizing import acs_pods, catalog, fit
from components.sizing.acs_pods import GPU_SERIES
from components.sizing.catalog import GIB, INSTANCE_TYPES, MODELS

BF16 = 2  # bytes per value

# (layers, kv_heads, head_dim) from the published config.json files (module docstring).
GQA = {
    "deepseek-r1-distill-qwen-7b": (28, 4, 128),
    "deepseek-r1-distill-llama-8b": (32, 8, 128),
    "deepseek-r1-distill-llama-70b": (80, 8, 128),
}
KV_PER_TOKEN = {  # K and V, every layer: 2 x layers x kv_heads x head_dim x 2 bytes
    "deepseek-r1-distill-qwen-7b": 57_344,
    "deepseek-r1-distill-llama-8b": 131_072,
    "deepseek-r1-distill-llama-70b": 327_680,
    # MLA: one latent of kv_lora_rank 512 + rope 64 per layer, 61 layers, 2 bytes: 61 x 576 x 2
    "deepseek-r1": 70_272,
    "deepseek-v3": 70_272,
}


@pytest.mark.parametrize("key", sorted(GQA))
def test_kv_bytes_per_token_from_the_published_config(key):
    layers, kv_heads, head_dim = GQA[key]
    assert 2 * layers * kv_heads * head_dim * BF16 == KV_PER_TOKEN[key]  # the table is the formula
    assert MODELS[key].kv_bytes_per_token == KV_PER_TOKEN[key]


def test_mla_kv_bytes_per_token():
    assert 61 * (512 + 64) * BF16 == 70_272
    assert MODELS["deepseek-r1"].kv_bytes_per_token == 70_272
    assert MODELS["deepseek-v3"].kv_bytes_per_token == 70_272


def test_kv_gqa_formula_and_default_dtype():
    # one layer, one head, head dim 1: K and V, 2 bytes each (BF16 by default)
    assert catalog._kv_gqa(1, 1, 1) == 4
    assert catalog._kv_gqa(1, 1, 1, 1) == 2
    assert catalog._kv_gqa(3, 5, 7, 4) == 2 * 3 * 5 * 7 * 4


def test_bf16_weight_bytes():
    assert catalog._bf16(7.62) == 15_240_000_000
    assert catalog._bf16(1) == 2_000_000_000
    assert MODELS["deepseek-r1-distill-qwen-7b"].weight_bytes == 15_240_000_000
    assert MODELS["deepseek-r1-distill-llama-70b"].weight_bytes == 141_200_000_000


def test_family_builds_names_and_figures():
    got = catalog._family("gnX-", {"a": 1, "b": 4}, 24, "A10", erdma=True)
    assert got == [
        catalog.InstanceSpec("ecs.gnX-a", 1, 24, "A10", erdma=True),
        catalog.InstanceSpec("ecs.gnX-b", 4, 24, "A10", erdma=True),
    ]
    assert INSTANCE_TYPES["ecs.gn8is-2x.8xlarge"] == catalog.InstanceSpec(
        "ecs.gn8is-2x.8xlarge", 2, 48, "L20", erdma=True, nvme=True, verified=True
    )


# ---------------------------------------------------------------------------------------------
# memory_needed, memory_available, fits


@pytest.mark.parametrize(
    "key, max_len, gpus",
    [
        ("deepseek-r1-distill-qwen-7b", 32768, 1),
        ("deepseek-r1-distill-llama-8b", 4096, 2),
        ("deepseek-r1-distill-llama-70b", 32768, 8),
        ("deepseek-r1", 32768, 16),
    ],
)
def test_memory_needed_exact_bytes(key, max_len, gpus):
    m = MODELS[key]
    expected = m.weight_bytes + KV_PER_TOKEN[key] * max_len + 2 * 1024**3 * gpus
    assert fit.memory_needed(m, max_len, gpus) == expected


def test_memory_needed_literal_figures():
    # 15_240_000_000 weights + 57_344 x 32_768 KV + 2 GiB
    assert (
        fit.memory_needed(MODELS["deepseek-r1-distill-qwen-7b"], 32768, 1)
        == 15_240_000_000 + 1_879_048_192 + 2_147_483_648
    )
    # 688_586_727_753 + 70_272 x 32_768 + 16 x 2 GiB
    assert fit.memory_needed(MODELS["deepseek-r1"], 32768, 16) == 688_586_727_753 + 2_302_672_896 + 34_359_738_368


def test_memory_available_counts_every_gpu_of_every_node():
    a10 = INSTANCE_TYPES["ecs.gn7i-c8g1.2xlarge"]  # 1 x 24 GiB
    assert fit.memory_available(a10, 1, 1.0) == 24 * GIB
    assert fit.memory_available(a10, 1, 0.9) == int(24 * GIB * 0.9) == 23_192_823_398
    l20x8 = INSTANCE_TYPES["ecs.gn8is-8x.32xlarge"]  # 8 x 48 GiB
    assert fit.memory_available(l20x8, 8, 0.5, nodes=3) == 8 * 48 * 3 * GIB // 2
    assert fit.memory_available(l20x8, 4, 1.0) == 4 * 48 * GIB


def _model_at_boundary(inst: catalog.InstanceSpec, tp: int, nodes: int, kv: int, max_len: int, extra: int):
    """A model whose need is exactly the memory of `nodes` x `tp` GPUs at utilization 1, plus `extra` bytes."""
    have = inst.gpu_memory_gib * GIB * tp * nodes
    weights = have - kv * max_len - 2 * GIB * tp * nodes + extra
    return dataclasses.replace(MODELS["deepseek-r1-distill-qwen-7b"], weight_bytes=weights, kv_bytes_per_token=kv)


@pytest.mark.parametrize("tp, nodes", [(1, 1), (4, 1), (2, 3), (8, 2)])
def test_fits_exact_boundary(tp, nodes):
    inst = INSTANCE_TYPES["ecs.gn8is-8x.32xlarge"]
    exact = _model_at_boundary(inst, tp, nodes, kv=1000, max_len=4096, extra=0)
    over = _model_at_boundary(inst, tp, nodes, kv=1000, max_len=4096, extra=1)
    under = _model_at_boundary(inst, tp, nodes, kv=1000, max_len=4096, extra=-1)
    assert fit.fits(exact, inst, 4096, 1.0, tp, nodes)  # need == have fits (<=, not <)
    assert fit.fits(under, inst, 4096, 1.0, tp, nodes)
    assert not fit.fits(over, inst, 4096, 1.0, tp, nodes)  # one byte over does not
    # the KV cache counts: one token more is KV bytes over
    assert not fit.fits(exact, inst, 4097, 1.0, tp, nodes)


def test_fits_default_is_one_node():
    inst = INSTANCE_TYPES["ecs.gn8is-8x.32xlarge"]
    one_node = _model_at_boundary(inst, 8, 1, kv=1000, max_len=4096, extra=0)
    assert fit.fits(one_node, inst, 4096, 1.0, 8)
    two_nodes = _model_at_boundary(inst, 8, 2, kv=1000, max_len=4096, extra=0)
    assert not fit.fits(two_nodes, inst, 4096, 1.0, 8)
    assert fit.fits(two_nodes, inst, 4096, 1.0, 8, 2)
    assert not fit.fits(two_nodes, inst, 4096, 1.0, 8, 1)


def test_multi_node_sums_memory_and_overhead():
    r1 = MODELS["deepseek-r1"]
    l20x8 = INSTANCE_TYPES["ecs.gn8is-8x.32xlarge"]
    # need: 688_586_727_753 + 70_272 x 32_768 + 2 GiB x 16 = 725_249_139_017 bytes
    # have: 2 nodes x 8 x 48 GiB x 0.9 = 742_170_348_748 bytes; one node has half
    assert fit.memory_needed(r1, 32768, 16) == 725_249_139_017
    assert fit.memory_available(l20x8, 8, 0.9, 2) == int(2 * 8 * 48 * GIB * 0.9) == 742_170_348_748
    assert fit.fits(r1, l20x8, 32768, 0.9, 8, 2)
    assert not fit.fits(r1, l20x8, 32768, 0.9, 8, 1)


def test_attention_head_divisors_and_default_tp():
    assert fit.attention_head_divisors(12, 8) == [1, 2, 3, 4, 6]
    assert fit.attention_head_divisors(28, 28) == [1, 2, 4, 7, 14, 28]  # the limit itself counts
    assert fit.attention_head_divisors(6, 4) == [1, 2, 3]
    assert fit.attention_head_divisors(8, 8) == [1, 2, 4, 8]
    q7 = MODELS["deepseek-r1-distill-qwen-7b"]  # 28 heads
    assert fit.default_tensor_parallel(q7, 8) == 7
    assert fit.default_tensor_parallel(q7, 4) == 4
    assert fit.default_tensor_parallel(q7, 1) == 1
    assert fit.default_tensor_parallel(MODELS["deepseek-r1-distill-qwen-1.5b"], 8) == 6


# Smallest first: total GPU memory, then name.
ALL_7B = [
    "ecs.gn7i-c16g1.4xlarge", "ecs.gn7i-c32g1.8xlarge", "ecs.gn7i-c8g1.2xlarge", "ecs.gn7i-2x.8xlarge",
    "ecs.gn8is.2xlarge", "ecs.gn8is.4xlarge", "ecs.gn7i-4x.8xlarge", "ecs.gn8is-2x.8xlarge",
    "ecs.gn8v.4xlarge", "ecs.gn8v.6xlarge", "ecs.gn7i-8x.16xlarge", "ecs.gn8is-4x.16xlarge",
    "ecs.gn8v-2x.12xlarge", "ecs.gn8v-2x.8xlarge", "ecs.ebmgn8is.32xlarge", "ecs.gn8is-8x.32xlarge",
    "ecs.gn8v-4x.24xlarge", "ecs.gn8v-4x.8xlarge", "ecs.ebmgn8v.48xlarge", "ecs.gn8v-8x.16xlarge",
    "ecs.gn8v-8x.48xlarge",
]  # fmt: skip
R1_TWO_NODES = [
    "ecs.ebmgn8is.32xlarge", "ecs.gn8is-8x.32xlarge", "ecs.gn8v-4x.24xlarge", "ecs.gn8v-4x.8xlarge",
    "ecs.ebmgn8v.48xlarge", "ecs.gn8v-8x.16xlarge", "ecs.gn8v-8x.48xlarge",
]  # fmt: skip


def test_types_that_fit_order_and_erdma_filter():
    q7 = MODELS["deepseek-r1-distill-qwen-7b"]
    assert fit.types_that_fit(q7, 32768, 0.9) == ALL_7B
    erdma = fit.types_that_fit(q7, 32768, 0.9, erdma_only=True)
    assert erdma == [n for n in ALL_7B if not n.startswith("ecs.gn7i")]  # gn7i has no eRDMA
    assert all(INSTANCE_TYPES[n].erdma for n in erdma)


def test_types_that_fit_with_nodes():
    r1 = MODELS["deepseek-r1"]
    assert fit.types_that_fit(r1, 32768, 0.9) == [
        "ecs.ebmgn8v.48xlarge",
        "ecs.gn8v-8x.16xlarge",
        "ecs.gn8v-8x.48xlarge",
    ]
    assert fit.types_that_fit(r1, 32768, 0.9, nodes=2) == R1_TWO_NODES
    assert fit.types_that_fit(r1, 32768, 0.9, nodes=2, erdma_only=True) == R1_TWO_NODES
    assert fit.types_that_fit(r1, 32768, 0.1) == []


# ---------------------------------------------------------------------------------------------
# Disk size: max(100, int(weights GiB x 1.25 + 50 + 0.999))


def _with_weights(weight_bytes: int) -> catalog.ModelSpec:
    return dataclasses.replace(MODELS["deepseek-r1-distill-qwen-7b"], weight_bytes=weight_bytes)


@pytest.mark.parametrize(
    "weight_bytes, gib",
    [
        (0, 100),  # the floor
        (15_240_000_000, 100),  # 7B: 14.19 GiB -> 68 by the formula, floor 100
        (int(39.2 * GIB), 100),  # formula 99.999 -> 99 -> floor 100
        (40 * GIB, 100),  # 50 + 50 + 0.999 = 100.999 -> 100
        (int(40.8 * GIB) + 1, 101),  # first above the floor
        (48 * GIB, 110),  # 60 + 50 + 0.999 -> 110 (exact GiB: no rounding up)
        (48 * GIB + 1, 110),  # + 0.999, not a ceiling: a byte more stays at 110
        (48 * GIB + GIB // 1000, 111),  # a thousandth of a GiB more (x 1.25 > 0.001) rounds up
        (141_200_000_000, 215),  # 70B: 131.5 GiB x 1.25 + 50 = 214.4 -> 215
        (688_586_727_753, 852),  # R1: 641.3 GiB x 1.25 + 50 = 851.6 -> 852
    ],
)
def test_disk_size_floor_and_formula(weight_bytes, gib):
    assert fit.disk_size_gib(_with_weights(weight_bytes)) == gib


# ---------------------------------------------------------------------------------------------
# ACS pods

ONE_GPU = "GU8TF with 1 GPU takes 2-16 vCPU at 1-8 GiB per vCPU, or 22 vCPU"
EIGHT_GPUS = "GU8TF with 8 GPUs takes 64 vCPU (64-512 GiB), 128 vCPU (<= 920 GiB) or 184 vCPU"


@pytest.mark.parametrize(
    "gpus, cpu, mem, why",
    [
        (1, 22, 1, None), (1, 22, 4000, None),
        (1, 2, 2, None), (1, 2, 1, ONE_GPU), (1, 2, 16, None), (1, 2, 17, ONE_GPU),
        (1, 16, 16, None), (1, 16, 128, None), (1, 16, 129, ONE_GPU), (1, 16, 15, ONE_GPU),
        (1, 1, 1, ONE_GPU), (1, 1, 8, ONE_GPU), (1, 17, 17, ONE_GPU), (1, 21, 64, ONE_GPU), (1, 23, 64, ONE_GPU),
        (8, 64, 64, None), (8, 64, 63, EIGHT_GPUS), (8, 64, 512, None), (8, 64, 513, EIGHT_GPUS),
        (8, 128, 64, None), (8, 128, 920, None), (8, 128, 921, EIGHT_GPUS), (8, 128, 63, EIGHT_GPUS),
        (8, 184, 64, None), (8, 184, 1840, None), (8, 184, 1841, EIGHT_GPUS), (8, 184, 63, EIGHT_GPUS),
        (8, 96, 512, EIGHT_GPUS), (8, 65, 128, EIGHT_GPUS),
        (2, 1, 1, None), (4, 999, 1, None),  # no documented rule for 2 or 4 GPUs
    ],
)  # fmt: skip
def test_gu8tf_shape_rules_both_sides_of_each_bound(gpus, cpu, mem, why):
    assert acs_pods.shape_problem("GU8TF", gpus, cpu, mem) == why


def test_shape_rules_only_for_gu8tf():
    assert acs_pods.shape_problem("L20", 1, 1, 1) is None
    assert acs_pods.shape_problem("GU8TEF", 8, 1, 1) is None


def _acs_model(need_minus_have: int, series: acs_pods.GpuSeries, gpus: int, pods: int, util: float = 1.0):
    have = int(series.memory_gib * GIB * gpus * pods * util)
    kv, max_len = 1000, 100
    weights = have - kv * max_len - 2 * GIB * gpus * pods + need_minus_have
    return dataclasses.replace(MODELS["deepseek-r1"], weight_bytes=weights, kv_bytes_per_token=kv), max_len


@pytest.mark.parametrize("gpus, pods", [(1, 1), (8, 1), (2, 3), (8, 2)])
def test_group_fits_exact_boundary(gpus, pods):
    gu8tf = GPU_SERIES["GU8TF"]
    for delta, fits in ((0, True), (-1, True), (1, False)):
        model, max_len = _acs_model(delta, gu8tf, gpus, pods)
        assert acs_pods.group_fits(model, max_len, 1.0, gu8tf, gpus, pods) is fits, delta
    model, max_len = _acs_model(0, gu8tf, gpus, pods, util=0.9)
    assert acs_pods.group_fits(model, max_len, 0.9, gu8tf, gpus, pods)
    assert not acs_pods.group_fits(model, max_len + 1, 0.9, gu8tf, gpus, pods)


def test_group_roomy_leaves_a_fifth_to_the_kv_cache():
    gu8tf = GPU_SERIES["GU8TF"]  # 96 GiB
    # 5 pods x 1 GPU x 96 GiB x 0.8 = 384 GiB exactly
    at = dataclasses.replace(MODELS["deepseek-r1"], weight_bytes=384 * GIB)
    over = dataclasses.replace(MODELS["deepseek-r1"], weight_bytes=384 * GIB + 1)
    assert acs_pods.group_roomy(at, 1.0, gu8tf, 1, 5)
    assert not acs_pods.group_roomy(over, 1.0, gu8tf, 1, 5)
    assert acs_pods.group_roomy(at, 1.0, gu8tf, 5, 1)
    assert not acs_pods.group_roomy(at, 0.99, gu8tf, 5, 1)
    assert acs_pods.KV_HEADROOM == 0.2


def test_group_roomy_exact_boundary_is_inclusive():
    # 0.8 x 141 GiB x 5 pods is an exact float (605_590_388_736 bytes): weights equal to it are roomy
    gu8tef = GPU_SERIES["GU8TEF"]
    at = dataclasses.replace(MODELS["deepseek-r1"], weight_bytes=605_590_388_736)
    assert acs_pods.group_roomy(at, 1.0, gu8tef, 1, 5)
    assert not acs_pods.group_roomy(dataclasses.replace(at, weight_bytes=605_590_388_737), 1.0, gu8tef, 1, 5)
