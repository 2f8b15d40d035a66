"""summary.md: sentences and tables computed from the results rows, never typed in."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from sim.report.spec import Finding

Row = dict[str, Any]
MATCH_KEYS = ("model", "phase", "batch", "input_len", "output_len", "precision", "cards", "plan_index",
              "global_batch", "batch_per_replica", "seq_len", "collective", "size_bytes", "stack_axis")


def ok(rows: list[Row]) -> list[Row]:
    return [r for r in rows if not r.get("error")]


def grouped(rows: list[Row], by: list[str]) -> dict[tuple, list[Row]]:
    groups: dict[tuple, list[Row]] = defaultdict(list)
    for r in rows:
        groups[tuple(r.get(k, "") for k in by)].append(r)
    return dict(sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])))


def series_keys(rows: list[Row], axis: str) -> list[str]:
    """The keys that tell one series from another: the chip, and every other point key
    that takes more than one value in these rows (a constant says nothing). Plans are
    named by their label (tp8·pp2), not their index; along ``cards`` the plan is not a
    series key (each card count has its own plans: see ``fastest_per_x``)."""
    keys = [k for k in MATCH_KEYS if k != axis and not (axis == "cards" and k == "plan_index")]
    if any(r.get("plan") for r in rows) and axis != "cards":
        keys = ["plan" if k == "plan_index" else k for k in keys]
    return ["chip", *[k for k in keys if len({str(r.get(k, "")) for r in rows}) > 1]]


def selected(rows: list[Row], f: Finding) -> list[Row]:
    """The rows a finding's ``where`` keeps (numbers compare as numbers, so ``batch: [16]``
    matches 16 and 16.0) that also meet its ``slo`` bounds (a row lacking the metric does
    not)."""
    wanted = {k: {_norm(v) for v in vs} for k, vs in f.where.items()}
    kept = [r for r in rows if all(_norm(r.get(k, "")) in vs for k, vs in wanted.items())]
    return [r for r in kept if all((num(r.get(m)) is not None and r[m] <= bound) for m, bound in f.slo.items())]


def _norm(v: Any) -> Any:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float)):
        return float(v)
    return str(v)


def axis_name(key: str) -> str:
    """A point key as a reader knows it (``plan_index`` is the plan)."""
    return "plan" if key == "plan_index" else key


def coordinate(axis: str, v: Any) -> str:
    """A coordinate as a reader wants it: sizes in KiB/MiB/GiB, other numbers plainly."""
    if axis == "size_bytes" and isinstance(v, (int, float)):
        for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if v >= scale:
                return f"{v / scale:g} {unit}"
        return f"{v:g} B"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def label(by: list[str], key: tuple) -> str:
    """``k=v`` for the group's keys that carry a value (a parallelism entry as plan#i)."""
    parts = [f"plan#{v}" if k == "plan_index" else f"{k}={v}"
             for k, v in zip(by, key, strict=True) if v not in ("", None)]
    return ", ".join(parts) or "all points"


def num(x: Any) -> float | None:
    return x if isinstance(x, (int, float)) and x == x else None


def _point(r: Row) -> tuple:
    """What makes two rows the same point on different hardware."""
    return tuple(r.get(k, "") for k in MATCH_KEYS)


def matched_pairs(rows: list[Row], by: list[str], of: str, to: str) -> dict[tuple, list[tuple[Row, Row]]]:
    """Per group of ``by``: the (``of`` row, ``to`` row) pairs of points that ran on both."""
    out = {}
    for key, group in grouped(ok(rows), by).items():
        mine = {_point(r): r for r in group if r["chip"] == of}
        out[key] = [(mine[_point(r)], r) for r in group if r["chip"] == to and _point(r) in mine]
    return out


def ratios(pairs: list[tuple[Row, Row]], metric: str) -> list[float]:
    """``metric`` of the first row over the second, where both are numbers (and not 0)."""
    return [a[metric] / b[metric] for a, b in pairs if num(a.get(metric)) is not None and num(b.get(metric))]


def compare(rows: list[Row], f: Finding, of: str, to: str) -> list[str]:
    """Median ratio of ``f.metric`` between two chips over matched points, per group."""
    out = []
    for key, pairs in matched_pairs(rows, f.by, of, to).items():
        ratios_ = ratios(pairs, f.metric)
        if not ratios_:
            out.append(f"{label(f.by, key)}: no matched points where both {of} and {to} ran.")
            continue
        med = statistics.median(ratios_)
        out.append(f"{label(f.by, key)}: {of}'s {f.metric} is {med:.2f}x {to}'s "
                   f"(median of {len(ratios_)} matched points, range {min(ratios_):.2f}x-{max(ratios_):.2f}x).")
    return out


