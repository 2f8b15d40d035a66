"""The serving engine: agreement with the analytical engine where there is no queueing,
queueing identities, determinism, limits the policies must respect."""

from __future__ import annotations

import numpy as np
import pytest

from sim import default_economics, predict
from sim.catalog import load_chip, load_model
from sim.des import (
    Arrivals,
    Disaggregation,
    Lengths,
    Requests,
    Scheduler,
    Serving,
    Slo,
    iteration_cost,
    make_requests,
    simulate,
    summarize,
)
from sim.errors import CapacityError, ConfigError, UnsupportedError
from sim.workload.spec import Precision, Workload

P = Precision()
IN, OUT = 512, 128


@pytest.fixture(scope="module")
def h100_8b():
    return load_chip("H100"), load_model("llama-3.1-8b")


def _fixed(count: int, rate: float, kind: str = "poisson", seed: int = 0, inp: int = IN, out: int = OUT) -> Requests:
    return Requests(count=count, arrivals=Arrivals(kind=kind, rate_per_s=rate),
                    input=Lengths(value=inp), output=Lengths(value=out), seed=seed)


def _run(chip, model, spec: Requests, scheduler: Scheduler, **serving):
    reqs = make_requests(spec)
    sv = Serving(scheduler=scheduler, **serving)
    return simulate(iteration_cost(chip, model, P, scheduler, reqs), sv, reqs)


@pytest.mark.parametrize("policy", ["static", "continuous", "chunked"])
def test_low_load_matches_the_analytical_single_request(h100_8b, policy):
    """Requests far apart never queue or share a batch: TTFT, TPOT and end-to-end latency
    equal the analytical generate point at batch 1 within 1%."""
    chip, model = h100_8b
    res = _run(chip, model, _fixed(4, 0.01, kind="constant"), Scheduler(policy=policy))
    ref = predict(chip, model, Workload(phase="generate", batch=1, input_len=IN, output_len=OUT), default_economics())
    row = summarize(res)
    assert row["ttft_mean_s"] == pytest.approx(ref.ttft_s, rel=0.01)
    assert row["tpot_mean_s"] == pytest.approx(ref.tpot_s, rel=0.01)
    assert row["e2e_mean_s"] == pytest.approx(ref.e2e_latency_s, rel=0.01)
    assert row["queue_wait_mean_s"] == 0.0


def test_littles_law_on_the_waiting_queue(h100_8b):
    """Time-averaged queue length = arrival rate x mean wait (the recorder's queue log
    against the requests' own timelines)."""
    chip, model = h100_8b
    row = summarize(_run(chip, model, _fixed(400, 60.0, seed=3), Scheduler(policy="continuous", max_seqs=32)))
    assert row["queue_len_mean"] > 1.0  # the queue really forms
    assert row["queue_len_mean"] == pytest.approx(row["little_rate_x_wait"], rel=0.05)


def test_same_seed_same_result_other_seed_differs(h100_8b):
    chip, model = h100_8b
    spec = Requests(count=200, arrivals=Arrivals(kind="gamma", rate_per_s=20, cv=2.0),
                    input=Lengths(kind="lognormal", median=400, sigma=0.6, high=2000),
                    output=Lengths(kind="uniform", low=16, high=200), seed=7)
    rows = [summarize(_run(chip, model, s, Scheduler(policy="chunked")))
            for s in (spec, spec, spec.model_copy(update={"seed": 8}))]
    for r in rows:
        r.pop("wall_s")
        r.pop("us_per_event")
    assert rows[0] == rows[1]
    assert rows[0] != rows[2]


@pytest.mark.parametrize("policy", ["static", "continuous", "chunked"])
def test_throughput_never_exceeds_the_analytical_maximum(h100_8b, policy):
    """Every iteration emits at most ``max_seqs`` tokens and takes at least a decode step
    of that many sequences over the shortest context, so output tokens/s stays under the
    analytical decode throughput at that batch; an overloaded engine gets close to it."""
    chip, model = h100_8b
    batch = 32
    res = _run(chip, model, _fixed(300, 500.0), Scheduler(policy=policy, max_seqs=batch))
    bound = predict(chip, model, Workload(phase="decode", batch=batch, input_len=IN), default_economics())
    tput = summarize(res)["output_tokens_per_s"]
    assert tput <= bound.throughput_tokens_per_s
    assert tput > 0.5 * bound.throughput_tokens_per_s


