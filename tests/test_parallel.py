"""The sharding pass and multi-card inference: conservation, limits, memory split."""

from __future__ import annotations

import math

import pytest

from sim.analytical.inference import predict
from sim.analytical.memory import footprint
from sim.catalog import load_chip, load_model
from sim.deployment import Deployment
from sim.errors import ConfigError
from sim.workload.graph import decode_graph, prefill_graph
from sim.workload.parallel import Parallelism, bubble_fraction, shard_graph, sharding_role
from sim.workload.spec import Precision, Workload

MODELS = ("llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "deepseek-v3", "gpt-3-175b")


@pytest.mark.parametrize("name", MODELS)
def test_every_op_has_a_sharding_rule(name):
    model = load_model(name)
    for graph in (prefill_graph(model, 2, 64, Precision()), decode_graph(model, 2, 64, Precision())):
        for block in graph.blocks:
            for op in block.ops:
                assert sharding_role(op.name)


@pytest.mark.parametrize("tp", [2, 4, 8])
def test_tensor_parallel_splits_matmul_and_attention_flops_exactly(tp):
    model = load_model("llama-3.1-70b")
    graph = prefill_graph(model, 4, 512, Precision())
    shard = shard_graph(graph, tp)
    for full, part in zip(graph.blocks, shard.blocks, strict=True):
        for a, b in zip(full.ops, part.ops, strict=True):
            if a.kind in ("matmul", "attention"):
                assert b.flops == pytest.approx(a.flops / tp)
                assert b.weight_bytes == pytest.approx(a.weight_bytes / tp)


def test_kv_groups_split_until_there_is_one_per_rank():
    model = load_model("llama-3.1-70b")  # 8 KV heads
    graph = decode_graph(model, 1, 4096, Precision())
    att = next(op for op in graph.blocks[1].ops if op.name == "attention")
    for tp, share in ((2, 1 / 2), (8, 1 / 8), (16, 1 / 8), (64, 1 / 8)):
        part = next(op for op in shard_graph(graph, tp).blocks[1].ops if op.name == "attention")
        assert part.kv_read_bytes == pytest.approx(att.kv_read_bytes * share)
        assert part.flops == pytest.approx(att.flops / tp)


def test_memory_per_chip_splits_weights_and_kv():
    model = load_model("llama-3.1-70b")
    wl = Workload(phase="decode", batch=32, input_len=2048, precision=Precision())
    one = footprint(model, wl)
    split = footprint(model, wl, Parallelism(tp=4, pp=2))
    assert split.weights == pytest.approx(one.weights / 8)
    assert split.kv_cache == pytest.approx(one.kv_cache / 8)


def test_free_links_prefill_time_is_the_compute_split(econ):
    """With infinite link bandwidth and sequence parallelism (so norms split too), a
    compute-bound pass on t chips takes 1/t of the time, within the tile quantisation of
    the narrower GEMMs. Without sequence parallelism the replicated norms cost extra."""
    chip, model = load_chip("H100"), load_model("llama-3.1-8b")
    wl = Workload(phase="prefill", batch=8, input_len=4096, precision=Precision())
    one = predict(chip, model, wl, econ)
    for tp in (2, 4, 8):
        many = predict(Deployment.ideal(chip, Parallelism(tp=tp, sequence_parallel=True)), model, wl, econ)
        assert many.ttft_s == pytest.approx(one.ttft_s / tp, rel=0.05)
        assert many.ttft_s >= one.ttft_s / tp * 0.99
        replicated = predict(Deployment.ideal(chip, Parallelism(tp=tp)), model, wl, econ)
        assert replicated.ttft_s > many.ttft_s


def test_more_tensor_parallelism_is_never_slower_with_free_links(econ):
    chip, model = load_chip("H100"), load_model("llama-3.1-70b")
    wl = Workload(phase="decode", batch=16, input_len=2048, precision=Precision.uniform("fp8"))
    times = [predict(Deployment.ideal(chip, Parallelism(tp=tp)), model, wl, econ).tpot_s for tp in (1, 2, 4, 8)]
    assert times == sorted(times, reverse=True)


def test_pipeline_decode_round_counts_every_stage(econ):
    """Decode with pp stages and pp micro-batches: every stage serves each micro-batch once
    per round at the pace of the slowest stage (the last: its layers plus the LM head), so
    TPOT is the single-chip step at batch/pp plus pp-1 extra LM heads (and their host work)."""
    chip, model = load_chip("H100"), load_model("llama-3.1-8b")
    wl = Workload(phase="decode", batch=64, input_len=1024, precision=Precision())
    one = predict(chip, model, wl.model_copy(update={"batch": 16}), econ, keep_ops=True)
    head_s = sum(c.time_s for c in one.passes["decode"].ops if c.op.name in ("lm_head", "final_norm", "embedding"))
    head_s += 16 * chip.default_stack.host_overhead_us_per_sequence * 1e-6  # the sampling stage's host work
    four = predict(Deployment.ideal(chip, Parallelism(pp=4)), model, wl, econ)
    assert four.tpot_s == pytest.approx(one.tpot_s + 3 * head_s, rel=0.02)
    assert four.bound_share["bubble"] == pytest.approx(0.0, abs=1e-9)


def test_pipeline_prefill_pays_the_fill_bubble(econ):
    chip, model = load_chip("H100"), load_model("llama-3.1-8b")
    wl = Workload(phase="prefill", batch=4, input_len=2048, precision=Precision())
    pred = predict(Deployment.ideal(chip, Parallelism(pp=4)), model, wl, econ)
    assert pred.bound_share["bubble"] == pytest.approx(bubble_fraction("1f1b", 4, 4), rel=0.05)


def test_bubble_fraction_formulas():
    assert bubble_fraction("1f1b", 8, 32) == pytest.approx(7 / 39)
    assert bubble_fraction("gpipe", 4, 4) == pytest.approx(3 / 7)
    assert bubble_fraction("interleaved", 8, 32, vpp=2) == pytest.approx(3.5 / 35.5)
    assert bubble_fraction("1f1b", 1, 5) == 0.0


def test_plan_that_cannot_split_the_model_is_a_clear_error(econ):
    chip, model = load_chip("H100"), load_model("llama-3.1-8b")
    wl = Workload(phase="decode", batch=4, input_len=128, precision=Precision())
    with pytest.raises(ConfigError, match="does not divide"):
        predict(Deployment.ideal(chip, Parallelism(tp=3)), model, wl, econ)
    with pytest.raises(ConfigError, match="dp=3"):
        predict(Deployment.ideal(chip, Parallelism(dp=3)), model, wl, econ)
    with pytest.raises(ConfigError, match="dense"):
        predict(Deployment.ideal(chip, Parallelism(tp=2, ep=2)), model, wl, econ)


def test_energy_and_cost_count_every_chip(econ):
    chip, model = load_chip("H100"), load_model("llama-3.1-8b")
    wl = Workload(phase="decode", batch=64, input_len=1024, precision=Precision())
    one = predict(chip, model, wl, econ)
    two = predict(Deployment.ideal(chip, Parallelism(dp=2)), model, wl.model_copy(update={"batch": 128}), econ)
    assert two.throughput_tokens_per_s == pytest.approx(2 * one.throughput_tokens_per_s)
    assert two.energy_j_per_token == pytest.approx(one.energy_j_per_token)
    assert two.avg_power_W == pytest.approx(one.avg_power_W)
    assert math.isclose(two.cost_per_million_tokens, one.cost_per_million_tokens, rel_tol=1e-9)


def test_uneven_pipeline_stages_cost_the_slowest_stage():
    """pp need not divide the layers (Llama 3 405B ran 126 layers on 16 stages): the slowest
    stage holds ceil(layers / pp) layers, its weights and its KV cache."""
    model = load_model("llama-3.1-8b")  # 32 layers
    plan3, plan4 = Parallelism(pp=3), Parallelism(pp=4)
    assert plan3.stage_layers(model) == 11 and plan3.stage_share(model) == pytest.approx(11 / 32)
    graph = decode_graph(model, 8, 1024, Precision())
    layers = {b.name: b.count for b in shard_graph(graph, 1, 3).blocks}
    assert layers["dense_layer"] == 11 and layers["head"] == 1
    wl = Workload(phase="decode", batch=8, input_len=1024, precision=Precision())
    need3, need4 = footprint(model, wl, plan3), footprint(model, wl, plan4)
    assert need3.weights == pytest.approx(model.params * 2 * 11 / 32)
    assert need3.kv_cache / need4.kv_cache == pytest.approx(11 / 8)


def test_mixed_layer_blocks_fill_the_slowest_stage_from_the_largest_block():
    model = load_model("deepseek-v3")  # 3 dense + 58 MoE layers
    graph = decode_graph(model, 8, 1024, Precision())
    counts = {b.name: b.count for b in shard_graph(graph, 1, 16).blocks}
    assert counts.get("moe_layer", 0) + counts.get("dense_layer", 0) == math.ceil(61 / 16)
    assert counts["moe_layer"] == 4


def test_more_stages_than_layers_is_an_error(econ):
    chip, model = load_chip("H100"), load_model("llama-3.1-8b")
    wl = Workload(phase="decode", batch=64, input_len=128, precision=Precision())
    with pytest.raises(ConfigError, match="more stages than"):
        predict(Deployment.ideal(chip, Parallelism(pp=64)), model, wl, econ)


@pytest.mark.parametrize("cp", [1, 2])
def test_expert_parallel_training_exchanges_tokens_without_tensor_parallelism(cp):
    """Mixtral trained at tp=1 with ep=4 over the data ranks still dispatches and combines
    its tokens with two all-to-alls per MoE layer, whether or not context parallelism adds
    its K/V gather (once the all-to-all was dropped whenever tp and cp were both 1)."""
    from sim.workload.parallel import forward_collectives

    model = load_model("mixtral-8x7b")
    calls = forward_collectives(model, 4096, 2.0, Parallelism(dp=4, ep=4, cp=cp), model.layers)
    a2a = [c for c in calls if c.kind == "all_to_all"]
    assert [(c.group, c.count) for c in a2a] == [("ep", 2 * model.moe_layers)]
    assert not [c for c in calls if c.group == "tp"]
    assert len([c for c in calls if c.group == "cp"]) == (cp > 1)
