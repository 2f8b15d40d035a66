"""Verdicts of compare findings, and the inputs that decide them with their break-even.

A compare finding's ratio (``of`` over ``to``, median over matched points) is recomputed
with one input scaled at a time, by running the matched points again through the study's
own ``fill``. An input *decides* the finding when scaling it by 1.25 moves the ratio by at
least 2% of that (its elasticity); for each such input the summary gives the value at which
the ratio reaches the claimed one (or parity, 1.0, when nothing is claimed), found by
scanning factors 1/20..20 and bisecting the crossing. Nothing here is typed in by hand: the
inputs, their status (assumed, derived, fitted, sourced: the first word of their source)
and the break-even values all come from the configs and the engine.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from sim.errors import SimError
from sim.report import summary
from sim.report.spec import Finding
from sim.scenario.load import ResolvedScenario
from sim.spec import field_value, revalidated, scaled

if TYPE_CHECKING:
    from sim.studies.base import Study

Row = dict[str, Any]

ENERGY_COST_METRICS = ("energy_j_per_token", "wall_energy_j_per_token", "avg_power_W", "system_power_W",
                       "cost_per_million_tokens", "energy_j_per_step", "wall_energy_j_per_step",
                       "energy_j_per_request", "electricity_cost_per_hour")
COST_METRICS = ("cost_per_million_tokens", "electricity_cost_per_hour")
PROBE = 1.25  # the step an input is scaled by to see whether it moves the ratio
MIN_ELASTICITY = 0.02
FACTORS = (1.25, 1.6, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0)  # scanned up and (as 1/x) down
SHOWN = 4  # inputs listed per group, the most decisive first
READING = ("How to read the verdicts: each ratio is recomputed with one input changed at a time. An input "
           "*decides* a ratio when its elasticity (the ratio's % change per % change of the input) is at least "
           f"{MIN_ELASTICITY:g}; the value given after it is where the ratio would reach the claim (or parity), "
           "all else equal. [assumed], [derived], [fitted] and [sourced] are the input's status in its config.")


@dataclass(frozen=True)
class Input:
    """A number the finding depends on: ``owner`` is a chip or system name, or "economics"."""

    owner: str
    field: str

    @property
    def name(self) -> str:
        return f"{self.owner} {self.field}"


def wanted(f: Finding) -> bool:
    """Whether a finding gets a verdict or a sensitivity section."""
    return f.kind == "compare" and (f.claimed is not None or bool(f.sensitivity)
                                    or (f.sensitivity is None and f.metric in ENERGY_COST_METRICS))


def verdict_lines(scn: ResolvedScenario, st: Study, rows: list[Row], f: Finding) -> list[str]:
    """Per group: the verdict against the claim, and each deciding input's break-even."""
    of, to = scn.canonical_chip(f.of or ""), scn.canonical_chip(f.to or "")
    rows = summary.selected(rows, f)
    inputs = _explicit(f.sensitivity, scn) if f.sensitivity else _default_inputs(scn, (of, to), f.metric)
    out = []
    for key, pairs in summary.matched_pairs(rows, f.by, of, to).items():
        values = summary.ratios(pairs, f.metric)
        if not values:
            continue
        now = statistics.median(values)
        head = summary.label(f.by, key)
        target = _target(f, now)
        if f.claimed is not None:
            out.append(f"{head}: verdict: the claim ({f.claim_text()}) "
                       f"{'holds' if f.holds(now) else 'does not hold'} ({now:.2f}x).")
        ratio_at = _ratio_function(scn, st, pairs, f.metric)
        decisive = []
        for inp in inputs:
            r = ratio_at(inp, PROBE)
            if r is None or now <= 0 or r <= 0:
                continue
            elasticity = math.log(r / now) / math.log(PROBE)
            if abs(elasticity) >= MIN_ELASTICITY:
                decisive.append((abs(elasticity), elasticity, inp))
        decisive.sort(key=lambda t: -t[0])
        what = f"the claimed {target:g}x" if f.claimed is not None else "parity (1.00x)"
        if not decisive:
            out.append(f"{head}: no input moves the ratio ({now:.2f}x) by {MIN_ELASTICITY:.0%} per 25%.")
            continue
        parts = [_break_even_text(scn, inp, e, now, target, ratio_at) for _, e, inp in decisive[:SHOWN]]
        out.append(f"{head}: inputs that decide it (ratio {now:.2f}x; value at which it reaches {what}): "
                   + "; ".join(parts) + ".")
    return out


