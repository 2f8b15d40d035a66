"""Plausibility bounds on a chip or system file's physical numbers, where a unit mistake is
likely (bytes typed as GB, TB/s typed as GB/s, kW typed as W, FLOPS typed as TFLOPS, ms or
ns typed as us, Gb/s typed as GB/s). Each bound is far wider than any shipped chip or system
(the widest shipped values are in the comment), so only a number off by orders of magnitude
stops; a file that really has one lists the field under ``plausibility_override`` and is
taken as written."""

from __future__ import annotations

from typing import Any

from sim.catalog.yaml_io import LocatedYaml
from sim.errors import ConfigError

OVERRIDE_KEY = "plausibility_override"

# field name -> (lowest, highest, unit); the field is the last key of its path, or for a
# per-format table (peak_dense_TFLOPS, energy_pJ_per_flop) the table's key.
BOUNDS: dict[str, tuple[float, float, str]] = {
    "capacity_GB": (0.01, 100_000.0, "GB"),  # shipped: 0.23 (Groq SRAM) to 1,500 (SN40L DDR)
    "bandwidth_GBps": (10.0, 100_000_000.0, "GB/s"),  # shipped: 100 (LPDDR) to 200,000 (wafer SRAM)
    "onchip_bandwidth_GBps": (10.0, 100_000_000.0, "GB/s"),  # shipped: 3,750 to 243,750
    "peak_dense_TFLOPS": (0.01, 1_000_000.0, "TFLOPS"),  # shipped: fp32 of small cards to a wafer's 125,000
    "tdp_W": (1.0, 100_000.0, "W"),  # shipped: 72 (L2) to 23,000 (CS-3 wafer)
    "idle_W": (0.0, 100_000.0, "W"),
    "active_W": (0.0, 100_000.0, "W"),
    "energy_pJ_per_bit": (0.01, 100.0, "pJ/bit"),  # shipped: 0.10 (SRAM) to 12 (DDR)
    "energy_pJ_per_flop": (0.0001, 100.0, "pJ/flop"),  # shipped: 0.03 to 7.5 (fp32)
    "purchase_USD": (10.0, 100_000_000.0, "USD"),  # shipped: 1,399 to 2,500,000 (a wafer system)
    # systems: links, latencies, what a node adds
    "link_bandwidth_GBps": (0.1, 100_000.0, "GB/s"),  # shipped: 3.125 (25 Gb/s DCN) to 150 (an NVLink 5 pair)
    "bisection_bandwidth_GBps": (0.1, 100_000_000.0, "GB/s"),  # shipped: 31.5 (a PCIe switch uplink)
    "base_latency_us": (0.0, 1_000.0, "us"),  # shipped: 0 to 14
    "step_latency_us": (0.0, 1_000.0, "us"),  # shipped: 0.6 to 5.7
    "hop_latency_us": (0.0, 1_000.0, "us"),  # shipped: 0.15 to 0.5
    "in_network_latency_us": (0.0, 1_000.0, "us"),  # shipped: 25
    "power_W": (0.0, 10_000_000.0, "W"),  # a node's own draw; shipped: 1,750 to 43,600 (a rack)
    "price_USD": (0.0, 100_000_000.0, "USD"),  # a node's own price; shipped: 235,000 to 480,000
}


def _numbers(data: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], float]]:
    if isinstance(data, dict):
        return [hit for k, v in data.items() if k != "sources" for hit in _numbers(v, (*path, str(k)))]
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return [(path, float(data))]
    return []


def _bound(path: tuple[str, ...]) -> tuple[float, float, str] | None:
    for key in (path[-1], path[-2] if len(path) > 1 else ""):
        if key in BOUNDS:
            return BOUNDS[key]
    return None


def overrides_of(doc: LocatedYaml, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``data`` without its override list, and the list (checked to be field paths)."""
    overrides = data.get(OVERRIDE_KEY, [])
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError(f"{doc.where((OVERRIDE_KEY,))}: {OVERRIDE_KEY}: a list of field paths "
                          "(e.g. [memory.hbm.bandwidth_GBps])")
    return {k: v for k, v in data.items() if k != OVERRIDE_KEY}, overrides


def check_plausible(doc: LocatedYaml, data: dict[str, Any], overrides: list[str]) -> None:
    """ConfigError at the first number outside its bound that ``overrides`` does not name,
    or at an override that names no number. Run after the schema (which rejects zero,
    negative and infinite values with its own message)."""
    numbers = dict(_numbers(data))
    for name in overrides:
        if tuple(name.split(".")) not in numbers:
            raise ConfigError(f"{doc.where((OVERRIDE_KEY,))}: {OVERRIDE_KEY}: {name} names no number in this file")
    for path, value in numbers.items():
        bound = _bound(path)
        dotted = ".".join(path)
        if bound is None or dotted in overrides:
            continue
        low, high, unit = bound
        if not low <= value <= high:
            raise ConfigError(f"{doc.where(path)}: {dotted} = {value:g} {unit} is outside the plausible "
                              f"{low:g}-{high:g} {unit} (a unit mistake?); if it is right, list it under "
                              f"{OVERRIDE_KEY}")
