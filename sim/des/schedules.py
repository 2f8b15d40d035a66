"""Pipeline-parallel schedules: the order in which one pipeline stage runs its forward and
backward tasks over a step's micro-batches. Pure functions, no simpy.

A task is ``(kind, micro_batch, chunk)`` with kind "F" or "B" and ``chunk`` the stage's
model chunk (always 0 without interleaving). Model chunk ``c`` of stage ``r`` holds the
model's ``c * p + r``-th slice of layers, so a micro-batch's forward visits stages
0..p-1 for chunk 0, then 0..p-1 for chunk 1, and so on; its backward runs in reverse.

- ``gpipe`` (Huang et al. 2019, arXiv:1811.06965): all forwards, then all backwards;
  m micro-batches of activations in flight.
- ``1f1b`` (PipeDream-Flush; Narayanan et al. 2021, arXiv:2104.04473, §2.2): p - r - 1
  warm-up forwards on stage r, then one forward / one backward alternating, then the
  remaining backwards; at most p in flight.
- ``interleaved`` (ibid. §2.2; Megatron-LM ``forward_backward_pipelining_with_interleaving``):
  v chunks per stage, micro-batches taken p at a time per chunk, (p - r - 1)·2 + (v - 1)·p
  warm-up chunk-forwards on stage r (all of them when m = p).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from sim.errors import ConfigError, UnsupportedError


class Task(NamedTuple):
    kind: Literal["F", "B"]
    micro_batch: int
    chunk: int


def stage_order(schedule: str, stages: int, micro_batches: int, rank: int, vpp: int = 1) -> list[Task]:
    """The tasks stage ``rank`` of ``stages`` runs in one step, in order."""
    p, m, v = stages, micro_batches, vpp
    if not 0 <= rank < p:
        raise ConfigError(f"stage {rank} is outside a {p}-stage pipeline")
    if m < 1:
        raise ConfigError(f"a step needs at least one micro-batch (got {m})")
    if schedule == "gpipe":
        return [Task("F", j, 0) for j in range(m)] + [Task("B", j, 0) for j in range(m)]
    if schedule == "1f1b":
        return _one_f_one_b(p, m, min(p - rank - 1, m), lambda k: Task("F", k, 0), lambda k: Task("B", k, 0))
    if schedule == "interleaved":
        return _interleaved(p, m, rank, v)
    raise ConfigError(f"unknown pipeline schedule '{schedule}' (one of: gpipe, 1f1b, interleaved)")


def _one_f_one_b(p: int, total: int, warmup: int, fwd, bwd) -> list[Task]:
    order = [fwd(k) for k in range(warmup)]
    for k in range(total - warmup):
        order += [fwd(warmup + k), bwd(k)]
    return order + [bwd(k) for k in range(total - warmup, total)]


def _interleaved(p: int, m: int, rank: int, v: int) -> list[Task]:
    if m % p:
        raise UnsupportedError(f"the interleaved schedule needs micro-batches ({m}) to be a multiple of the "
                               f"pipeline stages ({p}), as Megatron-LM requires")
    total = m * v
    group = p * v

    def micro(k: int) -> int:
        return (k // group) * p + k % p

    def chunk(k: int, forward: bool) -> int:
        c = (k % group) // p
        return c if forward else v - 1 - c

    warmup = total if m == p else min((p - rank - 1) * 2 + (v - 1) * p, total)
    return _one_f_one_b(p, total, warmup, lambda k: Task("F", micro(k), chunk(k, True)),
                        lambda k: Task("B", micro(k), chunk(k, False)))
