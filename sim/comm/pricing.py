"""Prices a parallelism plan's collectives: on a system's links (``SystemComm``, via the
algorithms of ``sim.comm``) or on free links; and one collective measured the nccl-tests
way (``CollectiveResult``)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Protocol

from sim.comm import (
    algorithm_bandwidth_GBps,
    bus_bandwidth_GBps,
    bus_factor,
    collective_time_s,
)
from sim.comm.base import CollectiveKind, algorithm_choices, place
from sim.errors import UnsupportedError
from sim.system import SystemSpec
from sim.workload.parallel import CommCall, Parallelism, group_size, group_stride


class CommCost(Protocol):
    """Prices a collective of a plan's group (sim.comm on a system, or free links): its
    time, and the energy one chip's links spend on it."""

    def time_s(self, call: CommCall, plan: Parallelism, mode: str) -> float: ...

    def energy_J(self, call: CommCall, plan: Parallelism, mode: str) -> float: ...


class FreeLinks:
    """Infinite bandwidth, zero latency, no energy: multi-card time is the compute split alone."""

    def time_s(self, call: CommCall, plan: Parallelism, mode: str) -> float:
        return 0.0

    def energy_J(self, call: CommCall, plan: Parallelism, mode: str) -> float:
        return 0.0


class SystemComm:
    """Collectives on a system's links (``sim.comm``), for a plan's rank layout. Send/recv
    between pipeline stages is one pair ``tp * dp`` ranks apart. Times are cached by
    (kind, bytes, group size, stride), which no plan changes."""

    def __init__(self, system: SystemSpec) -> None:
        self.system = system
        self._cache: dict[tuple, float] = {}

    def time_s(self, call: CommCall, plan: Parallelism, mode: str) -> float:
        size = 2 if call.kind == "send_recv" else group_size(plan, call.group)
        key = (call.kind, call.size_bytes, size, group_stride(plan, call.group, mode))
        if key not in self._cache:
            self._cache[key] = collective_time_s(self.system, call.kind, call.size_bytes, size, key[3])
        return self._cache[key]

    def energy_J(self, call: CommCall, plan: Parallelism, mode: str) -> float:
        """Bytes one chip sends (nccl-tests' bus-bandwidth bytes: 2(n-1)/n x size for an
        all-reduce, (n-1)/n for the others, size for a send) x the energy per byte of the
        level the group spans (scale-up inside a node, scale-out across nodes)."""
        size = 2 if call.kind == "send_recv" else group_size(plan, call.group)
        if size <= 1:
            return 0.0
        group = place(self.system, size, group_stride(plan, call.group, mode))
        fabric = self.system.scale_out if group.nodes > 1 and self.system.scale_out else self.system.scale_up
        return call.size_bytes * bus_factor(call.kind, size) * fabric.energy_J_per_byte


def comm_time_s(calls: list[CommCall], plan: Parallelism, comm: CommCost, mode: str) -> float:
    """Seconds for ``calls`` (each ``count`` times) one after another."""
    return sum(c.count * comm.time_s(c, plan, mode) for c in calls if c.count)


def comm_energy_J(calls: list[CommCall], plan: Parallelism, comm: CommCost, mode: str) -> float:
    """Joules one chip's links spend on ``calls``."""
    return sum(c.count * comm.energy_J(c, plan, mode) for c in calls if c.count)


@dataclass(frozen=True)
class CollectiveResult:
    """One collective as nccl-tests reports it: time, the fastest algorithm, algorithm and
    bus bandwidth (GB/s)."""

    time_s: float
    algorithm: str
    algbw_GBps: float
    busbw_GBps: float

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def metrics(self) -> dict[str, float | str]:
        return asdict(self)


def measure_collective(system: SystemSpec, kind: CollectiveKind, size_bytes: float, ranks: int) -> CollectiveResult:
    """One ``kind`` of ``size_bytes`` over ``ranks`` consecutive chips of ``system``, by the
    fastest algorithm and protocol that apply (named 'ring/LL128' where the fabric's
    library has protocols)."""
    try:
        choices = algorithm_choices(system, kind, size_bytes, ranks)
    except UnsupportedError:  # the group does not fit the system's fabrics
        choices = {}
    if not choices:
        raise UnsupportedError(f"no algorithm for {kind} over {ranks} ranks on {system.name}")
    best = min(choices, key=lambda name: choices[name][0])
    t, protocol = choices[best]
    return CollectiveResult(t, f"{best}/{protocol}" if protocol else best,
                            algorithm_bandwidth_GBps(size_bytes, t) if t else math.inf,
                            bus_bandwidth_GBps(kind, size_bytes, ranks, t) if t else math.inf)
