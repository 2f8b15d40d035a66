"""What a software stack adds to the hardware: host work per pass and per worker, a decode
kernel that reads the KV cache once per query head, a GEMM library below the chip's ceiling."""

from dataclasses import replace

import pytest

from sim import catalog
from sim.analytical.inference import predict
from sim.errors import ConfigError
from sim.workload.parallel import Parallelism, query_heads_per_kv_head
from sim.workload.spec import Workload

H100 = "H100-SXM5-80GB"


def test_a_stack_pays_its_per_worker_step_work_once_per_extra_tensor_parallel_rank():
    """vLLM v0.5's driver sends each step's inputs to every worker: at TP4 a decode step
    costs 3 x tp_step_overhead_us more than the same stack without it, and TP1 nothing."""
    vllm = catalog.load_stack("vllm-v0.5")
    assert vllm.tp_step_overhead_us > 0
    without = vllm.model_copy(update={"tp_step_overhead_us": 0.0})
    model, econ = catalog.load_model("Llama-3.1-8B"), catalog.load_economics({})
    wl = Workload(phase="generate", batch=1, input_len=128, output_len=64)
    for tp in (1, 4):
        dep = catalog.load_deployment(Parallelism(tp=tp), chip="H100-SXM5-80GB")
        slow = predict(replace(dep, stack=vllm), model, wl, econ)
        fast = predict(replace(dep, stack=without), model, wl, econ)
        assert slow.tpot_s - fast.tpot_s == pytest.approx((tp - 1) * vllm.tp_step_overhead_us * 1e-6, rel=1e-6, abs=1e-12)


def test_query_heads_per_kv_head_follows_the_shards_a_rank_holds():
    """Llama-3-70B (64 query heads, 8 KV heads): 8 per KV head at TP1 and TP8; at TP16 each
    rank holds 4 query heads and a replicated KV head; an MHA model has 1 everywhere."""
    l70, l2 = catalog.load_model("Llama-3.1-70B"), catalog.load_model("Llama-2-7B")
    assert [query_heads_per_kv_head(l70, tp) for tp in (1, 8, 16)] == [8, 8, 4]
    assert [query_heads_per_kv_head(l2, tp) for tp in (1, 4)] == [1, 1]


def _decode_tpot(stack, model_name: str, chip: str = H100, batch: int = 32, context: int = 3000) -> float:
    dep = catalog.load_deployment(Parallelism(), chip=chip)
    wl = Workload(phase="decode", batch=batch, input_len=context, output_len=1)
    return predict(replace(dep, stack=stack), catalog.load_model(model_name), wl, catalog.load_economics({})).tpot_s


def test_a_per_query_head_kv_read_slows_grouped_query_models_and_not_mha_ones():
    """Reading each KV head once per query head multiplies a GQA model's KV traffic by its
    group (Llama-3-8B: 4); an MHA model (Llama-2-7B) has one query head per KV head, so
    it is unchanged. The slowdown is more than none and at most the group's factor on the
    whole step."""
    shared = catalog.load_stack("vllm")
    per_head = shared.model_copy(update={"kv_read_per_query_head": True})
    assert _decode_tpot(per_head, "Llama-2-7B") == pytest.approx(_decode_tpot(shared, "Llama-2-7B"), rel=1e-12)
    fast, slow = _decode_tpot(shared, "Llama-3.1-8B"), _decode_tpot(per_head, "Llama-3.1-8B")
    assert fast * 1.05 < slow < 4 * fast


LONG_PREFILL = Workload(phase="prefill", batch=8, input_len=4096, output_len=1)  # compute-bound
BATCH1_DECODE = Workload(phase="decode", batch=1, input_len=512, output_len=1)  # weight-bound


def _time_under(stack, chip: str, wl: Workload) -> float:
    """Llama-3.1-8B on one ``chip`` under ``stack``: the prefill's TTFT or the decode's TPOT."""
    dep = catalog.load_deployment(Parallelism(), chip=chip)
    pred = predict(replace(dep, stack=stack), catalog.load_model("Llama-3.1-8B"), wl, catalog.load_economics({}))
    return pred.ttft_s if wl.phase == "prefill" else pred.tpot_s


