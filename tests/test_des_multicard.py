"""The serving engine on a tensor- / pipeline-parallel model instance: agreement with the
analytical multi-card point at low load, the KV budget per chip, more TP never slower."""

from __future__ import annotations

import pytest

from sim import default_economics, predict
from sim.analytical.iteration import ChipIterationCost, SystemIterationCost
from sim.analytical.memory import footprint
from sim.catalog import load_model, load_system
from sim.comm.pricing import FreeLinks
from sim.deployment import Deployment
from sim.des import (
    Arrivals,
    Lengths,
    Requests,
    Scheduler,
    Serving,
    make_requests,
    simulate,
    summarize,
)
from sim.des.cost import iteration_cost
from sim.errors import CapacityError, ConfigError
from sim.workload.parallel import Parallelism, kv_share
from sim.workload.spec import Precision, Workload

IN, OUT = 512, 64
SCHED = Scheduler(policy="chunked")


@pytest.fixture(scope="module")
def hgx():
    return load_system("HGX-H100-8GPU")


def _requests(count: int, rate: float, kind: str = "constant") -> Requests:
    return Requests(count=count, arrivals=Arrivals(kind=kind, rate_per_s=rate), input=Lengths(value=IN),
                    output=Lengths(value=OUT))


def _cost(chip, model, p, plan, comm) -> SystemIterationCost:
    return SystemIterationCost(chip, model, p, plan, comm, max_batched_tokens=2048, max_seqs=256)


@pytest.mark.parametrize("name,prec,tp,pp", [("llama-3.1-8b", "bf16", 2, 1), ("llama-3.1-8b", "bf16", 4, 1),
                                             ("llama-3.1-70b", "fp8", 4, 1), ("llama-3.1-8b", "bf16", 2, 2)])
def test_low_load_matches_the_analytical_multicard_point(hgx, name, prec, tp, pp):
    """Batch 1, no queueing: TTFT, TPOT and end-to-end latency of the DES equal
    predict(generate) on the same deployment within 1% (collectives and stage sends included)."""
    model, p, plan = load_model(name), Precision.uniform(prec), Parallelism(tp=tp, pp=pp)
    dep = Deployment.on_system(hgx, plan)
    reqs = make_requests(_requests(3, 0.01))
    row = summarize(simulate(iteration_cost(dep, model, p, SCHED, reqs), Serving(scheduler=SCHED), reqs))
    ref = predict(dep, model, Workload(phase="generate", batch=1, input_len=IN, output_len=OUT, precision=p),
                  default_economics())
    assert ref.bound_share["communication"] > 0
    assert row["ttft_mean_s"] == pytest.approx(ref.ttft_s, rel=0.01)
    assert row["tpot_mean_s"] == pytest.approx(ref.tpot_s, rel=0.01)
    assert row["e2e_mean_s"] == pytest.approx(ref.e2e_latency_s, rel=0.01)


def test_one_chip_plan_on_free_links_is_the_chip_cost(hgx):
    model, p = load_model("llama-3.1-8b"), Precision()
    one = _cost(hgx.chip, model, p, Parallelism(), FreeLinks())
    chip = ChipIterationCost(hgx.chip, model, p, max_batched_tokens=2048, max_seqs=256)
    assert one.kv_capacity_tokens == chip.kv_capacity_tokens
    for it in ([(700, 0)], 0, 0), ([(300, 1200)], 17, 17 * 900), ([], 64, 64 * 2000):
        assert one.time_s(*it) == chip.time_s(*it)


def test_kv_budget_per_chip_follows_the_footprint(hgx):
    """Weights split over tp x pp, a token's KV over pp and the KV head groups over tp."""
    model, p = load_model("llama-3.1-70b"), Precision.uniform("fp8")
    for plan in (Parallelism(tp=2), Parallelism(tp=4, pp=2), Parallelism(tp=8)):
        cost = _cost(hgx.chip, model, p, plan, FreeLinks())
        need = footprint(model, Workload(phase="prefill", batch=256, input_len=8, precision=p), plan)
        assert cost.memory.weights_bytes == need.weights == model.params / (plan.tp * plan.pp)
        assert cost.kv_bytes_per_token == model.kv_elements_per_token / plan.pp * kv_share(model, plan.tp)
    with pytest.raises(CapacityError, match=r"tp2.*per chip"):
        _cost(hgx.chip, load_model("llama-3.1-405b"), p, Parallelism(tp=2), FreeLinks())


def test_more_tensor_parallelism_on_free_links_is_never_slower(hgx):
    """Free links: each doubling of tp shortens the low-load latency and, under load, does
    not lower the throughput."""
    model, p = load_model("llama-3.1-8b"), Precision()
    e2e, tput = [], []
    for tp in (1, 2, 4, 8):
        cost = _cost(hgx.chip, model, p, Parallelism(tp=tp), FreeLinks())
        reqs = make_requests(_requests(3, 0.01))
        e2e.append(summarize(simulate(cost, Serving(scheduler=SCHED), reqs))["e2e_mean_s"])
        reqs = make_requests(_requests(150, 200.0, kind="poisson"))
        tput.append(summarize(simulate(cost, Serving(scheduler=SCHED), reqs))["output_tokens_per_s"])
    assert e2e == sorted(e2e, reverse=True) and e2e[-1] < e2e[0]
    assert tput == sorted(tput)


def test_pipeline_round_is_pp_stage_times(hgx):
    """A decode iteration of pp sequences runs them as pp micro-batches: pp x (one
    micro-batch's stage time + send)."""
    model, p = load_model("llama-3.1-8b"), Precision()
    two = _cost(hgx.chip, model, p, Parallelism(pp=2), FreeLinks())
    one = _cost(hgx.chip, model, p, Parallelism(), FreeLinks())
    half = two.time_s([], 1, 1000) / 2  # one sequence: one micro-batch through half the layers
    assert two.time_s([], 2, 2000) == pytest.approx(2 * half, rel=1e-9)
    assert 0.4 * one.time_s([], 1, 1000) < half < 0.6 * one.time_s([], 1, 1000)


def test_bad_plans_are_config_errors(hgx):
    model, p = load_model("llama-3.1-8b"), Precision()
    with pytest.raises(ConfigError, match="replicas"):
        _cost(hgx.chip, model, p, Parallelism(tp=2, dp=2), FreeLinks())
    with pytest.raises(ConfigError, match="does not divide"):
        _cost(hgx.chip, model, p, Parallelism(tp=3), FreeLinks())


def test_a_stack_that_pads_heads_runs_the_same_model_in_both_engines():
    """Neuron on Inf2 at 12 chips (24 NeuronCores) runs Llama-3.1-8B's 32 heads padded to
    the fullest core in the DES as in predict: low-load TTFT and TPOT agree within 1%."""
    from sim.catalog import load_stack

    model, p = load_model("llama-3.1-8b"), Precision.uniform("bf16")
    dep = Deployment.on_system(load_system("Inf2-48xlarge"), Parallelism(tp=12)).with_stack(load_stack("neuron"))
    reqs = make_requests(_requests(3, 0.01))
    row = summarize(simulate(iteration_cost(dep, model, p, SCHED, reqs), Serving(scheduler=SCHED), reqs))
    ref = predict(dep, model, Workload(phase="generate", batch=1, input_len=IN, output_len=OUT, precision=p),
                  default_economics())
    assert row["ttft_mean_s"] == pytest.approx(ref.ttft_s, rel=0.01)
    assert row["tpot_mean_s"] == pytest.approx(ref.tpot_s, rel=0.01)