def _target(f: Finding, now: float) -> float:
    """The ratio a break-even is sought at: the claimed one (the nearer end of a range), or
    parity when nothing is claimed."""
    if isinstance(f.claimed, list):
        return min(f.claimed, key=lambda c: abs(math.log(c / now)) if now > 0 else c)
    return float(f.claimed) if isinstance(f.claimed, (int, float)) else 1.0


def _break_even_text(scn: ResolvedScenario, inp: Input, elasticity: float, now: float, target: float,
                     ratio_at: Callable[[Input, float], float | None]) -> str:
    value = field_value(_owner_spec(scn, inp.owner), inp.field)
    shown = _fmt(value)
    status = _status(scn, inp)
    where = f"{inp.name} = {shown} [{status}, elasticity {elasticity:+.2f}]"
    if math.isclose(now, target, rel_tol=1e-3):
        return f"{where}: at break-even now"
    factor, refused = _crossing(inp, now, target, elasticity, ratio_at)
    if factor is not None:
        return f"{where}: {_fmt(value, factor)} (x{factor:.2g})"
    if refused is not None:
        return f"{where}: none before the value its config allows ends (x{refused:.2g} is refused)"
    return f"{where}: no break-even for x{1 / FACTORS[-1]:g}-x{FACTORS[-1]:g} of it"


def _crossing(inp: Input, now: float, target: float, elasticity: float,
              ratio_at: Callable[[Input, float], float | None]) -> tuple[float | None, float | None]:
    """The factor on ``inp`` at which the ratio reaches ``target`` (or None within the scan),
    and the first factor the input's validators refuse, if the scan met one."""
    up = (target > now) == (elasticity > 0)  # which way moves the ratio toward the target
    last_f, last_r = 1.0, now
    for step in FACTORS:
        f = step if up else 1 / step
        r = ratio_at(inp, f)
        if r is None:  # the field's validators refuse it (idle above TDP...): stop there
            return None, f
        if (r - target) * (last_r - target) <= 0:
            lo, hi, r_lo = last_f, f, last_r
            for _ in range(12):  # bisect in log space: 12 halvings of at most ln(1.6) is < 0.1%
                mid = math.sqrt(lo * hi)
                r_mid = ratio_at(inp, mid)
                if r_mid is None:
                    return None, mid
                if (r_mid - target) * (r_lo - target) <= 0:
                    hi = mid
                else:
                    lo, r_lo = mid, r_mid
            return math.sqrt(lo * hi), None
        last_f, last_r = f, r
    return None, None


def _ratio_function(scn: ResolvedScenario, st: Study, pairs: list[tuple[Row, Row]],
                    metric: str) -> Callable[[Input, float], float | None]:
    """Median ratio of ``metric`` over ``pairs`` with one input scaled (None: not a valid value)."""
    cache: dict[tuple[Input, float], float | None] = {}

    def at(inp: Input, factor: float) -> float | None:
        key = (inp, round(factor, 9))
        if key not in cache:
            cache[key] = _evaluate(scn, st, pairs, metric, inp, factor)
        return cache[key]

    return at


def _evaluate(scn: ResolvedScenario, st: Study, pairs: list[tuple[Row, Row]], metric: str, inp: Input,
              factor: float) -> float | None:
    try:
        changed = _scaled_scenario(scn, inp, factor)
    except (ValidationError, ValueError):
        return None
    context = st.context(changed)
    values = []
    for a, b in pairs:
        ra, rb = (_refill(st, context, r) for r in (a, b))
        if ra is not None and rb is not None:
            values.extend(summary.ratios([(ra, rb)], metric))
    return statistics.median(values) if values else None


def _refill(st: Study, context: Any, row: Row) -> Row | None:
    fresh = {k: copy.copy(v) for k, v in row.items()}
    fresh["roofline"] = False
    try:
        st.fill(context, fresh)
    except SimError:
        return None
    return fresh


