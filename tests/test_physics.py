"""Physics of the analytical engine: roofline limits, monotonicity, known bounds, fit."""

from __future__ import annotations

import pytest

from sim.analytical.inference import predict
from sim.analytical.memory import check_fit
from sim.catalog import chips_dir, load_chip, load_model
from sim.deployment import as_deployment
from sim.errors import CapacityError
from sim.workload.graph import decode_graph, prefill_graph
from sim.workload.spec import Precision, Workload

ALL_CHIPS = [p.stem for p in sorted(chips_dir().glob("*.yaml"))]
GPUS = [c for c in ALL_CHIPS if load_chip(c).kind == "gpu"]


def _fits(chip, model, wl) -> bool:
    try:
        check_fit(chip, model, wl)
        return True
    except CapacityError:
        return False


WORKLOADS = [
    Workload(phase="decode", batch=1, input_len=128),
    Workload(phase="decode", batch=64, input_len=2048),
    Workload(phase="prefill", batch=1, input_len=4096),
    Workload(phase="generate", batch=8, input_len=512, output_len=64),
    Workload(phase="decode", batch=16, input_len=1024, precision=Precision.uniform("fp8")),
]


@pytest.mark.parametrize("chip_name", ALL_CHIPS)
@pytest.mark.parametrize("model_name", ["Llama-3.1-8B", "Mixtral-8x7B", "DeepSeek-V3"])
def test_no_prediction_beats_its_roofline(chip_name, model_name, econ):
    """time >= max(flops / peak, compulsory bytes / peak bandwidth), pass by pass."""
    chip, model = load_chip(chip_name), load_model(model_name)
    ran = 0
    for wl in WORKLOADS:
        if not _fits(chip, model, wl):
            continue
        pred = predict(chip, model, wl, econ)
        p = wl.precision
        peak_bw = max(t.bandwidth_Bps for t in chip.memory.values())
        graphs = {"prefill": prefill_graph(model, wl.batch, wl.input_len, p),
                  "decode": decode_graph(model, wl.batch, wl.input_len, p)}
        for phase, cost in pred.passes.items():
            g = graphs[phase]
            floor = max(g.flops / chip.compute.peak_flops(p.matmul), g.compulsory_bytes / peak_bw)
            if wl.phase != "generate" or phase == "prefill":
                assert cost.time_s >= floor, (phase, cost.time_s, floor)
        ran += 1
    assert ran or model.params * 1.0 > chip.inference_capacity_bytes  # skip only what fits in no format


def _scaled_chip(chip, bandwidth=1.0, compute=1.0):
    mem = {k: t.model_copy(update={"bandwidth_GBps": t.bandwidth_GBps * bandwidth}) for k, t in chip.memory.items()}
    peaks = {k: v * compute for k, v in chip.compute.peak_dense_TFLOPS.items()}
    comp = chip.compute.model_copy(update={"peak_dense_TFLOPS": peaks})
    return chip.model_copy(update={"memory": mem, "compute": comp})


@pytest.mark.parametrize("chip_name", ALL_CHIPS)
def test_more_bandwidth_or_compute_is_never_slower(chip_name, econ):
    chip = load_chip(chip_name)
    model = load_model("Llama-3.1-8B")
    for wl in WORKLOADS[:4]:
        if not _fits(chip, model, wl):
            continue
        base = predict(chip, model, wl, econ).e2e_latency_s
        for factor in (1.5, 4.0):
            assert predict(_scaled_chip(chip, bandwidth=factor), model, wl, econ).e2e_latency_s <= base * (1 + 1e-12)
            assert predict(_scaled_chip(chip, compute=factor), model, wl, econ).e2e_latency_s <= base * (1 + 1e-12)


def test_llama2_7b_decode_on_h100_is_5_to_35_percent_above_bandwidth_bound(econ):
    chip, model = load_chip("H100-SXM5-80GB"), load_model("Llama-2-7B")
    pred = predict(chip, model, Workload(phase="decode", batch=1, input_len=512), econ)
    bound = model.params * 2 / chip.main_tier.bandwidth_Bps
    assert 1.05 * bound <= pred.tpot_s <= 1.35 * bound, pred.tpot_s / bound


