"""Collective kinds, the algorithm registry, and where a group's ranks sit.

An algorithm is one function ``time_s(system, group, kind, size_bytes) -> float | None``
registered with ``@algorithm("name")``; it returns None where it does not apply (wrong
topology or collective). ``best_time_s`` asks every registered algorithm, or one by name.

Sizes follow nccl-tests' "size" column: all_reduce and broadcast the buffer each rank
holds; reduce_scatter each rank's input (n x its output); all_gather each rank's output
(n x its input); all_to_all the bytes each rank sends in total (its own block included);
send_recv the bytes each rank sends (and receives).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import ceil
from typing import Literal, get_args

from sim.errors import ConfigError, UnsupportedError
from sim.system import SystemSpec

CollectiveKind = Literal["all_reduce", "reduce_scatter", "all_gather", "all_to_all",
                         "broadcast", "send_recv"]
KINDS: tuple[str, ...] = get_args(CollectiveKind)


@dataclass(frozen=True)
class Group:
    """``size`` ranks ``stride`` apart: ``per_node`` of them in each of ``nodes`` domains."""

    size: int
    stride: int
    per_node: int
    nodes: int


AlgorithmFn = Callable[[SystemSpec, Group, str, float], "float | None"]
_ALGORITHMS: dict[str, AlgorithmFn] = {}


def algorithm(name: str) -> Callable[[AlgorithmFn], AlgorithmFn]:
    """Function decorator: register a collective algorithm under ``name``."""

    def register(fn: AlgorithmFn) -> AlgorithmFn:
        _ALGORITHMS[name] = fn
        return fn

    return register


def registered_algorithms() -> tuple[str, ...]:
    return tuple(_ALGORITHMS)


def place(system: SystemSpec, size: int, stride: int) -> Group:
    """Where a group of ``size`` ranks ``stride`` apart (from rank 0) sits on ``system``."""
    if int(size) != size or size < 1 or int(stride) != stride or stride < 1:
        raise ConfigError(f"group_size and group_stride must be positive integers "
                          f"(got {size}, {stride})")
    span = (size - 1) * stride + 1
    if system.total_chips is not None and span > system.total_chips:
        raise ConfigError(f"a group of {size} ranks {stride} apart spans {span} ranks, but "
                          f"system {system.name} has {system.total_chips} chips")
    c = system.chips_per_node
    per_node = 1 if stride >= c else min(size, c // stride)
    nodes = ceil(size / per_node)
    if nodes > 1 and system.scale_out is None:
        raise UnsupportedError(f"a group of {size} ranks {stride} apart spans {nodes} "
                               f"scale-up domains, but system {system.name} has no scale-out "
                               f"fabric (at most {c} chips)")
    return Group(int(size), int(stride), per_node, nodes)


def protocol_views(system: SystemSpec, group: Group) -> list[tuple[str, SystemSpec]]:
    """The system as each protocol its collective library offers sees it (``Fabric.
    as_protocol``), for a group on it: a protocol the scale-out network lacks is not
    offered to a group that spans nodes. A system whose fabrics list no protocols is one
    view, named ''."""
    spans = group.nodes > 1
    hit = _VIEWS.get((id(system), spans))
    if hit is not None and hit[0] is system:
        return hit[1]
    if len(_VIEWS) > _MAX_VIEWS:
        _VIEWS.clear()
    views = _protocol_views(system, spans)
    _VIEWS[(id(system), spans)] = (system, views)  # the spec is kept, so its id is not reused
    return views


# (id of a system, spans nodes) -> (that system, its protocol views): building a view copies
# the system spec, once per collective priced otherwise
_VIEWS: dict[tuple[int, bool], tuple[SystemSpec, list[tuple[str, SystemSpec]]]] = {}
_MAX_VIEWS = 256


def _protocol_views(system: SystemSpec, spans_nodes: bool) -> list[tuple[str, SystemSpec]]:
    up, out = system.scale_up, system.scale_out
    names = up.protocol_names or (out.protocol_names if out is not None else ())
    if not names:
        return [("", system)]
    views = []
    for name in names:
        up_view = up.as_protocol(name)
        out_view = out.as_protocol(name) if out is not None else None
        if up_view is None or (spans_nodes and out_view is None):
            continue
        views.append((name, system.model_copy(update={"scale_up": up_view,
                                                      "scale_out": out_view or out})))
    return views


def available_by_protocol(system: SystemSpec, group: Group, kind: str,
                          size_bytes: float) -> dict[str, tuple[float, str]]:
    """Per registered algorithm that applies: its time (seconds) by the fastest protocol,
    and that protocol's name ('' where the fabrics list none)."""
    best: dict[str, tuple[float, str]] = {}
    for protocol, view in protocol_views(system, group):
        for name, fn in _ALGORITHMS.items():
            t = fn(view, group, kind, size_bytes)
            if t is not None and (name not in best or t < best[name][0]):
                best[name] = (t, protocol)
    return best


def available(system: SystemSpec, group: Group, kind: str, size_bytes: float) -> dict[str, float]:
    """Time of every registered algorithm that applies, by its fastest protocol, seconds."""
    return {name: t for name, (t, _) in available_by_protocol(system, group, kind, size_bytes).items()}


def algorithm_choices(system: SystemSpec, kind: str, size_bytes: float, group_size: int,
                      group_stride: int = 1) -> dict[str, tuple[float, str]]:
    """Per registered algorithm that applies to one collective: seconds by its fastest
    protocol, and the protocol (every one takes 0 for one rank or no bytes); a bad kind,
    size or group is an error."""
    if kind not in KINDS:
        raise ConfigError(f"unknown collective '{kind}' (one of: {', '.join(KINDS)})")
    if not size_bytes >= 0:
        raise ConfigError(f"size_bytes must be zero or more (got {size_bytes})")
    group = place(system, group_size, group_stride)
    if group.size == 1 or size_bytes == 0:
        return dict.fromkeys(_ALGORITHMS, (0.0, ""))
    return available_by_protocol(system, group, kind, float(size_bytes))


def algorithm_times_s(system: SystemSpec, kind: str, size_bytes: float, group_size: int,
                      group_stride: int = 1) -> dict[str, float]:
    """Seconds of one collective by every registered algorithm that applies (see
    ``algorithm_choices``)."""
    choices = algorithm_choices(system, kind, size_bytes, group_size, group_stride)
    return {name: t for name, (t, _) in choices.items()}


def best_time_s(system: SystemSpec, kind: str, size_bytes: float, group_size: int,
                group_stride: int = 1, algorithm: str | None = None) -> float:
    """Time of one collective, seconds: the named algorithm, or the fastest that applies."""
    times = algorithm_times_s(system, kind, size_bytes, group_size, group_stride)
    if algorithm is None and times:
        return min(times.values())
    if algorithm in times:
        return times[algorithm]
    where = f"{kind} over {group_size} ranks on {system.name} ({system.scale_up.topology})"
    offer = ", ".join(sorted(times)) or "none"
    what = f"algorithm '{algorithm}' does not apply to" if algorithm else "no algorithm for"
    raise UnsupportedError(f"{what} {where}; available: {offer}")