def best(rows: list[Row], f: Finding) -> list[str]:
    """Which chip wins ``f.metric`` on each matched point, counted per group."""
    out = []
    for key, group in grouped(ok(rows), f.by).items():
        wins: dict[str, int] = defaultdict(int)
        for _, pts in grouped(group, list(MATCH_KEYS)).items():
            scored = [r for r in pts if num(r.get(f.metric)) is not None]
            if len(scored) < 2:
                continue
            pick = max if f.higher_is_better else min
            wins[pick(scored, key=lambda r: r[f.metric])["chip"]] += 1
        total = sum(wins.values())
        if total:
            ranking = ", ".join(f"{c} {n}/{total}" for c, n in sorted(wins.items(), key=lambda kv: -kv[1]))
            out.append(f"{label(f.by, key)}: best {f.metric} ({'higher' if f.higher_is_better else 'lower'} "
                       f"is better) won by {ranking} points.")
    return out


def bounds(rows: list[Row], f: Finding) -> list[str]:
    """Share of points each bound dominates, per chip and group."""
    out = []
    for key, group in grouped(ok(rows), ["chip", *f.by]).items():
        counts: dict[str, int] = defaultdict(int)
        for r in group:
            counts[r["bound"]] += 1
        parts = ", ".join(f"{b}-bound in {n}/{len(group)}" for b, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        out.append(f"{label(['chip', *f.by], key)}: {parts} points.")
    return out


def fastest_per_x(series: list[Row], axis: str) -> tuple[list[Row], bool]:
    """One row per value of ``axis``: the highest-throughput one where several plans ran
    there; and whether any value had several."""
    per: dict[Any, Row] = {}
    several = False
    for r in series:
        x = r[axis]
        if x in per:
            several = True
            if (num(r.get("throughput_tokens_per_s")) or 0) <= (num(per[x].get("throughput_tokens_per_s")) or 0):
                continue
        per[x] = r
    return [per[x] for x in sorted(per)], several


def crossover(rows: list[Row], f: Finding) -> list[str]:
    """Smallest ``f.axis`` value where ``f.metric`` first equals ``f.value``, per series."""
    metric = f.metric
    keys = series_keys(ok(rows), f.axis)
    out = []
    for key, group in grouped(ok(rows), keys).items():
        series, _ = fastest_per_x(group, f.axis)
        hit = next((r for r in series if str(r.get(metric)) == f.value), None)
        span = f"{series[0][f.axis]}-{series[-1][f.axis]}"
        what = (f"{metric} = {f.value} from {f.axis} {hit[f.axis]}" if hit
                else f"never {metric} = {f.value} over {f.axis} {span}")
        out.append(f"{label(keys, key)}: {what}.")
    return out


def trend(rows: list[Row], f: Finding) -> list[str]:
    """``f.metric`` at both ends of ``f.axis``, per series."""
    keys = series_keys(ok(rows), f.axis)
    out = []
    for key, group in grouped(ok(rows), keys).items():
        series, several = fastest_per_x([r for r in group if num(r.get(f.metric)) is not None], f.axis)
        if len(series) >= 2:
            a, b = series[0], series[-1]
            at = "card count" if f.axis == "cards" else f.axis
            plans = f" (fastest plan at each {at}: {a.get('plan')} -> {b.get('plan')})" if several else ""
            out.append(f"{label(keys, key)}: {f.metric} {a[f.metric]:.3g} at {f.axis} {a[f.axis]} -> "
                       f"{b[f.metric]:.3g} at {f.axis} {b[f.axis]}{plans}.")
    return out


def finding_lines(rows: list[Row], f: Finding, canonical) -> list[str]:
    """The finding's sentences, over the rows its ``where`` keeps (a threshold's lines are
    its verdict, in ``sim.report.verdict``)."""
    rows = selected(rows, f)
    if f.kind == "compare":
        return compare(rows, f, canonical(f.of), canonical(f.to))
    if f.kind == "best":
        return best(rows, f)
    if f.kind == "bound":
        return bounds(rows, f)
    if f.kind == "trend":
        return trend(rows, f)
    if f.kind == "match":
        return match(rows, f, canonical(f.of), canonical(f.to))
    if f.kind == "threshold":
        return spread(rows, f, canonical(f.of) if f.of else None)
    return crossover(rows, f)


def spread(rows: list[Row], f: Finding, chip: str | None) -> list[str]:
    """``f.metric``'s range and median per chip and group (all chips when ``chip`` is None)."""
    out = []
    mine = [r for r in ok(rows) if (chip is None or r["chip"] == chip) and num(r.get(f.metric)) is not None]
    for key, rs in grouped(mine, ["chip", *f.by]).items():
        vals = sorted(r[f.metric] for r in rs)
        out.append(f"{label(['chip', *f.by], key)}: {f.metric} {vals[0]:.4g}-{vals[-1]:.4g} "
                   f"(median {statistics.median(vals):.4g}, {len(vals)} points).")
    return out


def best_by_cards(rows: list[Row], chip: str, metric: str) -> dict[int, float]:
    """``chip``'s highest ``metric`` at each card count (over plans and the other axes)."""
    per: dict[int, float] = {}
    for r in rows:
        if r["chip"] == chip and num(r.get(metric)) is not None:
            per[r["cards"]] = max(per.get(r["cards"], r[metric]), r[metric])
    return per


def match(rows: list[Row], f: Finding, of: str, to: str) -> list[str]:
    """How many cards of ``of`` reach ``to``'s best ``metric`` at each of its card counts."""
    out = []
    for key, group in grouped(ok(rows), f.by).items():
        mine, theirs = best_by_cards(group, of, f.metric), best_by_cards(group, to, f.metric)
        for cards, target in sorted(theirs.items()):
            enough = [n for n, v in sorted(mine.items()) if v >= target]
            if enough:
                out.append(f"{label(f.by, key)}: {enough[0]} x {of} reach {to} x{cards}'s {f.metric} "
                           f"({mine[enough[0]]:.4g} vs {target:.4g}).")
            else:
                most = max(mine, default=None)
                got = f"{mine[most]:.4g} at {most} cards" if most else "no point ran"
                out.append(f"{label(f.by, key)}: no card count of {of} up to {most} reaches {to} x{cards}'s "
                           f"{f.metric} ({target:.4g}; best {got}).")
    return out


def best_table(rows: list[Row]) -> str:
    """Per chip, model and phase: the highest-throughput point and its other metrics."""
    head = ("| chip | model | phase | best tokens/s | at batch | TTFT s | TPOT ms | J/token | cost/Mtok | bound |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for (chip, model, phase), group in grouped(ok(rows), ["chip", "model", "phase"]).items():
        r = max(group, key=lambda r: r["throughput_tokens_per_s"])
        ttft = f"{r['ttft_s']:.3g}" if num(r.get("ttft_s")) is not None else "-"
        tpot = f"{r['tpot_s'] * 1e3:.3g}" if num(r.get("tpot_s")) is not None else "-"
        lines.append(f"| {chip} | {model} | {phase} | {r['throughput_tokens_per_s']:.4g} | {r['batch']} | "
                     f"{ttft} | {tpot} | {r['energy_j_per_token']:.3g} | "
                     f"{r['cost_per_million_tokens']:.3g} {r['currency']} | {r['bound']} |")
    return "\n".join(lines)


def failures(rows: list[Row]) -> list[str]:
    """Failed points, grouped by chip, model and the kind of failure (the message up to its
    first colon), each with one full example message."""
    groups: dict[tuple, list[Row]] = defaultdict(list)
    for r in rows:
        if r.get("error"):
            groups[(r["chip"], r["model"], str(r["error"]).split(":")[0])].append(r)
    return [f"{len(rs)} point(s) of {chip} / {model} failed (e.g. {rs[0]['phase']}, batch {rs[0]['batch']}, "
            f"input {rs[0]['input_len']}): {rs[0]['error']}" for (chip, model, _), rs in groups.items()]


def training_table(rows: list[Row]) -> str:
    """Per system, model and card count: the fastest plan and its step time, MFU,
    communication and bubble shares, memory per chip and cost."""
    head = ("| system | model | cards | plan | tokens/s | step s | MFU | comm share | bubble share | "
            "GB/chip | cost/Mtok |\n|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for (chip, model, cards), group in grouped(ok(rows), ["chip", "model", "cards"]).items():
        r = max(group, key=lambda r: r["throughput_tokens_per_s"])
        lines.append(f"| {chip} | {model} | {cards} | {r['plan']} | {r['throughput_tokens_per_s']:.4g} | "
                     f"{r['step_time_s']:.3g} | {r['mfu']:.1%} | {r['share_communication']:.1%} | "
                     f"{r['share_bubble']:.1%} | {r['memory_required_bytes'] / 1e9:.1f} | "
                     f"{r['cost_per_million_tokens']:.3g} {r['currency']} |")
    return "\n".join(lines)


def collective_table(rows: list[Row]) -> str:
    """Per system, collective and card count: bus bandwidth at the largest size, and the
    time of the smallest size (the latency floor)."""
    head = ("| system | collective | cards | busbw at largest size GB/s | algorithm | time at smallest size us |\n"
            "|---|---|---|---|---|---|")
    lines = [head]
    for (chip, kind, cards), group in grouped(ok(rows), ["chip", "collective", "cards"]).items():
        big = max(group, key=lambda r: r["size_bytes"])
        small = min(group, key=lambda r: r["size_bytes"])
        lines.append(f"| {chip} | {kind} | {cards} | {big['busbw_GBps']:.4g} | {big['algorithm']} | "
                     f"{small['time_s'] * 1e6:.3g} |")
    return "\n".join(lines)
