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
    - ``threshold``: ``metric`` of chip ``of`` (every chip when unset) against ``claimed``.

    ``where`` keeps only the rows whose columns take the listed values (``{phase: [decode]}``)
    and ``slo`` only those whose metrics are at most the given bounds (``{tpot_s: 0.05}``),
    before anything is computed: a ``match`` with an SLO counts the cards of ``of`` that
    reach ``to``'s throughput at a TPOT of 50 ms or less.

    A finding with ``claimed`` is a testable claim: the summary opens with its verdict, found
    point by point (holds everywhere, nowhere, or only where the sweep says; see
    ``sim.report.verdict``). ``claim_holds`` says how: ``at_least`` / ``at_most`` a number
    (a compare's ratio, a threshold's value, a match's card ratio), ``between`` two numbers
    (``claimed: [10, 15]``), or ``equals`` a bound (a bound finding, ``claimed: memory``).
    A compare's claim also gets a verdict per group in its findings. A compare of
    an energy, power or cost metric (or one with a claim) also lists the inputs that decide
    it (``sensitivity``: ``<chip or system>:<dotted field>`` or ``economics:<field>``; by
    default every power, energy and price input of the two, kept where it moves the ratio)
    and the value of each at which the verdict flips (the claimed ratio, or parity).
    """

    kind: Literal["compare", "best", "bound", "crossover", "trend", "match", "threshold"]
    metric: Metric = "throughput_tokens_per_s"
    of: str | None = None
    to: str | None = None
    by: list[str] = ["phase"]
    higher_is_better: bool = True
    axis: str = "batch"
    value: str = "compute"
    text: str = ""
    where: dict[str, list[str | float]] = {}
    slo: dict[str, PositiveFloat] = {}
    claimed: PositiveFloat | list[PositiveFloat] | str | None = None
    claim_holds: Literal["at_least", "at_most", "between", "equals"] = "at_least"
    sensitivity: list[str] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Finding:
        if self.kind in ("compare", "match") and not (self.of and self.to):
            raise ValueError(f"a {self.kind} finding needs 'of' and 'to' chip or system names")
        if self.kind == "threshold" and self.claimed is None:
            raise ValueError("a threshold finding needs 'claimed' (the value to test against)")
        if self.sensitivity and self.kind != "compare":
            raise ValueError("only a compare finding takes 'sensitivity'")
        if self.claimed is not None:
            self._check_claim()
        return self

    def _check_claim(self) -> None:
        c = self.claimed
        if self.kind not in CLAIM_KINDS:
            raise ValueError(f"a {self.kind} finding takes no 'claimed' (claims are on {', '.join(CLAIM_KINDS)})")
        if self.kind == "bound":
            if not isinstance(c, str) or self.claim_holds != "equals":
                raise ValueError("a bound claim is 'claimed: <bound>' (compute, memory, ...) with "
                                 "'claim_holds: equals'")
        elif isinstance(c, str) or self.claim_holds == "equals":
            raise ValueError("'claimed: <text>' with 'claim_holds: equals' is for bound findings; "
                             f"a {self.kind} claim is a number")
        elif self.claim_holds == "between":
            if not (isinstance(c, list) and len(c) == 2 and c[0] < c[1]):
                raise ValueError("'claim_holds: between' needs 'claimed: [low, high]' with low < high")
        elif isinstance(c, list):
            raise ValueError("a list in 'claimed' goes with 'claim_holds: between'")
        if self.kind == "match" and self.claim_holds != "at_most":
            raise ValueError("a match claim is 'claim_holds: at_most' (cards of 'of' per card of 'to')")

    def holds(self, value: float | str) -> bool:
        """Whether one point's value satisfies the claim."""
        c = self.claimed
        if self.claim_holds == "equals":
            return str(value) == c
        if isinstance(c, list):
            return c[0] <= float(value) <= c[1]
        assert isinstance(c, (int, float))
        return float(value) >= c if self.claim_holds == "at_least" else float(value) <= c

    def claim_text(self) -> str:
        """The claim as a statement: ``ratio >= 0.85``, ``bound = memory``."""
        c = self.claimed
        if self.claim_holds == "equals":
            return f"bound = {c}"
        what = {"compare": f"{self.metric} of {self.of} / {self.to}",
                "match": f"cards of {self.of} per card of {self.to} to reach its {self.metric}",
                }.get(self.kind, f"{self.metric}{f' of {self.of}' if self.of else ''}")
        if isinstance(c, list):
            return f"{c[0]:g} <= {what} <= {c[1]:g}"
        return f"{what} {'>=' if self.claim_holds == 'at_least' else '<='} {c:g}"


CLAIM_KINDS = ("compare", "threshold", "bound", "match")


class PlotSpec(Spec):
    """A line plot of ``y`` against ``x``: one line per ``lines`` value, one panel per
    ``panels`` value, one figure per model."""

    x: str
    y: str
    lines: str = "chip"
    panels: str = "phase"
    logx: bool = True
    logy: bool = False
