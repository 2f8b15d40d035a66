"""Verdicts and break-even values of compare findings are computed by rerunning the points."""

from __future__ import annotations

import re

import pytest

from sim.studies import run_scenario


def _scenario(findings: list[dict]) -> dict:
    return {
        "name": "sens-test", "title": "t", "chips": ["H100"],
        "chip_variants": [{"name": "H100-half-price", "base": "H100", "set": {"price": {"purchase_USD": 15000}},
                           "sources": {"price.purchase_USD": "test: half the catalog price"}}],
        "models": ["Llama-3.1-8B"],
        "workload": {"phase": ["decode"], "batch": [1, 16], "input_len": [512]},
        "roofline": False, "findings": findings,
    }


def _findings_text(tmp_path, findings) -> str:
    run = run_scenario(_scenario(findings), results_root=tmp_path, workers=1, progress=False)
    return run.summary_md


def test_break_even_price_is_the_price_that_equalises_cost(tmp_path):
    """Two chips identical but for price: the break-even of the dearer one's price is the cheaper one's."""
    text = _findings_text(tmp_path, [{"kind": "compare", "metric": "cost_per_million_tokens", "of": "H100",
                                      "to": "H100-half-price", "by": ["phase"],
                                      "sensitivity": ["H100:price.purchase_USD"]}])
    line = next(ln for ln in text.splitlines() if "inputs that decide it" in ln)
    value = float(re.search(r"price\.purchase_USD = 30,000 \[sourced, elasticity [+-][\d.]+\]: ([\d,]+)", line)
                  .group(1).replace(",", ""))
    assert value == pytest.approx(15000, rel=0.002)


def test_verdict_follows_the_claim_direction(tmp_path):
    base = {"kind": "compare", "metric": "cost_per_million_tokens", "of": "H100", "to": "H100-half-price",
            "by": ["phase"], "sensitivity": ["H100:price.purchase_USD"]}
    text = _findings_text(tmp_path, [{**base, "claimed": 1.5, "claim_holds": "at_least"},
                                     {**base, "claimed": 1.5, "claim_holds": "at_most"}])
    verdicts = [ln for ln in text.splitlines() if "verdict:" in ln]
    assert "holds" in verdicts[0] and "does not hold" not in verdicts[0]
    assert "does not hold" in verdicts[1]


def test_an_input_its_config_refuses_to_move_is_reported_as_such(tmp_path):
    """Raising H100's idle power toward parity hits idle + active >= TDP before the ratio moves enough."""
    text = _findings_text(tmp_path, [{"kind": "compare", "metric": "energy_j_per_token", "of": "H100-half-price",
                                      "to": "H100", "by": ["phase"], "claimed": 100.0,
                                      "sensitivity": ["H100-half-price:power.idle_W"]}])
    assert "is refused" in text


def test_energy_and_cost_compares_list_their_inputs_by_default(tmp_path):
    text = _findings_text(tmp_path, [{"kind": "compare", "metric": "energy_j_per_token", "of": "H100",
                                      "to": "H100-half-price", "by": ["phase"]},
                                     {"kind": "compare", "metric": "tpot_s", "of": "H100",
                                      "to": "H100-half-price", "by": ["phase"]}])
    assert text.count("inputs that decide it") + text.count("no input moves the ratio") == 1


def test_changing_an_input_flips_the_verdict(tmp_path):
    """The same claim (H100's cost per token at most 1.5x the variant's) breaks while the
    variant costs half as much, and holds once its price is raised to 25,000 (ratio 1.2)."""
    claim = {"kind": "compare", "metric": "cost_per_million_tokens", "of": "H100", "to": "H100-half-price",
             "by": ["phase"], "claimed": 1.5, "claim_holds": "at_most", "sensitivity": ["H100:price.purchase_USD"]}

    def verdict(price_USD: float, out) -> str:
        data = _scenario([claim])
        data["chip_variants"][0]["set"] = {"price": {"purchase_USD": price_USD}}
        text = run_scenario(data, results_root=out, workers=1, progress=False).summary_md
        return next(ln for ln in text.splitlines() if "verdict:" in ln)

    cheap, dear = verdict(15000, tmp_path / "a"), verdict(25000, tmp_path / "b")
    assert "does not hold" in cheap
    assert "holds" in dear and "does not hold" not in dear
