"""docs/api.md's examples run as written (each in a fresh namespace, in a temporary folder)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_api_doc_has_examples():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("code", BLOCKS, ids=[f"example{i}" for i in range(len(BLOCKS))])
def test_an_api_example_runs(code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(DOC), "exec"), {"__name__": "api_example"})
    assert capsys.readouterr().out.strip()


def test_every_public_name_resolves_and_has_a_docstring():
    import sim

    for name in sim.__all__:
        value = getattr(sim, name)
        assert value.__doc__, name


def test_dataframe_without_pandas_is_one_clear_error(monkeypatch):
    import sys

    import pytest

    from sim.errors import SimError
    from sim.studies.base import ScenarioRun

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(SimError, match="needs pandas"):
        ScenarioRun(out_dir=None, rows=[{"a": 1}], summary_md="").dataframe()  # type: ignore[arg-type]
