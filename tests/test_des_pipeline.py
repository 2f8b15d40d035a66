"""The training-step DES (sim.des.pipeline): schedules, agreement with predict_training,
bubble, activations in flight, links, data-parallel overlap, trace, errors."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from sim.analytical.evaluate import PassCost
from sim.analytical.training import StepComponents, predict_training, step_components
from sim.catalog import load_chip, load_model, load_system
from sim.deployment import Deployment
from sim.des.pipeline import SEND, simulate_pipeline, simulate_training
from sim.des.schedules import stage_order
from sim.des.trace import pipeline_trace
from sim.errors import ConfigError, UnsupportedError
from sim.workload.parallel import Parallelism, bubble_fraction
from sim.workload.training import TrainingJob

PLANS = [  # schedule, pp, micro-batches, vpp
    ("1f1b", 4, 8, 1), ("1f1b", 2, 8, 1), ("1f1b", 8, 16, 1),
    ("gpipe", 4, 8, 1), ("gpipe", 2, 4, 1),
    ("interleaved", 4, 8, 2), ("interleaved", 4, 4, 2), ("interleaved", 2, 8, 4),
]


@pytest.fixture(scope="module")
def hw():
    return load_chip("H100"), load_model("llama-3.1-8b")


def _plan(schedule, pp, vpp, dp=1, **kw):
    return Parallelism(tp=2, pp=pp, dp=dp, schedule=schedule, vpp=vpp, **kw)


def _synthetic(m, fwd_s, bwd_s, p2p_s, dp_reduce_s=0.0, optimizer_s=0.0):
    """Step components with chosen durations (seconds), for schedule-level checks."""
    return StepComponents(m, PassCost(time_s=fwd_s), PassCost(time_s=bwd_s), p2p_s, PassCost(time_s=optimizer_s),
                          dp_reduce_s, 0.0, None)  # type: ignore[arg-type]


def _closed_form(c, plan):
    """predict_training's step from its pieces (no data-parallel communication); the
    interleaved schedule sends once per model chunk."""
    idle = (plan.pp - 1) / (plan.vpp if plan.schedule == "interleaved" else 1)
    return (c.micro_batches + idle) * (c.forward_s + c.backward_s + 2 * plan.vpp * c.p2p_s) + c.optimizer_s


@pytest.mark.parametrize("schedule,pp,m,vpp", PLANS)
def test_every_stage_runs_each_task_once_backward_after_forward(schedule, pp, m, vpp):
    for rank in range(pp):
        order = stage_order(schedule, pp, m, rank, vpp)
        assert Counter(order) == Counter((k, j, c) for k in "FB" for j in range(m) for c in range(vpp))
        done = set()
        for t in order:
            if t.kind == "B":
                assert ("F", t.micro_batch, t.chunk) in done
            done.add((t.kind, t.micro_batch, t.chunk))


def test_step_components_rebuild_predict_training(hw, econ):
    chip, model = hw
    job, plan = TrainingJob(global_batch=8, seq_len=2048), _plan("interleaved", 4, 2)
    dep = Deployment.on_system(load_system("HGX-H100-8GPU"), plan)
    c = step_components(dep, model, job)
    assert _closed_form(c, plan) == pytest.approx(predict_training(dep, model, job, econ).step_time_s, rel=1e-9)
    job, plan = TrainingJob(global_batch=16, seq_len=2048), _plan("1f1b", 2, 1, dp=2)
    dep = Deployment.on_system(load_system("HGX-H100-8GPU"), plan)
    c = step_components(dep, model, job)
    exposed = max(0.0, c.dp_reduce_s - c.backward_s)
    assert c.dp_reduce_s > 0
    assert _closed_form(c, plan) + exposed == pytest.approx(predict_training(dep, model, job, econ).step_time_s, rel=1e-9)


@pytest.mark.parametrize("schedule,pp,m,vpp", PLANS)
def test_free_links_match_predict_training(hw, econ, schedule, pp, m, vpp):
    chip, model = hw
    job, plan = TrainingJob(global_batch=m, seq_len=2048), _plan(schedule, pp, vpp)
    dep = Deployment.ideal(chip, plan)
    des = simulate_training(dep, model, job)
    assert des.step_time_s == pytest.approx(predict_training(dep, model, job, econ).step_time_s, rel=1e-9)


@pytest.mark.parametrize("schedule,pp,m,vpp", [p for p in PLANS if p[1] * 2 * 2 <= 16])
def test_real_system_matches_predict_training_within_2_percent(hw, econ, schedule, pp, m, vpp):
    chip, model = hw
    plan = _plan(schedule, pp, vpp, dp=2)
    job, dep = TrainingJob(global_batch=2 * m, seq_len=2048), Deployment.on_system(load_system("HGX-H100-8GPU"), plan)
    des = simulate_training(dep, model, job)
    assert des.step_time_s == pytest.approx(predict_training(dep, model, job, econ).step_time_s, rel=0.02)


@pytest.mark.parametrize("pp,m", [(2, 8), (4, 8), (8, 32), (4, 1)])
def test_1f1b_bubble_share_is_the_formula_on_every_stage(pp, m):
    res = simulate_pipeline(_synthetic(m, 1.0, 2.0, 0.0, optimizer_s=0.5), _plan("1f1b", pp, 1), 8)
    for s in range(pp):
        assert res.bubble_share(s) == pytest.approx(bubble_fraction("1f1b", pp, m), rel=1e-9)


def test_gpipe_and_1f1b_take_as_long_but_1f1b_holds_p_micro_batches():
    p, m, v = 4, 12, 2
    c = _synthetic(m, 1.0, 2.0, 0.0)
    gpipe, one = simulate_pipeline(c, _plan("gpipe", p, 1), 8), simulate_pipeline(c, _plan("1f1b", p, 1), 8)
    assert gpipe.step_time_s == pytest.approx(one.step_time_s, rel=1e-12)
    assert (gpipe.peak_in_flight, one.peak_in_flight) == (m, p)
    inter = simulate_pipeline(c, _plan("interleaved", p, v), 8)
    assert inter.peak_in_flight == pytest.approx(p * (1 + (p - 1) / (p * v)))  # what training_memory assumes


@pytest.mark.parametrize("schedule,vpp", [("1f1b", 1), ("gpipe", 1), ("interleaved", 2)])
def test_a_slow_link_never_speeds_up_the_step(schedule, vpp):
    m, plan = 8, _plan(schedule, 4, vpp)
    steps = [simulate_pipeline(_synthetic(m, 1.0, 2.0, s), plan, 8).step_time_s for s in (0.0, 0.1, 0.5, 2.0, 5.0)]
    assert steps == sorted(steps) and steps[-1] > steps[0]
    for s in (0.1, 2.0):
        c = _synthetic(m, 1.0, 2.0, s)
        blocking, overlapped = simulate_pipeline(c, plan, 8), simulate_pipeline(c, plan, 8, overlap_p2p=True)
        assert overlapped.step_time_s <= blocking.step_time_s + 1e-12
        analytical = _closed_form(c, plan)
        # The analytical step counts sends at the pipeline's two ends that never happen (3 at
        # most); interleaved, it also charges 2v sends in each of the (p-1)/v bubble slots.
        spare = 3 + (2 * (plan.pp - 1) if schedule == "interleaved" else 0)
        assert analytical - spare * s - 1e-9 <= blocking.step_time_s <= analytical + 1e-9


def test_transfers_on_one_link_serialize():
    """Overlapped sends slower than the forwards queue on the link: the last activation
    leaves stage 0 no sooner than m sends after the first."""
    m, send = 8, 3.0
    res = simulate_pipeline(_synthetic(m, 1.0, 2.0, send), _plan("gpipe", 2, 1), 8, overlap_p2p=True)
    spans = sorted((s for s in res.spans if s.stage == 0 and s.track == SEND), key=lambda s: s.start_s)
    assert len(spans) == m
    assert all(b.start_s >= a.end_s - 1e-12 for a, b in zip(spans, spans[1:], strict=False))
    assert spans[-1].end_s == pytest.approx(1.0 + m * send)


def test_gradient_buckets_overlap_the_last_backward():
    """Reduction T in L buckets ready at the pace of the last backward B: T - B + B/L is
    left after it, all of T without overlap."""
    T, B, L = 10.0, 4.0, 4
    c = _synthetic(4, 1.0, B, 0.0, dp_reduce_s=T, optimizer_s=0.5)
    over = simulate_pipeline(c, _plan("1f1b", 1, 1, dp=2), L)
    plain = simulate_pipeline(c, _plan("1f1b", 1, 1, dp=2, overlap_dp_comm=False), L)
    assert over.stages[0].dp_exposed_s == pytest.approx(T - B + B / L)
    assert plain.stages[0].dp_exposed_s == pytest.approx(T)
    assert plain.step_time_s - over.step_time_s == pytest.approx(B - B / L)


def test_same_inputs_same_timeline():
    c, plan = _synthetic(8, 1.0, 2.0, 0.3, dp_reduce_s=5.0), _plan("interleaved", 4, 2, dp=2)
    a, b = simulate_pipeline(c, plan, 8), simulate_pipeline(c, plan, 8)
    assert a.step_time_s == b.step_time_s and a.stages == b.stages and a.spans == b.spans


def test_trace_has_compute_and_communication_tracks_per_stage():
    p, m, v = 4, 8, 2
    res = simulate_pipeline(_synthetic(m, 1.0, 2.0, 0.3, dp_reduce_s=5.0), _plan("interleaved", p, v, dp=2), 8)
    trace = json.loads(json.dumps(pipeline_trace(res)))
    names = {(e["pid"], e["args"]["name"]) for e in trace["traceEvents"] if e["ph"] == "M"}
    for s in range(p):
        assert {(s + 1, f"stage {s}"), (s + 1, "compute"), (s + 1, "pipeline send"), (s + 1, "data-parallel")} <= names
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in spans)
    assert sum(1 for e in spans if e["tid"] == 1) == p * (2 * m * v + 1)  # tasks and the optimizer


def test_bad_inputs_are_clear_errors(hw):
    chip, model = hw
    with pytest.raises(UnsupportedError, match="ZeRO"):
        simulate_training(Deployment.ideal(chip, _plan("1f1b", 2, 1, dp=2, zero=3)), model, TrainingJob(global_batch=8, seq_len=2048))
    with pytest.raises(UnsupportedError, match="multiple of the pipeline stages"):
        simulate_training(Deployment.ideal(chip, _plan("interleaved", 4, 2)), model, TrainingJob(global_batch=6, seq_len=2048))
    with pytest.raises(ConfigError, match="global batch"):
        simulate_training(Deployment.ideal(chip, _plan("1f1b", 2, 1, dp=2)), model, TrainingJob(global_batch=7, seq_len=2048))
    with pytest.raises(ConfigError, match="unknown pipeline schedule"):
        stage_order("zigzag", 4, 8, 0)
