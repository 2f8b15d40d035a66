"""What a scenario asks the report for: computed findings and extra line plots. The report
reads these; the scenario schema embeds them."""

from __future__ import annotations

from typing import Literal

from pydantic import PositiveFloat, model_validator

from sim.spec import Spec

Metric = str  # a results.csv column; checked against the study's columns when the scenario loads


class Finding(Spec):
    """A sentence computed from the results.

    - ``compare``: ratio of ``metric`` of chip ``of`` to chip ``to`` on matched points,
      grouped by the ``by`` columns.
    - ``best``: which chip has the best ``metric`` (``higher_is_better``) per group.
    - ``bound``: which bound dominates, per chip and group.
    - ``crossover``: per chip and group, the smallest value of ``axis`` at which ``metric``
      (e.g. ``bound``) first equals ``value`` (default ``compute``).
    - ``trend``: per chip and group, ``metric`` at the smallest and largest ``axis`` value.
    - ``match``: per group and per card count of system ``to``, the fewest cards of system
      ``of`` whose best ``metric`` (over plans) reaches ``to``'s.

    A ``compare`` may state the ``claimed`` ratio and whether the claim is that the ratio is
    ``at_least`` or ``at_most`` it: the summary then gives a verdict per group. A compare of
    an energy, power or cost metric (or one with a claim) also lists the inputs that decide
    it (``sensitivity``: ``<chip or system>:<dotted field>`` or ``economics:<field>``; by
    default every power, energy and price input of the two, kept where it moves the ratio)
    and the value of each at which the verdict flips (the claimed ratio, or parity).
    """

    kind: Literal["compare", "best", "bound", "crossover", "trend", "match"]
    metric: Metric = "throughput_tokens_per_s"
    of: str | None = None
    to: str | None = None
    by: list[str] = ["phase"]
    higher_is_better: bool = True
    axis: str = "batch"
    value: str = "compute"
    text: str = ""
    claimed: PositiveFloat | None = None
    claim_holds: Literal["at_least", "at_most"] = "at_least"
    sensitivity: list[str] | None = None

    @model_validator(mode="after")
    def _compare_needs_chips(self) -> Finding:
        if self.kind in ("compare", "match") and not (self.of and self.to):
            raise ValueError(f"a {self.kind} finding needs 'of' and 'to' chip or system names")
        if self.kind != "compare" and (self.claimed is not None or self.sensitivity):
            raise ValueError("only a compare finding takes 'claimed' or 'sensitivity'")
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
