"""Speed of the serving DES: Llama-3.1-8B on one H100, continuous batching.

    python benchmarks/bench_des.py [--counts 1000 10000 100000] [--policy continuous]

Workload (a synthetic chat-like mix chosen for this benchmark, not a measured trace):
Poisson arrivals at 20 requests/s (about 75% of this engine's capacity, so queues stay
bounded), lognormal prompt lengths (median 512, sigma 0.8, at most 4096) and output
lengths (median 256, sigma 0.8, at most 2048). Wall time includes building the cost
oracle and filling its cache; an event is one arrival or one iteration.
"""

from __future__ import annotations

import argparse
import sys
import time

from sim.catalog import load_chip, load_model
from sim.des import (
    Arrivals,
    Lengths,
    Requests,
    Scheduler,
    Serving,
    iteration_cost,
    make_requests,
    simulate,
    summarize,
)
from sim.workload.spec import Precision

RATE_PER_S = 20.0


def run(count: int, policy: str) -> dict:
    chip, model = load_chip("H100"), load_model("Llama-3.1-8B")
    spec = Requests(count=count, arrivals=Arrivals(rate_per_s=RATE_PER_S), seed=0,
                    input=Lengths(kind="lognormal", median=512, sigma=0.8, high=4096),
                    output=Lengths(kind="lognormal", median=256, sigma=0.8, high=2048))
    sched = Scheduler(policy=policy)
    t0 = time.perf_counter()
    reqs = make_requests(spec)
    cost = iteration_cost(chip, model, Precision(), sched, reqs)
    res = simulate(cost, Serving(scheduler=sched), reqs)
    wall = time.perf_counter() - t0
    row = summarize(res)
    return {"count": count, "wall_s": wall, "events": res.events, "us_per_event": wall / res.events * 1e6,
            "iterations": res.iterations, "cost_entries": len(cost._cache),
            "sim_s": row["duration_s"], "tok_per_s": row["output_tokens_per_s"]}


def training_step() -> dict:
    """Speed of the training-step DES: GPT-3 175B on 1,024 H100s (HGX-H100-8GPU nodes),
    tp8 pp16 dp8, interleaved 1F1B with vpp 2, global batch 1536 of 2048 tokens (the
    size of Narayanan et al. 2021's 175B runs). Wall time includes costing the step's
    components and simulating pp = 16 stage processes."""
    from sim.catalog import load_system
    from sim.deployment import Deployment
    from sim.des.pipeline import simulate_training
    from sim.workload.parallel import Parallelism
    from sim.workload.training import TrainingJob

    model = load_model("gpt-3-175b")
    plan = Parallelism(tp=8, pp=16, dp=8, schedule="interleaved", vpp=2)
    job = TrainingJob(global_batch=1536, seq_len=2048)
    dep = Deployment.on_system(load_system("HGX-H100-8GPU"), plan)
    t0 = time.perf_counter()
    res = simulate_training(dep, model, job)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "events": res.events, "step_s": res.step_time_s,
            "bubble": res.bubble_share(0), "peak_in_flight": res.peak_in_flight}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--policy", default="continuous")
    ap.add_argument("--training-step", action="store_true", help="also time one GPT-3 175B step on 1,024 H100s")
    args = ap.parse_args()
    print(f"Llama-3.1-8B on H100, {args.policy} batching, Poisson {RATE_PER_S:g} req/s")
    print(f"{'requests':>9} {'wall s':>8} {'events':>9} {'us/event':>9} {'iterations':>10} "
          f"{'cost entries':>12} {'simulated s':>11} {'out tok/s':>10}")
    for n in args.counts:
        r = run(n, args.policy)
        print(f"{r['count']:>9} {r['wall_s']:>8.2f} {r['events']:>9} {r['us_per_event']:>9.1f} "
              f"{r['iterations']:>10} {r['cost_entries']:>12} {r['sim_s']:>11.0f} {r['tok_per_s']:>10.0f}")
    if args.training_step:
        t = training_step()
        print(f"GPT-3 175B step on 1,024 H100s (tp8 pp16 dp8, interleaved vpp2, batch 1536x2048): "
              f"wall {t['wall_s']:.2f} s, {t['events']} events, simulated step {t['step_s']:.3f} s, "
              f"stage-0 bubble {t['bubble']:.1%}, peak {t['peak_in_flight']:.1f} micro-batches in flight")
    return 0


if __name__ == "__main__":
    sys.exit(main())
