"""Collective communication cost on a system: one module per algorithm, registered by
name on import (``@algorithm``); ``collective_time_s`` picks the fastest that applies.

Sizes follow nccl-tests' "size" (see ``sim.comm.base``); bus bandwidth uses nccl-tests'
factors, so it compares with the bottleneck link's bandwidth.
"""

import importlib
import pkgutil

from sim.comm.base import KINDS, CollectiveKind, best_time_s, registered_algorithms
from sim.errors import ConfigError
from sim.system import SystemSpec

_INFRA = {"base", "grid", "links", "pricing"}
for _info in pkgutil.iter_modules(__path__):
    if _info.name not in _INFRA:
        importlib.import_module(f"{__name__}.{_info.name}")

_BUS_FACTOR = {
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "all_to_all": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
    "send_recv": lambda n: 1.0,
}


def collective_time_s(system: SystemSpec, kind: CollectiveKind, size_bytes: float,
                      group_size: int, group_stride: int = 1,
                      algorithm: str | None = None) -> float:
    """Seconds for one ``kind`` collective of ``size_bytes`` (nccl-tests size) over
    ``group_size`` ranks ``group_stride`` apart; ``algorithm`` None picks the fastest."""
    return best_time_s(system, kind, size_bytes, group_size, group_stride, algorithm)


def algorithm_bandwidth_GBps(size_bytes: float, time_s: float) -> float:
    """nccl-tests algBW: size / time, GB/s."""
    if time_s <= 0:
        raise ConfigError(f"time_s must be positive (got {time_s})")
    return size_bytes / time_s / 1e9


def bus_factor(kind: str, group_size: int) -> float:
    """nccl-tests' bus-bandwidth factor: bytes each rank sends per byte of size."""
    return _BUS_FACTOR[kind](group_size) if group_size > 1 else 0.0


def bus_bandwidth_GBps(kind: CollectiveKind, size_bytes: float, group_size: int,
                       time_s: float) -> float:
    """nccl-tests busBW: algBW x 2(n-1)/n (all-reduce), (n-1)/n (reduce-scatter,
    all-gather, all-to-all) or 1 (broadcast, send/recv), GB/s; 0 for one rank."""
    if kind not in KINDS:
        raise ConfigError(f"unknown collective '{kind}' (one of: {', '.join(KINDS)})")
    if group_size <= 1:
        return 0.0
    return algorithm_bandwidth_GBps(size_bytes, time_s) * _BUS_FACTOR[kind](group_size)


__all__ = ["CollectiveKind", "algorithm_bandwidth_GBps", "bus_bandwidth_GBps", "bus_factor",
           "collective_time_s", "registered_algorithms"]
