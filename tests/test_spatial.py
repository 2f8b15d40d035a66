"""A/B against the plain roofline: the dataflow, wafer and LPU models differ from it where
their structure says they should, by the amount the structure gives (physics in each
test's docstring). The roofline core is ``ChipCostModel`` on the same chip and placement."""

from __future__ import annotations

import pytest

from sim.analytical.evaluate import EnergyModel, evaluate
from sim.analytical.memory import footprint, place
from sim.catalog import load_chip, load_economics, load_model, load_system
from sim.chips.costing import ChipCostModel
from sim.chips.dataflow import in_flight_s, split_sections
from sim.deployment import Deployment
from sim.workload.graph import decode_graph, prefill_graph
from sim.workload.parallel import Parallelism, shard_graph
from sim.workload.spec import Precision, Workload

P = Precision()


def _both(chip, graph, need_wl, plan=None):
    """(structured model, plain roofline) times of one pass on ``chip``."""
    plan = plan or Parallelism()
    pl = place(chip, footprint(load_model("Llama-3.1-8B") if need_wl is None else need_wl[0], need_wl[1], plan))
    cm, roof = chip.cost_model(), ChipCostModel(chip)
    return evaluate(graph, cm, EnergyModel(cm), pl), evaluate(graph, roof, EnergyModel(roof), pl)


# ------------------------------------------------------------------ dataflow (SN40L)

def test_a_section_at_one_row_is_a_dependency_chain_and_at_many_rows_a_pipeline():
    """Each stage needs the previous stage's output: one tile of rows visits the stages one
    after another (their sum); many tiles overlap and the slowest stage sets the pace."""
    stages = [1.0, 3.0, 2.0]
    assert in_flight_s(stages, 0.0, 1) == pytest.approx(6.0)
    assert in_flight_s(stages, 0.0, 1000) == pytest.approx(3.0 + 3.0 / 1000, rel=1e-6)
    assert in_flight_s(stages, 10.0, 1000) == 10.0  # off-chip traffic shared by all stages binds


def test_streamed_weights_are_read_once_and_a_stage_waits_for_its_own():
    """Weights stream in stage order over one interface and serve every row tile: the first
    tile enters a stage once that stage's weights are in, so a stage whose weights are
    slow holds back everything after it, and more tiles never make the section faster
    when each tile's work is the same."""
    stages, weights = [1.0, 1.0, 1.0], [5.0, 0.0, 5.0]
    # stage 3's weights are in at 10; the one tile then runs it: 11
    assert in_flight_s(stages, 10.0, 1, weights) == pytest.approx(11.0)
    # two tiles of the same per-tile work (stages take twice as long for twice the rows)
    assert in_flight_s([2 * s for s in stages], 10.0, 2, weights) == pytest.approx(12.0)
    times = [in_flight_s([t * s for s in stages], 10.0, t, weights) for t in range(1, 50)]
    assert all(b >= a for a, b in zip(times, times[1:], strict=False))


def test_fused_prefill_moves_only_weights_kv_and_section_edges_off_chip():
    """Intermediates between fused ops stay in PMUs: the pass's off-chip bytes are the
    weights, the KV cache and each section's input and output, far below the roofline's
    every-op-in-and-out traffic; the time is lower with it."""
    chip, model = load_chip("SN40L"), load_model("Llama-3.1-8B")
    wl = Workload(phase="prefill", batch=1, input_len=2048, precision=P)
    graph = prefill_graph(model, 1, 2048, P)
    fused, plain = _both(chip, graph, (model, wl))
    budget = chip.onchip_sram_MiB * 2**20
    edges = sum(b.count * (s[0].act_in_bytes + s[-1].act_out_bytes)
                for b in graph.blocks for s in split_sections(b.ops, budget, 1040))
    assert fused.dram_bytes == pytest.approx(graph.compulsory_bytes + edges, rel=1e-9)
    assert fused.dram_bytes < 0.7 * plain.dram_bytes
    assert fused.time_s < plain.time_s


def test_weights_resident_in_sram_across_sockets_read_at_the_on_chip_bandwidth():
    """Split over 32 sockets (one layer each), a stage's 0.44 GB of Llama-3.1-8B weights fit
    in the 520 MB of PMUs beside the section buffers: a decode step reads them at the
    on-chip bandwidth (243.75 TB/s), not HBM's 1.39 TB/s sustained, so the weight-only MLP
    runs ~175x faster than on the roofline (the KV cache still comes from HBM)."""
    from sim.workload.ops import Graph

    chip, model = load_chip("SN40L"), load_model("Llama-3.1-8B")
    plan = Parallelism(pp=32)
    wl = Workload(phase="decode", batch=1, input_len=1024, precision=P)
    sharded = shard_graph(decode_graph(model, 1, 1024, P), 1, 32)
    stage = Graph(tuple(b for b in sharded.blocks if b.name == "dense_layer"), 1, 1)  # a middle stage
    resident, plain = _both(chip, stage, (model, wl), plan)
    assert stage.weight_bytes < chip.onchip_sram_MiB * 2**20
    assert resident.by_category["mlp"] < plain.by_category["mlp"] / 50
    assert resident.time_s < plain.time_s / 10
    assert resident.time_s >= stage.weight_bytes / (chip.dataflow.onchip_bandwidth_GBps * 1e9)


# ------------------------------------------------------------------ wafer (WSE-3)