def test_tiny_kv_budget_preempts_and_everyone_finishes(h100_8b):
    chip, model = h100_8b
    blocks = 3 * IN // 16 + 8  # three prompts fit, their outputs do not
    for policy in ("continuous", "chunked"):
        res = _run(chip, model, _fixed(40, 200.0), Scheduler(policy=policy, kv_blocks=blocks))
        assert res.preemptions > 0
        assert all(r.finish_s > 0 and r.generated == r.output_len for r in res.requests)
        assert max(res.kv_peak) <= blocks
        assert res.iter_kv_used.max() <= blocks


def test_static_batching_reserves_and_never_preempts(h100_8b):
    chip, model = h100_8b
    blocks = 3 * (IN + OUT) // 16
    res = _run(chip, model, _fixed(40, 200.0), Scheduler(policy="static", kv_blocks=blocks))
    assert res.preemptions == 0
    assert res.iter_decode.max() <= 3
    assert all(r.finish_s > 0 for r in res.requests)


def test_chunked_prefill_respects_the_token_budget(h100_8b):
    chip, model = h100_8b
    budget = 256
    res = _run(chip, model, _fixed(60, 50.0, inp=1000, out=32), Scheduler(policy="chunked", max_batched_tokens=budget))
    assert (res.iter_prefill_tokens + res.iter_decode).max() <= budget
    assert (res.iter_prefill_tokens > 0).sum() >= 60 * 1000 / budget  # every prompt was split
    assert ((res.iter_prefill_tokens > 0) & (res.iter_decode > 0)).any()  # mixed iterations
    assert all(r.finish_s > 0 for r in res.requests)


def test_replicas_share_the_load(h100_8b):
    chip, model = h100_8b
    spec = _fixed(200, 80.0)
    one = summarize(_run(chip, model, spec, Scheduler(max_seqs=16)))
    two = summarize(_run(chip, model, spec, Scheduler(max_seqs=16), replicas=2))
    assert two["e2e_mean_s"] < one["e2e_mean_s"]


def test_disaggregated_adds_the_kv_transfer(h100_8b):
    """At low load, disaggregated latency = colocated latency + KV bytes / link bandwidth
    + link latency (prefill on one chip, decode on another)."""
    chip, model = h100_8b
    spec = _fixed(3, 0.01, kind="constant")
    link = Disaggregation(link_GBps=10.0, link_latency_us=50.0)
    sched = Scheduler(policy="continuous")
    colo = summarize(_run(chip, model, spec, sched))
    dis_res = _run(chip, model, spec, sched, disaggregation=link)
    dis = summarize(dis_res)
    transfer = IN * model.kv_elements_per_token * P.kv_bytes / 10e9 + 50e-6
    assert dis["ttft_mean_s"] == pytest.approx(colo["ttft_mean_s"], rel=1e-9)
    assert dis["e2e_mean_s"] - colo["e2e_mean_s"] == pytest.approx(transfer, rel=0.01)
    assert {r.replica for r in dis_res.requests} == {1}  # decoded on the decode chip


def test_goodput_counts_requests_within_the_slo(h100_8b):
    chip, model = h100_8b
    res = _run(chip, model, _fixed(100, 30.0), Scheduler())
    loose = summarize(res, Slo(ttft_s=1e3, tpot_s=1e3))
    tight = summarize(res, Slo(ttft_s=1e-6, tpot_s=1e-6))
    assert loose["slo_attainment"] == 1.0
    assert loose["goodput_req_per_s"] == pytest.approx(loose["request_throughput_per_s"])
    assert tight["goodput_req_per_s"] == 0.0


def test_arrival_processes_have_the_asked_rate():
    for kind, cv in (("poisson", None), ("constant", None), ("gamma", 3.0)):
        reqs = make_requests(Requests(count=20000, arrivals=Arrivals(kind=kind, rate_per_s=4.0, cv=cv),
                                      input=Lengths(value=8), output=Lengths(value=8)))
        gaps = np.diff([0.0] + [r.arrival_s for r in reqs])
        assert gaps.mean() == pytest.approx(0.25, rel=0.05)
        assert gaps.std() / gaps.mean() == pytest.approx({"poisson": 1.0, "constant": 0.0, "gamma": 3.0}[kind], abs=0.15)