@pytest.mark.parametrize("chip_name", GPUS)
def test_long_prefill_is_compute_bound_and_batch1_decode_memory_bound_on_gpus(chip_name, econ):
    chip, model = load_chip(chip_name), load_model("Llama-3.1-8B")
    pre = predict(chip, model, Workload(phase="prefill", batch=1, input_len=8192), econ)
    dec = predict(chip, model, Workload(phase="decode", batch=1, input_len=1024), econ)
    assert pre.bound == "compute"
    assert dec.bound == "memory"


def test_decode_throughput_grows_with_batch_until_compute_bound(econ):
    chip, model = load_chip("H100-SXM5-80GB"), load_model("Llama-3.1-8B")
    rates = [predict(chip, model, Workload(phase="decode", batch=b, input_len=512), econ).throughput_tokens_per_s
             for b in (1, 4, 16, 64)]
    assert rates == sorted(rates)
    tpots = [predict(chip, model, Workload(phase="decode", batch=b, input_len=512), econ).tpot_s
             for b in (1, 4, 16, 64, 256)]
    assert tpots == sorted(tpots)


@pytest.mark.parametrize("chip_name", ALL_CHIPS)
def test_average_power_stays_between_idle_and_tdp(chip_name, econ):
    chip, model = load_chip(chip_name), load_model("Llama-3.1-8B")
    for wl in WORKLOADS[:4]:
        if _fits(chip, model, wl):
            pred = predict(chip, model, wl, econ)
            assert chip.power.idle_W <= pred.avg_power_W <= chip.power.tdp_W


def test_model_that_does_not_fit_says_by_how_much_and_what_would(econ):
    chip, model = load_chip("H100-SXM5-80GB"), load_model("Llama-3.1-70B")
    with pytest.raises(CapacityError) as err:
        predict(chip, model, Workload(phase="decode", batch=1, input_len=1024), econ)
    msg = str(err.value)
    assert "short by" in msg and "GB" in msg and "fp8 weights" in msg and "\n" not in msg
    assert err.value.required_bytes > err.value.available_bytes


def test_generate_combines_prefill_and_decode(econ):
    chip, model = load_chip("H100-SXM5-80GB"), load_model("Llama-3.1-8B")
    gen = predict(chip, model, Workload(phase="generate", batch=4, input_len=1000, output_len=101), econ)
    pre = predict(chip, model, Workload(phase="prefill", batch=4, input_len=1000), econ)
    mid = predict(chip, model, Workload(phase="decode", batch=4, input_len=1050), econ)
    assert gen.ttft_s == pytest.approx(pre.ttft_s)
    assert gen.tpot_s == pytest.approx(mid.tpot_s, rel=0.01)
    assert gen.e2e_latency_s == pytest.approx(gen.ttft_s + 100 * gen.tpot_s)
    assert gen.throughput_tokens_per_s == pytest.approx(4 * 101 / gen.e2e_latency_s)


def test_cost_per_token_follows_price_and_electricity(econ):
    chip, model = load_chip("H100-SXM5-80GB"), load_model("Llama-3.1-8B")
    wl = Workload(phase="decode", batch=32, input_len=1024)
    base = predict(chip, model, wl, econ)
    dearer = predict(chip, model, wl, econ.model_copy(update={"electricity_price_per_kWh": 1.0}))
    assert dearer.cost_per_million_tokens > base.cost_per_million_tokens
    kwh_per_mtok = base.energy_j_per_token * 1e6 / 3.6e6
    assert dearer.cost_per_million_tokens - base.cost_per_million_tokens == pytest.approx(kwh_per_mtok * 0.9)


