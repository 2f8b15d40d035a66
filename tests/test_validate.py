"""`sim validate`: the shipped set runs, its accuracy stays within today's threshold, fitted
cases reproduce what they fitted, and a bad case file gives one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.catalog import scenarios_dir
from sim.cli import main
from sim.errors import ConfigError
from sim.validate.cases import load_cases
from sim.validate.run import run_validation
from sim.validate.summary import held_out_median

VALIDATION = scenarios_dir() / "validation"
# Held-out figures on the shipped set today: median absolute error 10.1% single-chip and
# 13.9% multi-card (issue 17's targets: 8% and 12%, not met yet), 12.7% overall; p90 53.5%
# (target 30%); median optimism +2.2% single-chip, +7.6% multi-card (target within 5%).
# The limits hold today's figures with a point of margin (bias: 1.5 points), so a change
# that makes the simulator worse on what it was not fitted on fails here.
HELD_OUT_MEDIAN_LIMIT_PCT = 13.7
SCOPE_LIMIT_PCT = {"single-chip": 11.0, "multi-card": 14.9}
HELD_OUT_P90_LIMIT_PCT = 55.0
SCOPE_OPTIMISM_LIMIT_PCT = {"single-chip": 3.5, "multi-card": 8.7}


@pytest.fixture(scope="module")
def validation(tmp_path_factory):
    return run_validation([VALIDATION], tmp_path_factory.mktemp("validation"))


def test_shipped_set_meets_todays_threshold(validation):
    outcomes, out_dir, median = validation
    assert median is not None and median <= HELD_OUT_MEDIAN_LIMIT_PCT
    assert (out_dir / "validation.csv").exists() and (out_dir / "predicted_vs_measured.png").exists()
    for scope, limit in SCOPE_LIMIT_PCT.items():
        scoped = held_out_median(outcomes, scope)
        assert scoped is not None and scoped <= limit, (scope, scoped)


def test_held_out_spread_and_bias_stay_within_todays_figures(validation):
    from sim.validate.summary import accuracy

    outcomes, _, _ = validation
    held_out = [o for o in outcomes if not o.fitted]
    _, _, p90_pct, _ = accuracy(held_out, lambda o: "all")["all"]
    assert p90_pct <= HELD_OUT_P90_LIMIT_PCT
    by_scope = accuracy(held_out, lambda o: o.scope)
    for scope, limit in SCOPE_OPTIMISM_LIMIT_PCT.items():
        assert abs(by_scope[scope][3]) <= limit, (scope, by_scope[scope][3])


def test_a_measurement_faster_than_reading_the_weights_is_set_aside_not_predicted():
    """A latency below the weight-read floor (every decoded token reads the active weights
    once at peak bandwidth) cannot be a non-speculative decoder's: it is reported as
    below-floor with its factor, and a measurement just above the floor is predicted."""
    from sim.catalog import load_chip, load_economics
    from sim.validate.predict import predict_case, weight_read_floor_s

    case = next(c for c in load_cases(VALIDATION / "anl_inference_bench.yaml")
                if c.id == "anl-h100-vllm-l3-8b-tp1-bs1-512-512-e2e")
    floor = weight_read_floor_s(case, load_chip(case.hardware.chip))
    assert floor is not None and 0 < floor < case.value
    econ = load_economics({})
    fast = predict_case(case.model_copy(update={"value": floor / 2}), econ)
    assert fast.status == "below-floor" and "2.0x below the weight-read floor" in fast.reason
    above = predict_case(case.model_copy(update={"value": floor * 1.01}), econ)
    assert above.status == "ok" and above.predicted > floor


def test_fitted_cases_reproduce_their_measurement(validation):
    outcomes, _, _ = validation
    fitted = [o for o in outcomes if o.fitted]
    assert fitted
    for o in fitted:
        assert abs(o.error_pct) < 5.0, (o.case.id, o.error_pct)


def test_every_case_is_reported_and_unpredicted_ones_say_why(validation):
    outcomes, _, _ = validation
    assert len(outcomes) == len(load_cases(VALIDATION))
    missing = [o for o in outcomes if o.status != "ok"]
    assert all(o.reason and o.predicted is None for o in missing)


def test_accuracy_is_grouped_by_the_file_each_case_came_from(validation):
    from sim.validate.summary import as_records

    outcomes, _, _ = validation
    groups = as_records(outcomes)["groups"]
    per_file = {g: v["cases"] for g, v in groups.items() if g.endswith(".yaml (held-out)")}
    assert "mlperf_inference.yaml (held-out)" in per_file and len(per_file) >= 10
    assert sum(per_file.values()) == groups["held-out"]["cases"]


def test_cli_threshold_sets_exit_code(capsys):
    one_file = str(VALIDATION / "single_chip.yaml")  # the exit code, not the accuracy (measured above)
    assert main(["validate", one_file, "--out", "/tmp/sim-validate-test", "--max-median-error", "99"]) == 0
    assert main(["validate", one_file, "--out", "/tmp/sim-validate-test", "--max-median-error", "1"]) == 1
    capsys.readouterr()


def test_bad_case_file_gives_one_clear_line(tmp_path: Path):
    path = tmp_path / "cases.yaml"
    path.write_text("- id: x\n  category: microbench_gemm\n  hardware: {chip: H100}\n  workload: {}\n"
                    "  metric: gemm_gflops\n  value: 1\n  source: s\n")
    with pytest.raises(ConfigError, match=r"cases\.yaml:5: 0\.metric") as err:
        load_cases(path)
    assert "\n" not in str(err.value)


def test_refitting_gives_the_configured_value():
    """Each bisection-fitted parameter in the configs is what `python -m sim.validate.fit`
    returns today: an engine change that moves a fit fails here until it is refitted."""
    from sim.catalog import load_economics
    from sim.validate.fit import FITS, configured_value, fit_parameter

    cases = {c.id: c for c in load_cases(VALIDATION)}
    for case_id, field, (lo, hi) in FITS:
        fitted = fit_parameter(cases[case_id], field, lo, hi, load_economics({}))
        assert fitted == pytest.approx(configured_value(cases[case_id], field), abs=0.01)


def test_fit_bracket_that_misses_the_measurement_is_an_error():
    from sim.catalog import load_economics
    from sim.validate.fit import FITS, fit_parameter

    case_id, field, _ = FITS[0]
    case = next(c for c in load_cases(VALIDATION) if c.id == case_id)
    with pytest.raises(ValueError, match="do not straddle"):
        fit_parameter(case, field, 100.0, 200.0, load_economics({}))
    system_case = next(c for c in load_cases(VALIDATION) if c.hardware.system is not None)
    with pytest.raises(ValueError, match="names system"):
        fit_parameter(system_case, "power.active_W", 0.0, 50.0, load_economics({}))


def test_shipped_bands_are_what_the_held_out_set_measures(validation):
    """configs/calibration.yaml is regenerated whenever predictions move (python -m
    sim.validate.bands): its bands equal those of today's held-out outcomes."""
    from sim.catalog import load_calibration
    from sim.validate.bands import measure

    outcomes, _, _ = validation
    shipped, now = load_calibration(), measure(outcomes)
    assert set(shipped) == set(now)
    for key, band in now.items():
        assert shipped[key]["cases"] == band["cases"], key
        assert shipped[key]["low"] == pytest.approx(band["low"], abs=0.002), key
        assert shipped[key]["high"] == pytest.approx(band["high"], abs=0.002), key
        assert band["low"] <= band["high"]


def test_a_band_holds_80_percent_of_its_cases(validation):
    """By construction 80% (+- one case per tail) of a group's held-out truths fall inside."""
    from sim.validate.bands import measure, quantity, truth_over_prediction

    outcomes, _, _ = validation
    band = measure(outcomes)["speed/gpu/single-chip"]
    ratios = [truth_over_prediction(o) for o in outcomes
              if o.status == "ok" and not o.fitted and o.arch == "gpu" and o.scope == "single-chip"
              and quantity(str(o.case.metric)) == "speed"]
    inside = sum(band["low"] <= r <= band["high"] for r in ratios) / len(ratios)
    assert len(ratios) == band["cases"] and 0.78 <= inside <= 0.82
