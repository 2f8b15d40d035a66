"""One training step of a multi-card plan as a discrete-event timeline (simpy).

One simpy process per pipeline stage runs that stage's forward and backward tasks in its
schedule's order (``sim.des.schedules``); a task starts only once its input has arrived:
the activations (forward) or their gradients (backward) from the neighbouring stage.
Tensor- and data-parallel ranks of a stage are identical, so one chip per stage is
simulated: a 1,024-card job is ``pp`` processes.

Every duration comes from the analytical engine (``sim.analytical.training.step_components``,
the pieces ``predict_training`` adds up): a chunk's forward and backward are the stage's
per-micro-batch times (compute and tensor-parallel collectives) over ``vpp``; a send is
``p2p_s``. What the simulation adds is the order, the waiting and the overlap:

- each chip has a compute stream (its process) and a communication stream (a simpy
  resource of capacity 1 carrying its data-parallel reduction);
- pipeline sends travel over links, one simpy resource of capacity 1 per direction
  between two stages, so transfers on one link serialize. By default a send blocks the
  sender's compute stream until it lands (Megatron-LM's default blocking p2p, which
  ``predict_training`` assumes: sends on the critical path); ``overlap_p2p=True`` hands it
  to the link and computes on (Megatron's ``--overlap-p2p-communication``);
- the gradient reduction (all-reduce, or reduce-scatter under ZeRO 1-2) is issued in one
  bucket per layer: with ``plan.overlap_dp_comm`` a layer's bucket is ready when the last
  micro-batch's backward of its model chunk has passed that layer (layers finish at an
  even pace through the task), otherwise all buckets start after the last backward. The
  optimizer runs once the reduction is done; under ZeRO 1-2 the parameter all-gather that
  follows overlaps the next step's first forward (as ``predict_training`` counts it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import simpy

from sim.analytical.training import StepComponents, step_components
from sim.chips.base import ChipSpec
from sim.deployment import Deployment, as_deployment
from sim.des.schedules import Task, stage_order
from sim.errors import SimError, UnsupportedError
from sim.workload.model import ModelSpec
from sim.workload.parallel import Parallelism
from sim.workload.training import TrainingJob

COMPUTE, SEND, DP = "compute", "pipeline send", "data-parallel"


@dataclass(frozen=True)
class Span:
    """Something one stage's chip did on one track, in seconds from the step's start."""

    stage: int
    track: str
    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class StageStats:
    """Where one stage's step went (seconds). ``bubble_s`` is the time before the
    pipeline flush (the last backward anywhere) the compute stream neither computed nor
    waited on its own sends; ``dp_exposed_s`` the wait for the gradient reduction after
    its last backward; ``peak_in_flight`` the most micro-batches whose activations it held
    at once (model chunks count 1/vpp)."""

    stage: int
    compute_s: float
    send_blocked_s: float
    bubble_s: float
    dp_exposed_s: float
    optimizer_s: float
    finish_s: float
    peak_in_flight: float


@dataclass
class PipelineResult:
    """A simulated training step: its time, each stage's share, and the timeline."""

    step_time_s: float
    pipeline_s: float
    schedule: str
    pp: int
    vpp: int
    micro_batches: int
    stages: tuple[StageStats, ...]
    spans: list[Span] = field(default_factory=list)
    events: int = 0

    def bubble_share(self, stage: int = 0) -> float:
        """Share of the pipeline phase (up to the flush) stage ``stage`` sat idle."""
        return self.stages[stage].bubble_s / self.pipeline_s

    @property
    def peak_in_flight(self) -> float:
        """Micro-batches of activations held at once on the first stage (the most)."""
        return self.stages[0].peak_in_flight


def simulate_training(hardware: Deployment | ChipSpec, model: ModelSpec, job: TrainingJob,
                      overlap_p2p: bool = False) -> PipelineResult:
    """One optimizer step of ``job`` on a deployment as a timeline; durations from
    ``step_components`` (collectives priced by the deployment's links)."""
    dep = as_deployment(hardware)
    c = step_components(dep, model, job)
    return simulate_pipeline(c, dep.plan, dep.plan.stage_layers(model), overlap_p2p)


def simulate_pipeline(c: StepComponents, plan: Parallelism, layers_per_stage: int,
                      overlap_p2p: bool = False) -> PipelineResult:
    """Schedule ``c``'s tasks over ``plan.pp`` stages; ``layers_per_stage`` sets the number
    of gradient buckets (one per layer)."""
    if plan.zero >= 3:
        raise UnsupportedError("the pipeline DES models ZeRO stages 0-2; ZeRO-3's per-micro-batch parameter "
                               "gathers are priced by predict_training only")
    if layers_per_stage < plan.vpp or layers_per_stage % plan.vpp:
        raise UnsupportedError(f"{layers_per_stage} layers per stage do not split into vpp={plan.vpp} chunks")
    return _Pipeline(c, plan, layers_per_stage, overlap_p2p).run()


