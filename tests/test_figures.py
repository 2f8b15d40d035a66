"""Figures that read (sim.report.plots) and the figure helper that draws them
(sim.report.figure_server)."""

from __future__ import annotations

import pytest

from sim.report import figure_server, plots
from sim.report.spec import PlotSpec


def _rows() -> list[dict]:
    """Two chips x two precisions x three batches x two card counts (plans tp1/tp2)."""
    return [{"chip": c, "precision": p, "batch": b, "cards": n, "plan": f"tp{n}", "plan_index": 0, "phase": "decode",
             "model": "m", "throughput_tokens_per_s": float(b * n * (2 if p == "fp8" else 1)),
             "tpot_s": 0.01 * b, "error": ""}
            for c in ("A", "B") for p in ("bf16", "fp8") for b in (1, 4, 16) for n in (1, 2)]


def test_one_line_per_value_of_every_other_axis():
    """Chip x precision x cards vary besides batch: 8 lines of 3 points, none zig-zagging."""
    fig = plots.line_plot(_rows(), PlotSpec(x="batch", y="throughput_tokens_per_s"), "t")
    lines = fig.axes[0].get_lines()
    assert len(lines) == 8
    assert all(list(ln.get_xdata()) == [1, 4, 16] for ln in lines)
    assert {ln.get_label() for ln in lines} >= {"A precision=bf16 cards=1", "B precision=fp8 cards=2"}


def test_human_units_and_the_note_on_failed_points():
    rows = [*_rows(), {**_rows()[0], "error": "does not fit", "tpot_s": float("nan")}]
    fig = plots.line_plot(rows, PlotSpec(x="batch", y="tpot_s", logy=True), "t")
    assert fig.axes[0].get_ylabel() == "time per output token (ms)"
    assert max(max(ln.get_ydata()) for ln in fig.axes[0].get_lines()) == pytest.approx(160)  # 0.16 s in ms
    assert any("1 points did not run" in t.get_text() for t in fig.texts)
    assert plots.human(1500) == "1.5k" and plots.human(0.25) == "0.25"


def test_along_cards_each_count_shows_its_fastest_plan():
    one = [r for r in _rows() if r["batch"] == 4]
    rows = one + [{**r, "plan": "pp2", "plan_index": 1, "throughput_tokens_per_s": 0.5} for r in one if r["cards"] == 2]
    fig = plots.line_plot(rows, PlotSpec(x="cards", y="throughput_tokens_per_s"), "t")
    assert all(len(ln.get_xdata()) == 2 for ln in fig.axes[0].get_lines())
    assert any("fastest plan at that card count" in t.get_text() for t in fig.texts)
    assert min(min(ln.get_ydata()) for ln in fig.axes[0].get_lines()) >= 4  # never the slow pp2


def _writes(out, name: str) -> list[str]:
    (out / name).write_text("x")
    return [name]


def _fails(_out) -> list[str]:
    raise ValueError("this figure cannot be drawn")


def test_the_helper_draws_jobs_in_order_and_raises_their_errors(tmp_path):
    figure_server.start()
    try:
        names = figure_server.draw([(_writes, (tmp_path, f"f{i}.png")) for i in range(4)])
        assert names == [f"f{i}.png" for i in range(4)]
        assert all((tmp_path / n).is_file() for n in names)
        with pytest.raises(ValueError, match="cannot be drawn"):
            figure_server.draw([(_fails, (tmp_path,))])
    finally:
        figure_server.stop()
    assert figure_server.draw([(_writes, (tmp_path, "here.png"))]) == ["here.png"]  # no helper: drawn in-process


def test_the_helper_holds_none_of_the_parents_other_pipes():
    """A pipe the parent opened before forking the helper sees end-of-file once the parent
    closes its end (a browser driver waiting for its stdin to close hung the suite)."""
    import os
    import select

    figure_server.stop()
    read_end, write_end = os.pipe()
    figure_server.start()
    try:
        assert figure_server.draw([(_noop, ())]) == []  # the helper has run its start-up
        os.close(write_end)
        ready, _, _ = select.select([read_end], [], [], 10)
        assert ready and os.read(read_end, 1) == b""
    finally:
        os.close(read_end)
        figure_server.stop()


def _noop() -> list[str]:
    return []
