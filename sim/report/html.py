"""One self-contained HTML page per run: the summary (verdicts, findings, tables,
assumptions), every figure embedded, and where each chip number comes from. It opens from
disk in any browser with no server and no network (no scripts, no external files)."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import markdown

# (config name, [(field path, value, source)]) for each chip and system of the run
Provenance = list[tuple[str, list[tuple[str, object, str]]]]

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td:not(:first-child) { font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; margin: 1em 0; border: 1px solid #eee; }
details { margin: .4em 0; } summary { cursor: pointer; font-weight: 600; }
.provenance td:last-child { font-size: .85em; color: #444; }
"""


def _embed_images(body: str, root: Path) -> str:
    """Replace each <img src="relative.png"> by the image's bytes as a data URI."""
    def inline(m: re.Match) -> str:
        src = html.unescape(m.group(2))
        path = root / src
        if not path.is_file():
            return m.group(0)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'{m.group(1)}data:image/png;base64,{data}{m.group(3)}'
    return re.sub(r'(<img[^>]*\bsrc=")([^"]+\.png)(")', inline, body)


def _provenance_section(provenance: Provenance) -> str:
    if not provenance:
        return ""
    parts = ["<h2>Where the hardware numbers come from</h2>",
             "<p>Every number of every chip and system in this run, with the source its config file gives "
             "(<code>ASSUMED</code> and <code>DERIVED</code> entries say so).</p>"]
    for name, rows in provenance:
        cells = "".join(f"<tr><td>{html.escape(p)}</td><td>{html.escape(str(v))}</td><td>{html.escape(s)}</td></tr>"
                        for p, v, s in rows)
        parts.append(f"<details><summary>{html.escape(name)} ({len(rows)} numbers)</summary>"
                     f"<table class='provenance'><tr><th>field</th><th>value</th><th>source</th></tr>{cells}</table>"
                     "</details>")
    return "\n".join(parts)


def report_html(title: str, summary_md: str, root: Path, provenance: Provenance | None = None) -> str:
    """The page for a run whose files live under ``root`` (figures are read from there)."""
    body = markdown.markdown(summary_md, extensions=["tables"], output_format="html")
    body = _embed_images(body, root)
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
            f"{body}\n{_provenance_section(provenance or [])}\n</body></html>\n")


def write_report(path: Path, title: str, summary_md: str, provenance: Provenance | None = None) -> None:
    """Write ``report.html`` beside the run's figures."""
    path.write_text(report_html(title, summary_md, path.parent, provenance), encoding="utf-8")