@pytest.mark.parametrize(("field", "slowed", "lo", "kept", "hi"), [
    # a GEMM library at half the chip's ceiling: a long prefill nearly 2x, a batch-1 decode little
    ("matmul_rate_fraction_by_chip", LONG_PREFILL, 1.5, BATCH1_DECODE, 1.1),
    # weights streamed at half the sustained bandwidth: the decode nearly 2x, the prefill about the same
    ("weight_read_bandwidth_fraction_by_chip", BATCH1_DECODE, 1.6, LONG_PREFILL, 1.05),
])
def test_a_stack_share_by_chip_slows_the_pass_it_bounds_on_its_chip_only(field, slowed, lo, kept, hi):
    """A per-chip share of 0.5 slows the pass that share bounds by lo..2x, the other pass by
    less than ``hi``, and a chip the stack does not list not at all."""
    base = catalog.load_stack("vllm")
    half = base.model_copy(update={field: {H100: 0.5}})
    assert lo < _time_under(half, H100, slowed) / _time_under(base, H100, slowed) <= 2.0 + 1e-9
    assert _time_under(half, H100, kept) / _time_under(base, H100, kept) < hi
    other = "A100-SXM4-80GB"
    assert _time_under(half, other, slowed) == _time_under(base, other, slowed)


@pytest.mark.parametrize("bad", [0.0, 1.5])
@pytest.mark.parametrize("field", ["matmul_rate_fraction_by_chip", "weight_read_bandwidth_fraction_by_chip"])
def test_a_gemm_rate_fraction_outside_zero_to_one_is_refused(bad, field):
    with pytest.raises((ValueError, ConfigError), match="fractions must be in"):
        catalog.load_stack("vllm").model_validate(
            {**catalog.load_stack("vllm").model_dump(), field: {H100: bad}})


def test_a_stack_that_pads_heads_runs_a_width_that_does_not_divide_them_at_the_fullest_ranks_pace():
    """Llama-3.1-8B (32 query, 8 KV heads) at 24 ranks: each rank holds 2 query heads and a
    KV head of its own, as if the model had 48 and 24; a dividing width is unchanged; a
    stack that does not pad refuses the width with one line."""
    from sim.errors import ConfigError as PlanError
    from sim.workload.parallel import heads_padded_to

    l8 = catalog.load_model("Llama-3.1-8B")
    padded = heads_padded_to(l8, 24)
    assert (padded.heads, padded.kv_heads, padded.attention) == (48, 24, "gqa")
    assert heads_padded_to(l8, 8) is l8
    neuron = catalog.load_stack("neuron")
    assert neuron.pads_heads_to_tp and neuron.tp_ranks_per_chip == 2
    dep = catalog.load_deployment(Parallelism(tp=12), chip="Inferentia2")
    wl = Workload(phase="decode", batch=1, input_len=512, output_len=1)
    econ = catalog.load_economics({})
    as_padded = predict(replace(dep, stack=neuron), l8, wl, econ)
    no_pad = neuron.model_copy(update={"pads_heads_to_tp": False})
    assert as_padded.tpot_s == predict(replace(dep, stack=no_pad), padded, wl, econ).tpot_s
    with pytest.raises(PlanError, match="does not divide"):
        predict(replace(dep, stack=catalog.load_stack("vllm")), l8, wl, econ)


def test_a_gemm_rate_for_a_chip_the_catalog_lacks_is_one_line_with_close_names(tmp_path):
    """A misspelt chip key would never apply (a silent 1.0): the stack file is refused at
    its line, with the chips it may have meant."""
    for field in ("matmul_rate_fraction_by_chip", "weight_read_bandwidth_fraction_by_chip"):
        bad = tmp_path / f"bad-{field}.yaml"
        bad.write_text(f"name: bad\nhost_overhead_us_per_sequence: 1\n{field}: {{MI300: 0.5}}\n"
                       f"sources:\n  host_overhead_us_per_sequence: x\n  {field}: x\n")
        with pytest.raises(ConfigError, match=rf"bad-{field}.yaml:3: {field}.*no catalog chip is called 'MI300'.*MI300X"):
            catalog.load_stack(str(bad))