def _owner_spec(scn: ResolvedScenario, owner: str) -> Any:
    if owner == "economics":
        return scn.economics
    if owner in scn.chips:
        return scn.chips[owner]
    return scn.systems[owner]


def _scaled_scenario(scn: ResolvedScenario, inp: Input, factor: float) -> ResolvedScenario:
    """``scn`` with one input times ``factor``, re-validated (so an impossible value raises)."""
    if inp.owner == "economics":
        return dataclasses.replace(scn, economics=revalidated(scaled(scn.economics, inp.field, factor)))
    if inp.owner in scn.chips:
        return dataclasses.replace(scn, chips={**scn.chips, inp.owner: revalidated(scaled(scn.chips[inp.owner],
                                                                                         inp.field, factor))})
    system = scn.systems[inp.owner]
    if inp.field.startswith("chip."):
        chip = revalidated(scaled(system.chip, inp.field.removeprefix("chip."), factor))
        new_system = system.model_copy(update={"chip": chip})
    else:
        new_system = scaled(system, inp.field, factor)
        revalidated(new_system.model_copy(update={"chip": system.chip}))  # only to check the value
    return dataclasses.replace(scn, systems={**scn.systems, inp.owner: new_system})


def _chip_fields(chip: Any, metric: str) -> list[str]:
    fields = ["power.idle_W", "power.active_W", "compute.energy_pJ_per_flop",
              *(f"memory.{name}.energy_pJ_per_bit" for name in chip.memory)]
    if metric in COST_METRICS:
        fields.append("price.purchase_USD" if chip.price.purchase_USD is not None else "price.cloud_USD_per_hour")
    return fields


def _default_inputs(scn: ResolvedScenario, owners: tuple[str, ...], metric: str) -> list[Input]:
    """Every power, energy and (for costs) price input of the two sides, and the economics."""
    inputs = []
    for owner in owners:
        if owner in scn.chips:
            inputs += [Input(owner, f) for f in _chip_fields(scn.chips[owner], metric)]
        elif owner in scn.systems:
            system = scn.systems[owner]
            inputs += [Input(owner, f"chip.{f}") for f in _chip_fields(system.chip, metric)]
            if system.node.power_W is not None:
                inputs.append(Input(owner, "node.power_W"))
            if metric in COST_METRICS and system.node.price_USD > 0:
                inputs.append(Input(owner, "node.price_USD"))
            inputs += [Input(owner, f"{fabric}.energy_pJ_per_bit") for fabric in ("scale_up", "scale_out")
                       if getattr(system, fabric) is not None]
    if metric in COST_METRICS:
        inputs += [Input("economics", f) for f in ("electricity_price_per_kWh", "pue", "amortization_years")]
    return inputs


def _explicit(names: list[str], scn: ResolvedScenario) -> list[Input]:
    out = []
    for name in names:
        owner, _, dotted = name.partition(":")
        out.append(Input(scn.canonical_chip(owner) if owner != "economics" else owner, dotted))
    return out


def _status(scn: ResolvedScenario, inp: Input) -> str:
    """assumed / derived / fitted / sourced, from the first word of the input's source."""
    spec = _owner_spec(scn, inp.owner)
    dotted = inp.field
    if inp.owner in scn.systems and dotted.startswith("chip."):
        spec, dotted = spec.chip, dotted.removeprefix("chip.")
    sources = getattr(spec, "sources", {}) or {}
    text = sources.get(dotted) or sources.get(dotted.rsplit(".", 1)[0]) or sources.get("*", "")
    word = text.split(":")[0].split()[0].lower() if text.strip() else "unsourced"
    return {"assumed": "assumed", "derived": "derived", "fitted": "fitted"}.get(word, "sourced")


def _fmt(value: Any, factor: float = 1.0) -> str:
    """A number, or a per-format mapping shown by its first entry (all entries scale)."""
    if isinstance(value, dict):
        key = "bf16" if "bf16" in value else next(iter(value))
        return f"{key} {_number(value[key] * factor)} (every format scaled)"
    return _number(value * factor)


def _number(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


__all__ = ["verdict_lines", "wanted"]
