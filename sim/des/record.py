"""What a serving run records: every iteration, the waiting-queue length at every change,
and the requests' timelines; plain data for metrics and the trace."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.des.policies import Iteration, Policy
from sim.des.request import Request


@dataclass
class ServingResult:
    """A finished run. Iteration arrays are aligned; times in seconds.

    ``queue_t_s``/``queue_len``: requests waiting (all chips), a step function that takes
    ``queue_len[i]`` from ``queue_t_s[i]`` on. ``iter_kv_used``: the chip's KV blocks in
    use after the iteration, out of ``kv_blocks[replica]``. ``iter_joules``: what the
    instance's chips spent in the iteration above idle (their work and active power);
    ``idle_W[replica]``: what its chips draw all the time.
    """

    requests: list[Request]
    iter_replica: np.ndarray
    iter_start_s: np.ndarray
    iter_dur_s: np.ndarray
    iter_prefill_tokens: np.ndarray
    iter_decode: np.ndarray
    iter_waiting: np.ndarray
    iter_kv_used: np.ndarray
    iter_joules: np.ndarray
    queue_t_s: np.ndarray
    queue_len: np.ndarray
    kv_blocks: list[int]
    kv_peak: list[int]
    idle_W: list[float]
    preemptions: int
    events: int
    wall_s: float

    @property
    def iterations(self) -> int:
        return len(self.iter_start_s)


class Recorder:
    def __init__(self) -> None:
        self.arrivals = self.transfers = self.done = 0
        self._policies: list[Policy] = []
        self._idle_W: list[float] = []
        self._joules: list[float] = []
        self._qt: list[float] = [0.0]
        self._qn: list[int] = [0]
        self._it: list[tuple[int, float, float, int, int, int, int]] = []

    def watch(self, policies: list[Policy], idle_W: list[float]) -> None:
        self._policies, self._idle_W = policies, idle_W

    def queue_changed(self, now: float) -> None:
        n = 0
        for p in self._policies:
            n += len(p.waiting)
        if n != self._qn[-1]:
            self._qt.append(now)
            self._qn.append(n)

    def iteration(self, replica: int, start: float, dur: float, it: Iteration, p: Policy, joules: float) -> None:
        self._it.append((replica, start, dur, it.prefill_tokens, it.decode_count, len(p.waiting), p.kv.used))
        self._joules.append(joules)

    def finished(self, reqs: list[Request]) -> None:
        self.done += len(reqs)

    def result(self, requests: list[Request], policies: list[Policy], wall_s: float) -> ServingResult:
        cols = list(zip(*self._it, strict=True)) if self._it else [()] * 7
        ints = [np.asarray(c, dtype=np.int64) for c in (cols[0], cols[3], cols[4], cols[5], cols[6])]
        return ServingResult(
            requests=requests, iter_replica=ints[0], iter_start_s=np.asarray(cols[1], dtype=float),
            iter_dur_s=np.asarray(cols[2], dtype=float), iter_prefill_tokens=ints[1],
            iter_decode=ints[2], iter_waiting=ints[3], iter_kv_used=ints[4],
            iter_joules=np.asarray(self._joules, dtype=float), idle_W=list(self._idle_W),
            queue_t_s=np.asarray(self._qt), queue_len=np.asarray(self._qn),
            kv_blocks=[p.kv.total for p in policies], kv_peak=[p.kv.peak for p in policies],
            preemptions=sum(p.preemptions for p in policies),
            events=self.arrivals + len(self._it) + self.transfers, wall_s=wall_s,
        )