def _attention_op(backward: bool):
    from sim.workload.graph import self_attention
    from sim.workload.spec import Precision
    from sim.workload.training import backward_op
    op = self_attention(2, 8192, 16, 128, Precision())
    return backward_op(op)[0] if backward else op


def _attention_s(stack, chip_name: str, backward: bool) -> float:
    from sim.chips.costing import Placement
    from sim.workload.ops import Block
    chip = catalog.load_chip(chip_name)
    t = chip.main_tier
    pl = Placement(*(t.sustained_bandwidth_Bps,) * 3, *(t.energy_J_per_byte,) * 3)
    op = _attention_op(backward)
    cost = stack.gemm_chip(chip).cost_model().block_costs(Block("a", (op,), 1), pl)[0]
    assert cost.compute_s > cost.memory_s  # compute-bound: the share shows in full
    return cost.compute_s


def test_a_stack_attention_kernel_share_slows_each_direction_on_gpus_only():
    """An attention kernel at 0.5 of the GEMM rate forward and 0.8 backward: a compute-bound
    8k attention computes 2x and 1.25x as long on a GPU, each direction by its own share; a
    systolic chip (its own attention lowering) is unchanged; the GEMMs are unchanged."""
    plain = catalog.load_stack("megatron")
    assert not plain.attention_kernel_fraction
    slowed = plain.model_copy(update={"attention_kernel_fraction": {"forward": 0.5, "backward": 0.8}})
    for backward, factor in ((False, 2.0), (True, 1.25)):
        assert _attention_s(slowed, H100, backward) == pytest.approx(factor * _attention_s(plain, H100, backward), rel=1e-9)
        assert _attention_s(slowed, "TPU-v5p", backward) == _attention_s(plain, "TPU-v5p", backward)
    assert slowed.gemm_chip(catalog.load_chip(H100)).compute.matmul_fraction("bf16") == pytest.approx(
        catalog.load_chip(H100).compute.matmul_fraction("bf16"))


def test_backward_kernels_are_marked_backward_and_forward_ones_not():
    from sim.workload.training import backward_op
    fwd = _attention_op(False)
    assert not fwd.backward and _attention_op(True).backward
    assert all(k.backward for k in backward_op(fwd))


@pytest.mark.parametrize("bad", [0.0, 1.5, -0.1])
def test_an_attention_kernel_share_outside_0_1_is_refused(bad):
    with pytest.raises(ValueError, match="fractions must be in"):
        catalog.StackSpec.model_validate(
            {**catalog.load_stack("nemo").model_dump(), "attention_kernel_fraction": {"forward": bad}})


def test_non_causal_self_attention_counts_every_query_key_pair():
    """4 x seq^2 x head_dim flops per head without the mask; the causal kernel about half."""
    from sim.workload.graph import self_attention
    from sim.workload.spec import Precision
    full = self_attention(2, 4096, 16, 128, Precision(), causal=False)
    causal = self_attention(2, 4096, 16, 128, Precision())
    assert full.flops == 4 * 2 * 16 * 4096 ** 2 * 128
    assert causal.flops == pytest.approx(full.flops / 2, rel=1e-3)


@pytest.mark.parametrize("case_id", ["attn-h100-cudnn-hd128-fwd-causal-4k", "attn-h100-cudnn-hd128-fwd-causal-16k",
                                     "attn-h100-cudnn-hd128-bwd-4k", "attn-h100-cudnn-hd128-bwd-16k"])
def test_nemo_attention_kernel_meets_cudnn_held_out_rates_at_training_lengths(case_id):
    """Fitted at 8k (one case per direction), the NeMo stack's attention kernel predicts
    cuDNN's published H100 rates at 4k and 16k within 5% (FlashAttention-3 paper's bars)."""
    from pathlib import Path

    from sim.validate.cases import load_cases
    from sim.validate.predict import predict_case
    case = next(c for c in load_cases(Path(catalog.scenarios_dir()) / "validation" / "attention_kernels.yaml")
                if c.id == case_id)
    assert not case.used_for_fitting
    outcome = predict_case(case, catalog.load_economics({}))
    assert abs(outcome.error_pct) < 5.0
