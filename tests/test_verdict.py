"""Claim verdicts: a claim is tested point by point, and the verdict line says where it
holds in terms of the sweep's axes (sim.report.verdict)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sim.catalog import shipped_dir
from sim.catalog.yaml_io import read_yaml
from sim.report import verdict
from sim.report.spec import Finding
from sim.studies import run_scenario


def _rows(fn) -> list[dict]:
    """Rows of one chip over batch x phase, metric ``m`` = fn(batch, phase)."""
    return [{"chip": "A", "phase": ph, "batch": b, "m": fn(b, ph), "bound": "memory" if fn(b, ph) else "compute"}
            for ph in ("prefill", "decode") for b in (1, 4, 16, 64)]


def _line(rows, **claim) -> str:
    f = Finding(kind="threshold", metric="m", by=[], **claim)
    return verdict.verdict_line(rows, f, lambda n: n)


def test_holds_everywhere_and_nowhere():
    rows = _rows(lambda b, ph: 2.0)
    assert "**holds** at all 8 points" in _line(rows, claimed=1.0)
    assert "**does not hold** at any of 8 points" in _line(rows, claimed=3.0)


def test_one_numeric_axis_is_a_range_end():
    rows = _rows(lambda b, ph: float(b))
    assert "**holds only when batch >= 16**" in _line(rows, claimed=10.0)
    assert "**holds only when batch <= 4**" in _line(rows, claimed=10.0, claim_holds="at_most")


def test_a_conjunction_and_its_complement():
    rows = _rows(lambda b, ph: float(b) * (ph == "decode"))
    assert "**holds only when phase = decode and batch >= 16**" in _line(rows, claimed=10.0)
    assert "**holds except when phase = decode and batch >= 16**" in _line(rows, claimed=10.0, claim_holds="at_most")


def test_between_and_bound_claims():
    rows = _rows(lambda b, ph: float(b))
    assert "**holds only when batch = 4**" in _line(rows, claimed=[2, 8], claim_holds="between")
    f = Finding(kind="bound", by=[], claimed="compute", claim_holds="equals")
    rows = _rows(lambda b, ph: (ph == "decode") * 1.0)
    assert "**holds only when phase = prefill**" in verdict.verdict_line(rows, f, lambda n: n)


def test_where_restricts_the_points():
    rows = _rows(lambda b, ph: float(b))
    line = _line(rows, claimed=10.0, where={"phase": ["decode"]})
    assert "(2 of 4 points;" in line and "batch >= 16" in line


def test_no_exact_rule_gives_the_best_rule_and_its_exceptions():
    odd = {(1, "prefill"), (4, "decode"), (16, "prefill"), (64, "prefill"), (64, "decode")}
    rows = _rows(lambda b, ph: 2.0 if (b, ph) in odd else 0.0)
    line = _line(rows, claimed=1.0)
    assert "**holds at 5 of 8 points**" in line and "points are exceptions" in line


@pytest.mark.parametrize("bad", [
    {"kind": "bound", "claimed": 2.0},
    {"kind": "bound", "claimed": "memory"},  # needs claim_holds: equals
    {"kind": "threshold", "metric": "m", "claimed": 2.0, "claim_holds": "between"},
    {"kind": "threshold", "metric": "m", "claimed": [3.0, 2.0], "claim_holds": "between"},
    {"kind": "threshold", "metric": "m"},  # a threshold needs its value
    {"kind": "trend", "metric": "m", "claimed": 1.0},
    {"kind": "match", "metric": "m", "of": "A", "to": "B", "claimed": 2.0, "claim_holds": "at_least"},
])
def test_malformed_claims_are_refused(bad):
    with pytest.raises(ValidationError):
        Finding(**bad)


CLAIM_SCENARIOS = sorted(p for p in (shipped_dir() / "scenarios").glob("c[0-9]*.yaml"))


def test_every_claim_scenario_states_a_testable_claim():
    """Each C1-C16 scenario carries at least one finding with a claimed value, and every
    claim C1-C16 has a scenario."""
    covered = set()
    for path in CLAIM_SCENARIOS:
        doc = read_yaml(path).data
        claims = [f for f in doc.get("findings", []) if "claimed" in f]
        assert claims, f"{path.name} has no finding with 'claimed'"
        covered |= {int(part[1:]) for part in Path(path).stem.split("-") if part[1:].isdigit() and part[0] == "c"}
    assert covered >= set(range(1, 17)), sorted(set(range(1, 17)) - covered)


def test_summary_opens_with_the_verdicts_and_a_changed_input_flips_one(tmp_path):
    """The verdict section comes before the description; doubling a variant's bandwidth
    flips 'does not hold' to 'holds' on decode throughput."""
    def scenario(bandwidth_GBps: float) -> dict:
        return {"name": "verdict-flip", "title": "t", "description": "DESCRIPTION", "chips": ["H100"],
                "chip_variants": [{"name": "H100-fast", "base": "H100",
                                   "set": {"memory": {"hbm": {"bandwidth_GBps": bandwidth_GBps}}},
                                   "sources": {"memory.hbm.bandwidth_GBps": "test: a what-if"}}],
                "models": ["Llama-3.1-8B"], "workload": {"phase": ["decode"], "batch": [1, 4], "input_len": [512]},
                "roofline": False,
                "findings": [{"kind": "compare", "metric": "throughput_tokens_per_s", "of": "H100-fast",
                              "to": "H100", "by": ["phase"], "claimed": 1.5, "claim_holds": "at_least"}]}

    same = run_scenario(scenario(3350), results_root=tmp_path / "a", workers=1, progress=False).summary_md
    fast = run_scenario(scenario(6700), results_root=tmp_path / "b", workers=1, progress=False).summary_md
    assert same.index("## Verdicts") < same.index("DESCRIPTION")
    assert "**does not hold** at any of 2 points" in same
    assert "**holds** at all 2 points" in fast


def test_bands_come_from_calibration_and_say_when_a_verdict_could_flip():
    """A row's band is its value times the calibration group's low/high; a claim whose
    threshold lies inside the band is counted as one that could go either way."""
    from sim.studies.derived import add_bands

    bands = {"speed/gpu/single-chip": {"cases": 30, "low": 0.5, "high": 1.25},
             "power/any/any": {"cases": 30, "low": 1.0, "high": 1.2}}
    rows = [{"chip": "A", "cards": 1, "phase": "decode", "batch": b, "throughput_tokens_per_s": 100.0 * b,
             "tpot_s": 0.01, "energy_j_per_token": 1.0, "error": ""} for b in (1, 4)]
    add_bands(rows, bands, {"A": "gpu"})
    r = rows[0]
    assert (r["throughput_tokens_per_s_low"], r["throughput_tokens_per_s_high"]) == pytest.approx((50, 125))
    assert (r["tpot_s_low"], r["tpot_s_high"]) == pytest.approx((0.008, 0.02))  # a time: divided by the speed band
    assert (r["energy_j_per_token_low"], r["energy_j_per_token_high"]) == pytest.approx((0.8, 2.4))  # time x power
    f = Finding(kind="threshold", metric="throughput_tokens_per_s", by=[], claimed=110.0)
    line = verdict.verdict_line(rows, f, lambda n: n)
    assert "could go either way at 1 of 2 points" in line  # 100 (50-125) straddles 110; 400 (200-500) does not
    bare = [{k: v for k, v in r.items() if not k.endswith(("_low", "_high"))} for r in rows]
    add_bands(bare, {}, {"A": "gpu"})  # no calibration: no band, rather than a made-up one
    assert not any(k.endswith("_low") for r in bare for k in r)


def test_an_slo_keeps_only_the_points_that_meet_it():
    """A match under ``slo: {tpot_s: ...}`` counts only points at or under that TPOT; a row
    lacking the metric does not count."""
    from sim.report import summary

    rows = [{"chip": "A", "cards": n, "throughput_tokens_per_s": 100.0 * n, "tpot_s": 0.02 * n, "error": ""}
            for n in (1, 2, 4)] + [{"chip": "B", "cards": 1, "throughput_tokens_per_s": 150.0, "tpot_s": 0.01,
                                    "error": ""}, {"chip": "A", "cards": 8, "throughput_tokens_per_s": 900.0,
                                                   "error": ""}]
    f = Finding(kind="match", metric="throughput_tokens_per_s", of="A", to="B", by=[], slo={"tpot_s": 0.03})
    assert [r["cards"] for r in summary.selected(rows, f) if r["chip"] == "A"] == [1]
    assert "no card count of A up to 1 reaches B x1's" in summary.match(summary.selected(rows, f), f, "A", "B")[0]
    free = Finding(kind="match", metric="throughput_tokens_per_s", of="A", to="B", by=[])
    assert "2 x A reach B x1's" in summary.match(summary.selected(rows, free), free, "A", "B")[0]
