"""results/<scenario>/: the CSV (written row by row), and the resolved inputs."""

from __future__ import annotations

import csv
import math
import subprocess
from pathlib import Path
from typing import Any

from sim.catalog.yaml_io import dump_yaml

# "chip" names the hardware of a point: a chip (one card) or a system (``cards`` of them).
INPUT_COLUMNS = ["chip", "system", "cards", "plan", "tp", "pp", "dp", "ep", "model", "phase", "batch", "input_len",
                 "output_len", "global_batch", "batch_per_replica", "seq_len", "collective", "size_bytes", "precision", "weights_dtype", "activations_dtype",
                 "kv_cache_dtype"]


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


class ResultWriter:
    """Appends rows to results.csv as they arrive, flushing so nothing finished is lost.
    The header is fixed by the first successful row (failed rows fill what they have)."""

    def __init__(self, path: Path, metric_columns: list[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.columns = INPUT_COLUMNS + metric_columns + ["error"]
        self._file = path.open("w", newline="", encoding="utf-8")
        self._csv = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="ignore")
        self._csv.writeheader()
        self._since_flush = 0

    def write(self, row: dict[str, Any]) -> dict[str, Any]:
        self._csv.writerow({k: _fmt(row.get(k, "")) for k in self.columns})
        self._since_flush += 1
        if self._since_flush >= 100:
            self._file.flush()
            self._since_flush = 0
        return row

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def git_revision(cwd: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5, check=False)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_resolved(out_dir: Path, scenario: dict, chips: dict, models: dict, economics: dict,
                   revision: str) -> None:
    """Everything the run used, so a result can be reproduced and audited."""
    resolved = {"git_revision": revision, "scenario": scenario, "economics": economics,
                "chips": chips, "models": models}
    (out_dir / "resolved.yaml").write_text(dump_yaml(resolved), encoding="utf-8")
