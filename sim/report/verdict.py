"""A claim's verdict, point by point: does it hold at every point of the sweep, at none, or
only where some axes take some values?

Each claim (a finding with ``claimed``) is tested at every point it applies to: a compare's
ratio per matched pair, a threshold's value per row, a bound per row, a match's card ratio
per card count of the reference system. The verdict line then says where it holds, in the
simplest terms the sweep allows: one axis (``phase = decode``, ``batch >= 64``), two axes
joined by "and", or, when neither separates the points exactly, the share of points and the
one-axis description that fits best, with its exceptions counted.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from typing import Any

from sim.report import summary
from sim.report.spec import Finding

Row = dict[str, Any]
AXES = ("chip", *summary.MATCH_KEYS)


@dataclass(frozen=True)
class Tested:
    """One point a claim was tested at: its coordinates, its value and the outcome."""

    where: dict[str, Any]
    value: float | str
    holds: bool
    band: tuple[float, float] | None = None  # where the value lies given the model's measured error

    def uncertain(self, f: Finding) -> bool:
        """Whether the claim's outcome differs somewhere inside the band."""
        if self.band is None:
            return False
        lo, hi = self.band
        if isinstance(f.claimed, list):
            c0, c1 = f.claimed
            return not (c0 <= lo and hi <= c1) and not (hi < c0 or lo > c1)
        return f.holds(lo) != f.holds(hi)


RatioBands = dict[str, dict[str, tuple[float, float]]]  # metric -> scope -> (low, high) factor on a ratio


def tested_points(rows: list[Row], f: Finding, canonical, ratio_bands: RatioBands | None = None) -> list[Tested]:
    """Every point ``f``'s claim applies to, with its value, whether the claim holds and
    the band the value lies in (a ratio's from ``ratio_bands``, the measured error of
    comparisons, else from the two sides' own bands)."""
    rows = summary.ok(summary.selected(rows, f))
    if f.kind == "compare":
        of, to = canonical(f.of), canonical(f.to)
        pairs = [p for ps in summary.matched_pairs(rows, [], of, to).values() for p in ps]
        return [Tested(_coords(a), v, f.holds(v), _ratio_band(a, b, f.metric, v, ratio_bands or {}))
                for a, b in pairs for v in summary.ratios([(a, b)], f.metric)]
    if f.kind == "match":
        return _match_points(rows, f, canonical(f.of), canonical(f.to))
    chip = canonical(f.of) if f.of else None
    mine = [r for r in rows if chip is None or r["chip"] == chip]
    if f.kind == "bound":
        return [Tested(_coords(r), str(r["bound"]), f.holds(str(r["bound"]))) for r in mine]
    return [Tested(_coords(r), r[f.metric], f.holds(r[f.metric]), _band(r, f.metric)) for r in mine
            if summary.num(r.get(f.metric)) is not None]


def _band(r: Row, metric: str) -> tuple[float, float] | None:
    lo, hi = summary.num(r.get(f"{metric}_low")), summary.num(r.get(f"{metric}_high"))
    return (lo, hi) if lo is not None and hi is not None else None


def _ratio_band(a: Row, b: Row, metric: str, ratio: float, ratio_bands: RatioBands) -> tuple[float, float] | None:
    """The ratio a / b times the measured error band of comparisons at this scope; without
    one, with each side anywhere in its own band (the errors taken as independent: the
    widest the ratio can be)."""
    scope = "multi-card" if max(int(a.get("cards") or 1), int(b.get("cards") or 1)) > 1 else "single-chip"
    factor = ratio_bands.get(metric, {}).get(scope)
    if factor is not None:
        return ratio * factor[0], ratio * factor[1]
    ba, bb = _band(a, metric), _band(b, metric)
    if ba is None or bb is None or bb[0] <= 0:
        return None
    return ba[0] / bb[1], ba[1] / bb[0]


def _coords(r: Row) -> dict[str, Any]:
    coords = {k: r.get(k, "") for k in AXES}
    if r.get("plan"):
        coords["plan_index"] = r["plan"]
    return coords