def test_trace_replay(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text("arrival_s,input_len,output_len\n0.5,100,10\n0.1,200,20\n")
    reqs = make_requests(Requests(arrivals=Arrivals(kind="trace"), trace=str(path)))
    assert [(r.arrival_s, r.input_len, r.output_len) for r in reqs] == [(0.1, 200, 20), (0.5, 100, 10)]
    path.write_text("arrival_s,input_len\n0.5,100\n")
    with pytest.raises(ConfigError, match="missing output_len"):
        make_requests(Requests(arrivals=Arrivals(kind="trace"), trace=str(path)))
    path.write_text("arrival_s,input_len,output_len\nsoon,100,10\n")
    with pytest.raises(ConfigError, match=":2:"):
        make_requests(Requests(arrivals=Arrivals(kind="trace"), trace=str(path)))
    path.write_text("arrival_s,input_len,output_len\ninf,100,10\n")
    with pytest.raises(ConfigError, match="finite"):
        make_requests(Requests(arrivals=Arrivals(kind="trace"), trace=str(path)))


def test_a_trace_is_only_ever_a_readable_csv(tmp_path):
    """A trace names a .csv file; anything else (a catalog YAML, a binary, a folder) is one
    error, never read as requests or a traceback."""
    def load(p):
        return make_requests(Requests(arrivals=Arrivals(kind="trace"), trace=str(p)))

    with pytest.raises(ConfigError, match=r"a trace is a \.csv file"):
        load("configs/chips/H100.yaml")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 64)
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(binary)
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "dir.csv")


def test_bad_inputs_are_clear_errors(h100_8b):
    chip, model = h100_8b
    with pytest.raises(ConfigError, match="unknown scheduler policy"):
        _run(chip, model, _fixed(2, 1.0), Scheduler(policy="fifo"))
    with pytest.raises(CapacityError, match="KV blocks"):
        _run(chip, model, _fixed(2, 1.0), Scheduler(kv_blocks=4))
    with pytest.raises(ConfigError, match="chunked"):
        _run(chip, model, _fixed(2, 1.0, inp=4000), Scheduler(policy="continuous", max_batched_tokens=2048))
    with pytest.raises(UnsupportedError, match="context"):
        _run(chip, model, _fixed(2, 1.0, inp=200_000), Scheduler(policy="chunked"))