def test_a_batch_whose_kv_cache_does_not_fit_runs_in_waves(econ):
    """The engine admits the most sequences whose KV cache fits and runs the rest after
    them: time adds up over the waves, and throughput never beats the largest batch that
    fits at once."""
    chip, model = load_chip("H100-SXM5-80GB"), load_model("Llama-3.1-8B")
    big = Workload(phase="generate", batch=4096, input_len=2048, output_len=128)
    with pytest.raises(CapacityError):
        check_fit(chip, model, big)
    pred = predict(chip, model, big, econ)
    wave = pred.concurrent_sequences
    assert pred.waves > 1 and 0 < wave < big.batch and pred.waves == -(-big.batch // wave)
    dep = as_deployment(chip)
    for batch, fits in ((wave, True), (wave + 1, False)):
        try:
            check_fit(chip, model, big.model_copy(update={"batch": batch}), dep.plan, dep.software("inference"))
            assert fits
        except CapacityError:
            assert not fits
    one = predict(chip, model, big.model_copy(update={"batch": wave}), econ)
    assert pred.throughput_tokens_per_s <= one.throughput_tokens_per_s * (1 + 1e-9)
    full, rest = divmod(big.batch, wave)
    last = predict(chip, model, big.model_copy(update={"batch": rest}), econ).e2e_latency_s if rest else 0.0
    assert pred.e2e_latency_s == pytest.approx(full * one.e2e_latency_s + last, rel=1e-6)


def test_weights_that_do_not_fit_still_raise_instead_of_waves(econ):
    chip, model = load_chip("H100-SXM5-80GB"), load_model("Llama-3.1-70B")
    with pytest.raises(CapacityError):
        predict(chip, model, Workload(phase="generate", batch=64, input_len=1024, output_len=16), econ)


@pytest.mark.parametrize("stack", ["trtllm", "sglang"])
def test_what_a_chip_holds_never_exceeds_its_memory(stack):
    """A model whose weights alone exceed the chip is reported against the chip's memory
    (the engine's KV share once let 'has' grow to the weights: 'needs 671 GB, has 671 GB')."""
    from sim.analytical.memory import footprint, kv_budget_capacity
    from sim.catalog import load_stack

    chip, model = load_chip("B200"), load_model("DeepSeek-V3")
    wl = Workload(phase="decode", batch=1, input_len=512, precision=Precision.uniform("fp8"))
    need = footprint(model, wl, None)
    assert need.weights > chip.inference_capacity_bytes
    assert kv_budget_capacity(chip.inference_capacity_bytes, need, load_stack(stack)) <= chip.inference_capacity_bytes


@pytest.mark.parametrize("chip_name", ["TPU-v5p", "H100", "Gaudi3", "SambaNova-SN40L", "MI300X", "Trainium2"])
def test_a_moe_step_is_never_faster_with_more_tokens(chip_name, econ):
    """Mixtral's grouped expert GEMM: more tokens touch more experts and round each
    expert's rows up; the units stay busy for the padded shape, so a step never gets faster
    as tokens grow (TPU v5p fp8 prefill took 17.2 ms for 2 tokens and 13.2 ms for 3 when
    compute time counted only the useful flops of the padded shape)."""
    chip, model = load_chip(chip_name), load_model("mixtral-8x7b")
    checked = 0
    for prec in ("bf16", "fp8"):
        if model.params * Precision.uniform(prec).weight_bytes > chip.inference_capacity_bytes:
            continue  # bf16 Mixtral (93 GB) does not fit an 80 GB card
        for phase, axis in (("prefill", "input_len"), ("decode", "batch")):
            times = []
            for n in (1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32, 64):
                wl = Workload(phase=phase, batch=1, input_len=512, precision=Precision.uniform(prec)).model_copy(
                    update={axis: n})
                p = predict(chip, model, wl, econ)
                times.append(p.ttft_s if phase == "prefill" else p.tpot_s)
            assert all(b >= a * (1 - 1e-9) for a, b in zip(times, times[1:], strict=False)), (prec, phase, times)
            checked += 1
    assert checked >= 2
