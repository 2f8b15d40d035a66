"""``sim search``: which plan, batch and card count serve a model within latency targets
at the best throughput per chip?

Every chip count a system accepts up to a budget, every tensor x pipeline x data-parallel
split of it that divides the model, and every per-replica batch (powers of two up to
MAX_BATCH) is predicted by the analytical engine (a generate pass: prefill, then decode).
Points that fit and meet the targets (TTFT, TPOT, tokens/s) form the candidates; their
Pareto front trades tokens/s per chip (what the hardware earns) against tokens/s per user
(1 / TPOT: how fast one stream reads). The front's plans are then served, best first, on
the discrete-event engine under Poisson arrivals at a stated share of each plan's steady
rate, until one meets the targets at its 90th percentile: the plan the search stands by.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from sim.analytical.inference import predict
from sim.analytical.planner import chip_counts
from sim.deployment import Deployment
from sim.errors import SimError
from sim.parts.economics import Economics
from sim.system import SystemSpec
from sim.workload.model import ModelSpec
from sim.workload.parallel import Parallelism
from sim.workload.spec import Precision, Workload

MAX_BATCH = 256  # vLLM's default max_num_seqs: a batch per replica beyond it is not what engines run
LOAD = 0.8  # the confirming simulation offers 80% of a plan's steady rate (below saturation, queues stay short)
CONFIRM_REQUESTS = 200  # 200 arrivals give a p90 from 20 requests above it: a cap on the run's seconds, not physics
CONFIRM_TRIES = 5  # front plans simulated at most before the search says none was confirmed

Row = dict[str, Any]


@dataclass(frozen=True)
class Targets:
    ttft_s: float | None = None
    tpot_s: float | None = None
    min_tokens_per_s: float | None = None

    def met(self, ttft_s: float, tpot_s: float, tokens_per_s: float = float("inf")) -> bool:
        return ((self.ttft_s is None or ttft_s <= self.ttft_s) and (self.tpot_s is None or tpot_s <= self.tpot_s)
                and (self.min_tokens_per_s is None or tokens_per_s >= self.min_tokens_per_s))


@dataclass
class SearchResult:
    points: list[Row]  # every point tried (failed ones carry an error)
    front: list[Row]  # the Pareto front of the points meeting the targets, best tokens/s per chip first
    confirmed: Row | None = None  # the first front plan whose serving simulation met the targets
    simulations: list[Row] = field(default_factory=list)


def plans(n: int, model: ModelSpec) -> list[Parallelism]:
    """Every tp x pp x dp = n with tp dividing the attention heads and pp at most the layers."""
    out = []
    for tp, pp in itertools.product(range(1, n + 1), repeat=2):
        if n % (tp * pp) == 0 and model.heads % tp == 0 and pp <= model.layers:
            out.append(Parallelism(tp=tp, pp=pp, dp=n // (tp * pp)))
    return out


def search(model: ModelSpec, system: SystemSpec, max_chips: int, econ: Economics, precision: Precision,
           input_len: int, output_len: int, targets: Targets, confirm: bool = True) -> SearchResult:
    """Predict every plan and batch within ``max_chips``; the front; its first plan that a
    serving simulation confirms (when ``confirm``)."""
    points: list[Row] = []
    for n in _counts(system, max_chips):
        sized = system.sized(n)
        for plan in plans(n, model):
            dep = Deployment.on_system(sized, plan)
            batch = 1
            while batch <= MAX_BATCH:
                row: Row = {"chips": n, "plan": plan.label, "tp": plan.tp, "pp": plan.pp, "dp": plan.dp,
                            "batch_per_replica": batch, "batch": batch * plan.dp}
                wl = Workload(phase="generate", batch=batch * plan.dp, input_len=input_len, output_len=output_len,
                              precision=precision)
                try:
                    p = predict(dep, model, wl, econ)
                except SimError as err:
                    points.append({**row, "error": str(err)})
                    break  # a bigger batch fits no better
                row.update(error="", ttft_s=p.ttft_s, tpot_s=p.tpot_s, tokens_per_s=p.throughput_tokens_per_s,
                           tokens_per_s_per_chip=p.throughput_tokens_per_s / n, tokens_per_s_per_user=1 / p.tpot_s,
                           e2e_latency_s=p.e2e_latency_s, cost_per_million_tokens=p.cost_per_million_tokens,
                           waves=p.waves, meets=targets.met(p.ttft_s, p.tpot_s, p.throughput_tokens_per_s))
                points.append(row)
                if p.waves > 1:
                    break  # the KV cache is full: a bigger batch only queues
                batch *= 2
    front = pareto([r for r in points if not r["error"] and r["meets"]])
    result = SearchResult(points, front)
    if confirm:
        _confirm(result, model, system, precision, input_len, output_len, targets)
    return result


def _counts(system: SystemSpec, max_chips: int) -> list[int]:
    out = []
    for n in chip_counts(system):
        if n > max_chips:
            break
        out.append(n)
    return out


def pareto(rows: list[Row]) -> list[Row]:
    """The rows no other row beats on both tokens/s per chip and tokens/s per user, by
    tokens/s per chip, best first."""
    ranked = sorted(rows, key=lambda r: (-r["tokens_per_s_per_chip"], -r["tokens_per_s_per_user"]))
    front, best_user = [], -1.0
    for r in ranked:
        if r["tokens_per_s_per_user"] > best_user:
            front.append(r)
            best_user = r["tokens_per_s_per_user"]
    return front


def _confirm(result: SearchResult, model: ModelSpec, system: SystemSpec, precision: Precision, input_len: int,
             output_len: int, targets: Targets) -> None:
    """Serve the front's plans, best first, until one meets the targets at p90."""
    from sim.des import Arrivals, Lengths, Requests, Scheduler, Serving
    from sim.studies.serving import serve_once

    for r in result.front[:CONFIRM_TRIES]:
        instance = Parallelism(tp=r["tp"], pp=r["pp"])
        dep = Deployment.on_system(system.sized(instance.chips), instance)
        rate = LOAD * r["dp"] * r["batch_per_replica"] / r["e2e_latency_s"]
        req = Requests(count=CONFIRM_REQUESTS, arrivals=Arrivals(kind="poisson", rate_per_s=rate),
                       input=Lengths(value=input_len), output=Lengths(value=output_len))
        serving = Serving(replicas=r["dp"], scheduler=Scheduler(policy="continuous", max_seqs=r["batch_per_replica"]))
        sim = serve_once(dep, model, precision, req, serving)
        ok = targets.met(sim["ttft_p90_s"], sim["tpot_p90_s"])
        result.simulations.append({"plan": r["plan"], "chips": r["chips"], "batch_per_replica": r["batch_per_replica"],
                                   "rate_per_s": rate, "ttft_p90_s": sim["ttft_p90_s"],
                                   "tpot_p90_s": sim["tpot_p90_s"], "output_tokens_per_s": sim["output_tokens_per_s"],
                                   "meets": ok})
        if ok:
            result.confirmed = {**r, **{f"sim_{k}": v for k, v in result.simulations[-1].items()
                                        if k not in ("plan", "chips", "batch_per_replica", "meets")}}
            return
