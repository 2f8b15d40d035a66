"""The discrete-event serving engine (simpy): arrivals, a router, one process per chip
running iterations, and, for disaggregated pools, KV-cache transfers over links.

One simpy event per arrival, per iteration and per transfer, never per token: an
iteration's duration comes from the ``IterationCost`` of the chip, and the policy
advances all its requests at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import simpy

from sim.analytical.iteration import IterationCost
from sim.des.policies import Policy, policy_class, token_budget
from sim.des.record import Recorder, ServingResult
from sim.des.request import Request
from sim.des.spec import Disaggregation, Serving
from sim.errors import CapacityError, ConfigError, SimError
from sim.units import GB, US


class Replica:
    """One model instance (a chip, or the chips of a plan): a policy, its iteration cost, and the simpy process that drives them."""

    def __init__(self, env: simpy.Environment, index: int, policy: Policy, cost: IterationCost,
                 rec: Recorder, on_handoff: Callable[[Replica, Request], None] | None = None) -> None:
        self.env, self.index, self.policy, self.cost, self.rec = env, index, policy, cost, rec
        self.on_handoff = on_handoff
        self._wake: simpy.Event | None = None
        self.outstanding = 0
        env.process(self._run())

    def submit(self, req: Request) -> None:
        req.replica = self.index
        self.outstanding += 1
        self.policy.enqueue(req, self.env.now)
        self.rec.queue_changed(self.env.now)
        self.poke()

    def poke(self) -> None:
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def _run(self):
        env, policy, cost, rec = self.env, self.policy, self.cost, self.rec
        while True:
            it = policy.schedule(env.now)
            if it is None:
                self._wake = env.event()
                yield self._wake
                self._wake = None
                continue
            rec.queue_changed(env.now)
            start = env.now
            spent = cost.spent(it.prefill, it.decode_count, it.decode_cached, it.sampled)
            yield env.timeout(spent.time_s)
            finished, handed = policy.complete(it, env.now)
            rec.iteration(self.index, start, env.now - start, it, policy,
                          spent.joules + cost.active_W * cost.chips * spent.time_s)
            self.outstanding -= len(finished) + len(handed)
            rec.finished(finished)
            for req in handed:
                self.on_handoff(self, req)  # type: ignore[misc]


def _router(replicas: list[Replica]) -> Callable[[Request], None]:
    """Send each request to the replica with the fewest outstanding requests."""
    if len(replicas) == 1:
        return replicas[0].submit
    return lambda req: min(replicas, key=lambda r: r.outstanding).submit(req)


def _check(requests: list[Request], policy: Policy, budget: int, name: str) -> None:
    kv = policy.kv
    for r in requests:
        if kv.blocks(r.max_context) > kv.total:
            raise CapacityError(
                f"request {r.id} ({r.input_len} + {r.output_len} tokens) needs "
                f"{kv.blocks(r.max_context)} KV blocks; {name} has {kv.total}")
        if not policy.chunks_prompts and r.max_context - 1 > budget:
            raise ConfigError(
                f"request {r.id} may prefill {r.max_context - 1} tokens at once, over "
                f"max_batched_tokens {budget}; raise it or use the chunked policy")


def simulate(cost: IterationCost, serving: Serving, requests: list[Request],
             decode_cost: IterationCost | None = None) -> ServingResult:
    """Serve ``requests`` (fresh, in arrival order) and record what happened. With
    disaggregation, ``cost`` is the prefill chip's and ``decode_cost`` (default: the same)
    the decode chip's."""
    if any(r.spans or r.finish_s >= 0 for r in requests):
        raise ConfigError("these requests were already served; make new ones (make_requests)")
    wall = time.perf_counter()
    env = simpy.Environment()
    sched = serving.scheduler
    cls = policy_class(sched.policy)
    budget = token_budget(sched, requests)
    spec = sched.model_copy(update={"max_batched_tokens": budget})

    def make(c: IterationCost, hand_off: bool = False) -> Policy:
        blocks = sched.kv_blocks or c.kv_capacity_tokens // sched.block_tokens
        return cls(spec, blocks, hand_off=hand_off)

    rec = Recorder()
    if serving.disaggregation is None:
        replicas = [Replica(env, i, make(cost), cost, rec) for i in range(serving.replicas)]
        entry = _router(replicas)
    else:
        if cls.reserves_full_context:
            raise ConfigError(f"policy {sched.policy} cannot run disaggregated pools; use continuous or chunked")
        replicas, entry = _disaggregated(env, serving.disaggregation, make, cost, decode_cost or cost, rec)
    for r in replicas:
        _check(requests, r.policy, budget, f"chip {r.index}")
    rec.watch([r.policy for r in replicas], [r.cost.idle_W * r.cost.chips for r in replicas])

    def arrivals():
        for req in requests:
            if req.arrival_s > env.now:
                yield env.timeout(req.arrival_s - env.now)
            rec.arrivals += 1
            entry(req)

    env.process(arrivals())
    env.run()
    if rec.done < len(requests):
        raise SimError(f"{len(requests) - rec.done} of {len(requests)} requests never finished: "
                       f"the {sched.policy} policy stalled (a bug; please report the inputs)")
    return rec.result(requests, [r.policy for r in replicas], time.perf_counter() - wall)


def _disaggregated(env: simpy.Environment, dis: Disaggregation, make: Callable[..., Policy],
                   cost: IterationCost, dcost: IterationCost, rec: Recorder):
    """Prefill chips hand finished prompts to a link (one per prefill chip, one transfer
    at a time); the KV cache arrives at the least-loaded decode chip."""
    decoders = [Replica(env, dis.prefill_replicas + i, make(dcost), dcost, rec) for i in range(dis.decode_replicas)]
    to_decode = _router(decoders)
    links = [simpy.Resource(env, 1) for _ in range(dis.prefill_replicas)]
    per_token_s = cost.kv_bytes_per_token / (dis.link_GBps * GB)

    def transfer(src: Replica, req: Request):
        with links[src.index].request() as slot:
            yield slot
            yield env.timeout(req.cached * per_token_s + dis.link_latency_us * US)
        src.policy.release(req)
        src.poke()
        req.span("transfer", env.now)
        rec.transfers += 1
        to_decode(req)

    def handoff(src: Replica, req: Request) -> None:
        env.process(transfer(src, req))

    prefillers = [Replica(env, i, make(cost, hand_off=True), cost, rec, handoff) for i in range(dis.prefill_replicas)]
    return prefillers + decoders, _router(prefillers)
