"""The scenario file: what to sweep, which what-if chip variants to add, what to report."""

from __future__ import annotations

import itertools
from typing import Any, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from sim.dtypes import Dtype
from sim.parts.base import Spec
from sim.workload.spec import Phase, Precision

Metric = str  # a results.csv column; checked against the metric list at run time


class ChipVariant(Spec):
    """A what-if chip: ``base`` from the catalog with dotted fields replaced by ``set``.
    New numbers need ``sources`` like any config."""

    name: str
    base: str
    set: dict[str, Any]
    sources: dict[str, str] = {}
    status: Literal["confirmed", "partly_assumed", "assumed"] = "assumed"


class ModelEntry(Spec):
    """A model with its own precision axis (e.g. a 70B model only in fp8), replacing the
    workload's ``precision`` for this model."""

    name: str
    precision: list[Dtype | Precision] = Field(min_length=1)

    @field_validator("precision", mode="before")
    @classmethod
    def _scalar_to_list(cls, v: Any) -> Any:
        return v if isinstance(v, list) else [v]


def as_precisions(values: list[str | Precision]) -> list[Precision]:
    return [Precision.uniform(p) if isinstance(p, str) else p for p in values]


class Axes(Spec):
    """Workload axes; every combination is one point."""

    phase: list[Phase] = Field(min_length=1)
    batch: list[PositiveInt] = Field(min_length=1)
    input_len: list[PositiveInt] = Field(min_length=1)
    output_len: list[PositiveInt] = [1]
    precision: list[Dtype | Precision] = ["bf16"]

    @field_validator("phase", "batch", "input_len", "output_len", "precision", mode="before")
    @classmethod
    def _scalar_to_list(cls, v: Any) -> Any:
        return v if isinstance(v, list) else [v]

    def precisions(self) -> list[Precision]:
        return as_precisions(self.precision)


class Finding(Spec):
    """A sentence computed from the results.

    - ``compare``: ratio of ``metric`` of chip ``of`` to chip ``to`` on matched points,
      grouped by the ``by`` columns.
    - ``best``: which chip has the best ``metric`` (``higher_is_better``) per group.
    - ``bound``: which bound dominates, per chip and group.
    - ``crossover``: per chip and group, the smallest value of ``axis`` at which ``metric``
      (e.g. ``bound``) first equals ``value`` (default ``compute``).
    - ``trend``: per chip and group, ``metric`` at the smallest and largest ``axis`` value.
    """

    kind: Literal["compare", "best", "bound", "crossover", "trend"]
    metric: Metric = "throughput_tokens_per_s"
    of: str | None = None
    to: str | None = None
    by: list[str] = ["phase"]
    higher_is_better: bool = True
    axis: str = "batch"
    value: str = "compute"
    text: str = ""

    @model_validator(mode="after")
    def _compare_needs_chips(self) -> Finding:
        if self.kind == "compare" and not (self.of and self.to):
            raise ValueError("a compare finding needs 'of' and 'to' chip names")
        return self


class PlotSpec(Spec):
    """A line plot of ``y`` against ``x``: one line per ``lines`` value, one panel per
    ``panels`` value, one figure per model."""

    x: str
    y: str
    lines: str = "chip"
    panels: str = "phase"
    logx: bool = True
    logy: bool = False


class Scenario(Spec):
    name: str
    title: str
    claim: str = ""
    description: str = ""
    chips: list[str] = Field(min_length=1)
    chip_variants: list[ChipVariant] = []
    models: list[str | ModelEntry] = Field(min_length=1)
    workload: Axes
    economics: dict[str, Any] = {}
    findings: list[Finding] = []
    plots: list[PlotSpec] = []
    roofline: bool = True

    def model_names(self) -> list[str]:
        """Model names as written."""
        return [m if isinstance(m, str) else m.name for m in self.models]

    def points(self, chips: list[str], models: list[str]) -> list[dict[str, Any]]:
        """Every input combination (for the resolved chip and model names, ``models`` in the
        order of ``self.models``), as a flat row of input columns."""
        w = self.workload
        model_precisions = [(name, w.precisions() if isinstance(entry, str) else as_precisions(entry.precision))
                            for name, entry in zip(models, self.models, strict=True)]
        combos = itertools.product(chips, model_precisions, w.phase, w.input_len, w.output_len, w.batch)
        rows = []
        for chip, (model, precs), phase, ilen, olen, batch in combos:
            rows.extend(self._row(chip, model, phase, p, ilen, olen, batch) for p in precs
                        if phase == "generate" or olen == w.output_len[0])
        return rows

    @staticmethod
    def _row(chip: str, model: str, phase: str, prec: Precision, ilen: int, olen: int, batch: int) -> dict[str, Any]:
        return {"chip": chip, "model": model, "phase": phase, "batch": batch,
                "input_len": ilen, "output_len": olen if phase == "generate" else 1,
                "precision": prec.label, "weights_dtype": prec.weights,
                "activations_dtype": prec.activations, "kv_cache_dtype": prec.kv_cache}

