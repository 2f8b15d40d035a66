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