@pytest.mark.parametrize("policy", ["continuous", "chunked"])
def test_disaggregated_decode_pool_preempts_and_recomputes(h100_8b, policy):
    """A decode chip short of KV blocks preempts; the victims recompute there and finish."""
    chip, model = h100_8b
    sched = Scheduler(policy=policy, kv_blocks=3 * IN // 16 + 8)
    res = _run(chip, model, _fixed(30, 200.0), sched,
               disaggregation=Disaggregation(link_GBps=50.0, prefill_replicas=2, decode_replicas=1))
    assert res.preemptions > 0
    assert all(r.finish_s > 0 and r.generated == r.output_len for r in res.requests)
    with pytest.raises(ConfigError, match="disaggregated"):
        _run(chip, model, _fixed(3, 1.0), Scheduler(policy="static"), disaggregation=Disaggregation(link_GBps=50.0))


def test_one_request_alone_spends_the_analytical_energy(h100_8b):
    """Energy conservation: one request served alone costs the analytical generate point's
    energy (idle x time + active x running time + its flops and bytes) within 1%."""
    chip, model = h100_8b
    res = _run(chip, model, _fixed(1, 1.0, kind="constant"), Scheduler(policy="continuous"))
    ref = predict(chip, model, Workload(phase="generate", batch=1, input_len=IN, output_len=OUT), default_economics())
    row = summarize(res)
    assert row["energy_j_per_request"] == pytest.approx(ref.energy_j_per_token * OUT, rel=0.01)
    assert row["avg_power_W"] == pytest.approx(ref.avg_power_W, rel=0.01)


def test_power_over_time_stays_between_idle_and_tdp_and_integrates_to_the_energy(h100_8b):
    from sim.des import power_series, time_series

    chip, model = h100_8b
    res = _run(chip, model, _fixed(60, 20.0), Scheduler(policy="chunked"))
    per_iteration = time_series(res)["power_W"]
    assert (per_iteration >= chip.power.idle_W).all() and (per_iteration <= chip.power.tdp_W * (1 + 1e-9)).all()
    series = power_series(res, bins=50)
    end = float((res.iter_start_s + res.iter_dur_s).max())
    integrated = float(series["power_W"].sum() * end / 50)
    assert integrated == pytest.approx(chip.power.idle_W * end + res.iter_joules.sum(), rel=1e-9)


LOW_LOAD_CASES = [  # one per chip class, single chips and plans; SN40L alone has a tiered memory (HBM + DDR)
    ("SambaNova-SN40L", None, 1, 1, "llama-3.1-8b"), ("SN40L-Node-8", "system", 8, 1, "llama-3.1-70b"),
    ("TPU-v5p", None, 1, 1, "llama-3.1-8b"), ("TPU-v5p-Pod", "system", 4, 1, "llama-3.1-70b"),
    ("Cerebras-WSE-3", None, 1, 1, "llama-3.1-8b"), ("Cerebras-CS3-Cluster", "system", 1, 4, "llama-3.1-70b"),
    ("Groq-LPU-Cluster", "system", 8, 16, "llama-3.1-8b"), ("HGX-H100-8GPU", "system", 4, 2, "llama-3.1-70b"),
]


@pytest.mark.parametrize("where,kind,tp,pp,model_name", LOW_LOAD_CASES)
def test_low_load_matches_the_analytical_engine_on_every_chip_class(where, kind, tp, pp, model_name):
    """Requests ten service times apart (so none queues or shares a batch): every policy's
    TTFT, TPOT and end-to-end latency equal ``predict`` at batch 1 within 1%, on every chip
    class. On a tiered memory this needs the serving cache placed by what the iteration's
    sequences hold, as predict places its batch, not by the whole reserved KV pool (which
    put an 8B model's cache in SN40L's DDR: 7-8% slow)."""
    from sim import Parallelism
    from sim.catalog import load_deployment

    plan = Parallelism(tp=tp, pp=pp)
    dep = load_deployment(plan, system=where) if kind == "system" else load_deployment(plan, chip=where)
    model = load_model(model_name)
    ref = predict(dep, model, Workload(phase="generate", batch=1, input_len=IN, output_len=OUT), default_economics())
    for policy in ("static", "continuous", "chunked"):
        reqs = make_requests(_fixed(3, 0.1 / ref.e2e_latency_s, kind="constant"))
        sch = Scheduler(policy=policy)
        row = summarize(simulate(iteration_cost(dep, model, P, sch, reqs), Serving(scheduler=sch), reqs))
        assert row["ttft_mean_s"] == pytest.approx(ref.ttft_s, rel=0.01), policy
        assert row["tpot_mean_s"] == pytest.approx(ref.tpot_s, rel=0.01), policy
        assert row["e2e_mean_s"] == pytest.approx(ref.e2e_latency_s, rel=0.01), policy


def test_a_tiered_cache_spills_to_the_slower_tier_only_when_it_outgrows_the_faster():
    """SN40L: an 8B model's cache sits in HBM while it fits beside the weights (decode time
    as with a small cache), and a cache of millions of tokens spills to DDR (slower)."""
    from sim.analytical.iteration import ChipIterationCost

    cost = ChipIterationCost(load_chip("SambaNova-SN40L"), load_model("llama-3.1-8b"), P, max_batched_tokens=2048,
                             max_seqs=256)
    small, in_hbm, spilled = (cost.time_s([], 8, 8 * n) for n in (1_000, 20_000, 400_000))
    assert small < in_hbm < spilled
    per_token_hbm = (in_hbm - small) / (8 * 19_000)
    per_token_spilled = (spilled - in_hbm) / (8 * 380_000)
    assert per_token_spilled > 2 * per_token_hbm  # DDR reads cost more per cached token than HBM reads