def test_batch_1_decode_on_a_wafer_waits_on_one_region_at_a_time():
    """Layers (and their ops) are placed on regions sized by the bytes they hold. At batch 1
    the token visits them in turn, and each op reads its weights at its own region's share
    of the SRAM bandwidth: every weighted op takes about resident bytes / wafer bandwidth,
    so a pass takes at least (weighted ops) x that, where the roofline reads every weight
    at the whole wafer's bandwidth once."""
    chip, model = load_chip("WSE-3"), load_model("Llama-3.1-8B")
    wl = Workload(phase="decode", batch=1, input_len=1024, precision=P)
    graph = decode_graph(model, 1, 1024, P)
    placed, plain = _both(chip, graph, (model, wl))
    weighted = sum(b.count for b in graph.blocks for op in b.ops
                   if op.kind in ("matmul", "attention") and op.weight_bytes + op.kv_bytes > 0)
    one_op = graph.compulsory_bytes / chip.main_tier.sustained_bandwidth_Bps
    assert placed.time_s >= 0.9 * weighted * one_op
    assert placed.time_s > 20 * plain.time_s


def test_sequences_in_flight_fill_the_wafer_pipeline():
    """With m sequences streaming through L layer regions (m <= L), a step takes the
    chain at one micro-batch plus (m - 1) slowest layers. Every memory-bound op takes
    (resident bytes / wafer bandwidth), so for 32 sequences over 32 equal decoder layers
    (the embedding and head regions are small) the step is (32 + 31) / 32 x the batch-1
    chain, times the growth of the resident bytes (the larger KV cache): 32x the tokens for
    about 2.5x the time."""
    chip, model = load_chip("WSE-3"), load_model("Llama-3.1-8B")
    econ = load_economics()
    one = Workload(phase="decode", batch=1, input_len=1024, precision=P)
    full = one.model_copy(update={"batch": 32})
    from sim.analytical.inference import predict

    t1, t32 = predict(chip, model, one, econ).tpot_s, predict(chip, model, full, econ).tpot_s
    g1, g32 = decode_graph(model, 1, 1024, P), decode_graph(model, 32, 1024, P)
    growth = g32.compulsory_bytes / g1.compulsory_bytes
    assert t32 / t1 == pytest.approx((32 + 31) / 32 * growth, rel=0.10)


def test_a_model_that_overflows_one_wafer_needs_a_pipeline_of_wafers():
    """Inference keeps weights in on-wafer SRAM (MemoryX only streams for training): 70B in
    bf16 (141 GB) does not fit one 44 GB wafer; four wafers as pipeline stages hold it."""
    from sim.analytical.inference import predict
    from sim.errors import CapacityError

    chip, model, econ = load_chip("WSE-3"), load_model("Llama-3.1-70B"), load_economics()
    wl = Workload(phase="decode", batch=1, input_len=1024, precision=P)
    with pytest.raises(CapacityError, match="does not fit"):
        predict(chip, model, wl, econ)
    four = Deployment.on_system(load_system("Cerebras-CS3-Cluster"), Parallelism(pp=4))
    pred = predict(four, model, wl, econ)
    assert pred.memory_required_bytes < chip.main_tier.capacity_bytes
    assert pred.bound_share["bubble"] > 0.7  # at batch 1 three of four wafers wait


def test_training_streams_weights_from_memoryx():
    """Weight streaming (training): a layer's weights come from MemoryX at its bandwidth,
    so a pass whose weights live there is bound by them, as on the roofline."""
    chip, model = load_chip("WSE-3"), load_model("Llama-3.1-70B")
    graph = decode_graph(model, 1, 128, P)
    pl = place(chip, footprint(model, Workload(phase="decode", batch=1, input_len=128, precision=P)),
               training=True)
    cm = chip.cost_model()
    streamed = evaluate(graph, cm, EnergyModel(cm), pl)
    assert pl.weight_Bps < chip.main_tier.sustained_bandwidth_Bps
    assert streamed.time_s >= graph.weight_bytes / pl.weight_Bps


# ------------------------------------------------------------------ LPU (Groq)

def test_lpu_batch_1_decode_is_bound_by_feeding_weights_into_its_planes():
    """Weight-stationary MXM planes consume one column of weights per cycle per plane at
    batch 1 (each fold lasts its 320-cycle weight load): the feed rate is
    planes x cols x clock = peak / (2 rows), far below the 80 TB/s SRAM a roofline would
    stream weights at."""
    chip = load_chip("Groq")
    model = load_model("Llama-3.1-8B")
    plan = Parallelism(tp=8, pp=5)
    p = Precision.uniform("int8")
    stage = shard_graph(decode_graph(model, 1, 1024, p), 8, 5)
    wl = Workload(phase="decode", batch=1, input_len=1024, precision=p)
    lpu, plain = _both(chip, stage, (model, wl), plan)
    feed_Bps = chip.compute.peak_flops("int8") / (2 * chip.lpu.mxm_rows)  # int8: one byte per weight
    assert lpu.time_s >= 0.95 * stage.weight_bytes / feed_Bps
    assert lpu.time_s > 30 * plain.time_s
    assert lpu.by_bound["memory"] > 0.9 * lpu.time_s  # waiting on weights, not on MACs


def test_no_model_fits_one_lpu_and_the_planner_shards_it_over_hundreds():
    """230 MB of SRAM per chip: Llama-3.1-70B in 8 bits needs ~300 chips' SRAM; the planner
    picks the fewest chips that hold it (in SRAM) and says so."""
    from sim.analytical.planner import smallest_fit

    model, econ = load_model("Llama-3.1-70B"), load_economics()
    wl = Workload(phase="decode", batch=1, input_len=1024, precision=Precision.uniform("int8"))
    pick = smallest_fit(load_system("Groq-LPU-Cluster"), model, wl, econ)
    assert 300 <= pick.deployment.chips <= 700
    assert pick.prediction.memory_required_bytes <= load_chip("Groq").main_tier.capacity_bytes
    assert "smallest plan that fits" in pick.reason