class _Pipeline:
    def __init__(self, c: StepComponents, plan: Parallelism, layers: int, overlap_p2p: bool) -> None:
        self.c, self.plan, self.layers, self.overlap_p2p = c, plan, layers, overlap_p2p
        self.p, self.v = plan.pp, plan.vpp
        self.dur = {"F": c.forward_s / self.v, "B": c.backward_s / self.v}
        self.env = simpy.Environment()
        self.links: dict[tuple[int, int], simpy.Resource] = {}
        self.arrivals: dict[tuple[str, int, int], simpy.Event] = {}
        self.spans: list[Span] = []
        self.events = 0
        self.stats: dict[int, StageStats] = {}
        self.last_compute: dict[int, float] = {}

    def run(self) -> PipelineResult:
        for r in range(self.p):
            self.env.process(self._stage(r, stage_order(self.plan.schedule, self.p, self.c.micro_batches, r, self.v)))
        self.env.run()
        if len(self.stats) != self.p:
            stuck = sorted(set(range(self.p)) - set(self.stats))
            raise SimError(f"pipeline schedule '{self.plan.schedule}' deadlocked: stages {stuck} never finished")
        stages = tuple(self.stats[r] for r in range(self.p))
        flush = max(self.last_compute.values())
        stages = tuple(StageStats(s.stage, s.compute_s, s.send_blocked_s, flush - s.compute_s - s.send_blocked_s,
                                  s.dp_exposed_s, s.optimizer_s, s.finish_s, s.peak_in_flight) for s in stages)
        return PipelineResult(max(s.finish_s for s in stages), flush, self.plan.schedule, self.p, self.v,
                              self.c.micro_batches, stages, self.spans, self.events)

    def _arrival(self, key: tuple[str, int, int]) -> simpy.Event:
        """The event of a micro-batch's input for global chunk ``key[2]`` arriving."""
        if key not in self.arrivals:
            self.arrivals[key] = self.env.event()
        return self.arrivals[key]

    def _stage(self, r: int, order: list[Task]):
        env, p, last_chunk = self.env, self.p, self.p * self.v - 1
        comm_stream = simpy.Resource(env, capacity=1)
        last_b = {t.chunk: i for i, t in enumerate(order) if t.kind == "B"}
        buckets: list[simpy.Process] = []
        compute = blocked = 0.0
        held = peak = 0
        for i, t in enumerate(order):
            g = t.chunk * p + r  # the task's slice of the model
            has_input = g > 0 if t.kind == "F" else g < last_chunk
            if has_input:
                yield self._arrival((t.kind, t.micro_batch, g))
            dur = self.dur[t.kind]
            start = env.now
            if t.kind == "B" and i == last_b[t.chunk] and self.plan.overlap_dp_comm:
                buckets += self._buckets(r, comm_stream, t.chunk, start, dur)
            yield env.timeout(dur)
            self.events += 1
            compute += dur
            self.spans.append(Span(r, COMPUTE, f"{t.kind}{t.micro_batch}" + (f".{t.chunk}" if self.v > 1 else ""),
                                   start, env.now))
            held += 1 if t.kind == "F" else -1
            peak = max(peak, held)
            nxt = g + 1 if t.kind == "F" else g - 1
            if 0 <= nxt <= last_chunk:
                sent = self._send(r, nxt % p, (t.kind, t.micro_batch, nxt))
                if sent is not None and not self.overlap_p2p:
                    t0 = env.now
                    yield sent
                    blocked += env.now - t0
        end = env.now
        self.last_compute[r] = end
        if not self.plan.overlap_dp_comm:
            for chunk in range(self.v):
                buckets += self._buckets(r, comm_stream, chunk, end, 0.0)
        if buckets:
            yield simpy.AllOf(env, buckets)
        dp_wait = env.now - end
        opt0 = env.now
        yield env.timeout(self.c.optimizer_s)
        self.spans.append(Span(r, COMPUTE, "optimizer", opt0, env.now))
        finish = env.now + self._gather_tail(r)
        self.stats[r] = StageStats(r, compute, blocked, 0.0, dp_wait, self.c.optimizer_s, finish, peak / self.v)

    def _send(self, src: int, dst: int, key: tuple[str, int, int]) -> simpy.Process | None:
        """Start a pipeline send; None when it is free (same chip, or free links)."""
        if src == dst or self.c.p2p_s <= 0:
            self._arrival(key).succeed()
            return None
        link = self.links.setdefault((src, dst), simpy.Resource(self.env, capacity=1))
        return self.env.process(self._transfer(link, src, key))

    def _transfer(self, link: simpy.Resource, src: int, key: tuple[str, int, int]):
        with link.request() as req:
            yield req
            t0 = self.env.now
            yield self.env.timeout(self.c.p2p_s)
        self.events += 1
        what = "activations" if key[0] == "F" else "gradients"
        self.spans.append(Span(src, SEND, f"{what} {key[1]} to {key[2] % self.p}", t0, self.env.now))
        self._arrival(key).succeed()

    def _buckets(self, r: int, stream: simpy.Resource, chunk: int, start: float, dur: float) -> list[simpy.Process]:
        """Gradient buckets of one model chunk, one per layer, ready as its last backward
        passes each layer (all at ``start`` when ``dur`` is 0)."""
        if self.c.dp_reduce_s <= 0:
            return []
        per_chunk = self.layers // self.v
        each = self.c.dp_reduce_s / self.layers
        return [self.env.process(self._bucket(r, stream, start + (k + 1) * dur / per_chunk, each, f"grads {chunk}.{k}"))
                for k in range(per_chunk)]

    def _bucket(self, r: int, stream: simpy.Resource, ready_s: float, dur: float, name: str):
        yield self.env.timeout(max(0.0, ready_s - self.env.now))
        with stream.request() as req:
            yield req
            t0 = self.env.now
            yield self.env.timeout(dur)
        self.events += 1
        self.spans.append(Span(r, DP, name, t0, self.env.now))

    def _gather_tail(self, r: int) -> float:
        """ZeRO 1-2: the parameter all-gather after the optimizer, hidden behind the next
        step's first forward when overlapped (that forward is not simulated)."""
        gather = self.c.dp_gather_s
        if gather <= 0:
            return 0.0
        now = self.env.now
        self.spans.append(Span(r, DP, "param all-gather", now, now + gather))
        return max(0.0, gather - self.c.forward_s) if self.plan.overlap_dp_comm else gather