def _match_points(rows: list[Row], f: Finding, of: str, to: str) -> list[Tested]:
    """Per group of ``f.by`` and card count of ``to``: the fewest cards of ``of`` reaching
    ``to``'s best ``metric``, over ``to``'s cards (infinite when none does)."""
    out = []
    for key, group in summary.grouped(rows, f.by).items():
        mine = summary.best_by_cards(group, of, f.metric)
        for cards, target in sorted(summary.best_by_cards(group, to, f.metric).items()):
            enough = [n for n, v in sorted(mine.items()) if v >= target]
            ratio = enough[0] / cards if enough else float("inf")
            out.append(Tested({**dict(zip(f.by, key, strict=True)), "cards": cards}, ratio, f.holds(ratio)))
    return out


def verdict_line(rows: list[Row], f: Finding, canonical, ratio_bands: RatioBands | None = None) -> str:
    """One line: the claim, then holds / does not hold / holds only when ..., with the
    values the sweep found."""
    tested = tested_points(rows, f, canonical, ratio_bands)
    claim = f"{f.text or f.claim_text()} [tested: {f.claim_text()}]"
    if not tested:
        return f"{claim}: **not tested**: no point of the sweep ran where it applies."
    return _outcome(claim, tested) + _band_note(tested, f)


def _band_note(tested: list[Tested], f: Finding) -> str:
    """How many verdicts could flip within the model's measured error bands."""
    banded = [t for t in tested if t.band is not None]
    if not banded:
        return ""
    flips = sum(t.uncertain(f) for t in banded)
    if not flips:
        return f" Within the error bands it stands at all {len(banded)} banded points."
    return (f" Within the error bands (80% of held-out measurements; for a ratio, the measured error of "
            f"comparisons) it could go either way at {flips} of {len(banded)} points.")


def _outcome(claim: str, tested: list[Tested]) -> str:
    held = [t for t in tested if t.holds]
    n = len(tested)
    if len(held) == n:
        return f"{claim}: **holds** at all {n} points ({_values(tested)})."
    if not held:
        return f"{claim}: **does not hold** at any of {n} points ({_values(tested)})."
    how, text = conditions(tested)
    failed = [t for t in tested if not t.holds]
    there = f"where it holds {_values(held)}, elsewhere {_values(failed)}"
    head = {"only": f"holds only when {text}", "except": f"holds except when {text}"}.get(how)
    if head:
        return f"{claim}: **{head}** ({len(held)} of {n} points; {there})."
    where = {"namely": f", namely at {text}", "mostly": f", mostly when {text}",
             "mostly_not": f"; it fails mostly when {text}"}.get(how, "; no rule of one or two axes tells where")
    return f"{claim}: **holds at {len(held)} of {n} points**{where} ({there})."


def _values(tested: list[Tested]) -> str:
    vals = [t.value for t in tested]
    if all(isinstance(v, str) for v in vals):
        counts = {v: vals.count(v) for v in dict.fromkeys(vals)}
        return ", ".join(f"{v} at {c}" for v, c in counts.items())
    nums = sorted(float(v) for v in vals)
    finite = [v for v in nums if v != float("inf")]
    none = len(nums) - len(finite)
    span = (f"{_num(finite[0])}-{_num(finite[-1])}, median {_num(statistics.median(finite))}"
            if finite and finite[0] != finite[-1] else (_num(finite[0]) if finite else ""))
    miss = f"never reached at {none}" if none else ""
    return "; ".join(p for p in (span, miss) if p)


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10_000 else f"{x:.3g}"


