"""The HTML report of every shipped scenario opens in a real headless browser (the
system's Chromium, driven by Playwright): no console errors, every figure loaded and
visible, the verdicts and the provenance table present. Each scenario runs with its
numeric axes cut to their ends (and serving to fewer requests) so the suite stays fast;
the report code is the one a full run uses. Screenshots are kept under
tests/artifacts/ (ignored by git)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.studies import run_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _ends(node: Any) -> Any:
    """The scenario with every list of three or more numbers cut to its first and last."""
    if isinstance(node, dict):
        return {k: _ends(v) for k, v in node.items()}
    if isinstance(node, list):
        if len(node) > 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in node):
            return [node[0], node[-1]]
        return [_ends(x) for x in node]
    return node


def small(path: Path) -> dict[str, Any]:
    data = _ends(yaml.safe_load(path.read_text(encoding="utf-8")))
    requests = (data.get("serving") or {}).get("requests")
    if isinstance(requests, dict):
        requests["count"] = min(int(requests.get("count", 60)), 60)
    return data


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no system Chromium (apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenario_report_opens_in_chromium(path: Path, browser, tmp_path: Path):
    run = run_scenario(small(path), results_root=tmp_path, workers=1, progress=False)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((run.out_dir / "report.html").as_uri())
    assert not errors, errors
    images = page.evaluate("Array.from(document.images).map(i => [i.naturalWidth, i.getBoundingClientRect().width,"
                           " i.getBoundingClientRect().height, i.src.slice(0, 21)])")
    figures = [f for f in run.files if f.startswith("figures/") and f.endswith(".png")]
    assert len(images) == len(figures) > 0
    for natural_w, w, h, src in images:
        assert natural_w > 0 and w > 100 and h > 100 and src == "data:image/png;base64"
    text = page.inner_text("body")
    assert "Where the hardware numbers come from" in text
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"report-{path.stem}.png"), full_page=False)
    page.close()


def test_report_embeds_figures_and_escapes_text(tmp_path: Path):
    """The page is self-contained (figures inline, no external references) and the
    provenance table escapes what a source says."""
    from sim.report.html import report_html

    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    page = report_html("T <1>", "# T\n\n![a](figures/a.png)\n\n| x | y |\n|---|---|\n| 1 | 2 |\n", tmp_path,
                       [("Chip", [("memory.hbm.bandwidth_GBps", 3350, "datasheet <b>x</b>")])])
    assert 'src="data:image/png;base64,' in page and "figures/a.png" not in page
    assert "<table>" in page and "datasheet &lt;b&gt;x&lt;/b&gt;" in page and "<title>T &lt;1&gt;</title>" in page
    assert "http" not in page and "<script" not in page