def conditions(tested: list[Tested]) -> tuple[str, str]:
    """Where the claim holds, as (how, text), ``how`` one of:

    - ``only``: up to three axes, each restricted to the values where the claim held
      somewhere, joined by "and", pick out exactly the points where it holds;
    - ``except``: the same picks out exactly the points where it fails;
    - ``namely``: no such rule, and it holds at three points or fewer: those points;
    - ``mostly`` / ``mostly_not``: the rule of one or two axis conditions (a value, all but
      a value, a numeric range's end) that agrees with the most points, for where it holds
      or where it fails, with the exceptions counted; ``none`` when no rule beats "holds
      everywhere" or "nowhere"."""
    axes = [a for a in AXES if len({_key(t.where.get(a, "")) for t in tested}) > 1]
    held = sum(1 << i for i, t in enumerate(tested) if t.holds)
    every = (1 << len(tested)) - 1
    masks: dict[tuple[str, frozenset], int] = {}

    def mask(axis: str, vals: frozenset) -> int:
        if (axis, vals) not in masks:
            masks[(axis, vals)] = sum(1 << i for i, t in enumerate(tested) if _key(t.where.get(axis, "")) in vals)
        return masks[(axis, vals)]

    def joined(rule: tuple) -> int:
        m = every
        for a, v in rule:
            m &= mask(a, v)
        return m

    def text(rule: tuple) -> str:
        return " and ".join(_describe(tested, a, set(v)) for a, v in rule)

    values = {a: sorted({_key(t.where.get(a, "")) for t in tested}, key=lambda v: (isinstance(v, str), v))
              for a in axes}
    for how, target in (("only", held), ("except", every & ~held)):
        touched = [(a, vals) for a in axes
                   if (vals := frozenset(_key(t.where.get(a, "")) for i, t in enumerate(tested) if target >> i & 1))
                   != frozenset(values[a])]
        for k in (1, 2, 3):
            for rule in itertools.combinations(touched, k):
                if joined(rule) == target:
                    return how, text(rule)
    holding = [t for t in tested if t.holds]
    if len(holding) <= 3:
        return "namely", "; ".join(", ".join(f"{summary.axis_name(a)}={summary.coordinate(a, t.where.get(a))}" for a in axes)
                                   for t in holding)
    singles = [((a, frozenset(v)),) for a in axes for v in _candidate_sets(values[a])]
    rules = singles + [(r1[0], r2[0]) for r1, r2 in itertools.combinations(singles, 2) if r1[0][0] != r2[0][0]]
    fails = len(tested) - len(holding)
    trivial = min(len(holding), fails)
    scored = [(bin(joined(r) ^ target).count("1"), len(r), how, r)
              for how, target in (("mostly", held), ("mostly_not", every & ~held)) for r in rules]
    if not scored or min(scored)[0] >= trivial:
        return "none", ""
    wrong, _, how, rule = min(scored, key=lambda x: x[:2])
    return how, f"{text(rule)} ({wrong} of {len(tested)} points are exceptions)"


def _candidate_sets(values: list) -> list[set]:
    """The non-trivial value sets a rule may use on one axis: each end of a numeric range,
    or one value and all but one value."""
    if all(isinstance(v, (int, float)) for v in values):
        return [set(values[:i]) for i in range(1, len(values))] + [set(values[i:]) for i in range(1, len(values))]
    out = [{v} for v in values]
    return out + ([set(values) - {v} for v in values] if len(values) > 2 else [])


def _key(v: Any) -> Any:
    return v if isinstance(v, (int, float)) else str(v)


def _mostly(tested: list[Tested], axis: str) -> set:
    """The values of ``axis`` at which the claim holds at at least half of their points (the
    value where it holds most often when there is none)."""
    by_value: dict[Any, list[bool]] = {}
    for t in tested:
        by_value.setdefault(_key(t.where.get(axis, "")), []).append(t.holds)
    share = {v: sum(hs) / len(hs) for v, hs in by_value.items()}
    return {v for v, x in share.items() if x >= 0.5} or {max(share, key=lambda v: share[v])}


def _explains(tested: list[Tested], conds: list[tuple[str, set]]) -> bool:
    return all(t.holds == all(_key(t.where.get(a, "")) in vals for a, vals in conds) for t in tested)


def _agreement(tested: list[Tested], axis: str, vals: set) -> int:
    return sum(t.holds == (_key(t.where.get(axis, "")) in vals) for t in tested)


def _describe(tested: list[Tested], axis: str, vals: set) -> str:
    """``axis >= v`` or ``axis <= v`` when the values form an end of a numeric range, else
    ``axis = v`` / ``axis in {a, b}``."""
    name = summary.axis_name(axis)
    every = sorted({_key(t.where.get(axis, "")) for t in tested}, key=lambda v: (isinstance(v, str), v))
    numeric = all(isinstance(v, (int, float)) for v in every)
    inside = [v for v in every if v in vals]
    if numeric and 0 < len(inside) < len(every):
        if inside == every[-len(inside):]:
            return f"{name} >= {summary.coordinate(axis, inside[0])}"
        if inside == every[:len(inside)]:
            return f"{name} <= {summary.coordinate(axis, inside[-1])}"
    if len(inside) == 1:
        return f"{name} = {summary.coordinate(axis, inside[0])}"
    outside = [v for v in every if v not in vals]
    if len(outside) == 1 and len(every) > 2:
        return f"{name} != {summary.coordinate(axis, outside[0])}"
    return f"{name} in {{{', '.join(summary.coordinate(axis, v) for v in inside)}}}"
