"""What every scenario file has, whatever its study: the hardware (catalog chips, what-if
chip variants, systems with card counts and parallelism entries), the models, economics,
findings and plots. Each study (``sim.studies.<mode>``) subclasses ``ScenarioBase`` with
its own axes block; the ``mode`` field picks the study."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, get_origin

from pydantic import Field, PositiveInt, model_validator

from sim.deployment import PlanEntry
from sim.dtypes import Dtype
from sim.report.spec import Finding, PlotSpec
from sim.spec import Spec
from sim.workload.spec import Precision


class ListAxes(Spec):
    """A spec whose list fields also take one value (``batch: 8`` means ``[8]``)."""

    @model_validator(mode="before")
    @classmethod
    def _scalars_to_lists(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        listed = {name for name, f in cls.model_fields.items() if get_origin(f.annotation) is list}
        return {k: [v] if k in listed and not isinstance(v, list) else v for k, v in data.items()}


class ChipVariant(Spec):
    """A what-if chip: ``base`` from the catalog with dotted fields replaced by ``set``.
    New numbers need ``sources`` like any config."""

    name: str
    base: str
    set: dict[str, Any]
    sources: dict[str, str] = {}
    status: Literal["confirmed", "partly_assumed", "assumed"] = "assumed"


class SystemVariant(Spec):
    """A what-if system: ``base`` from the catalog with another ``chip`` (a catalog chip or
    one of the scenario's chip variants) and dotted fields replaced by ``set`` (one field
    at a time: ``scale_up.link_bandwidth_GBps: 50`` keeps the rest of ``scale_up``). New
    numbers need ``sources`` like any config."""

    name: str
    base: str
    chip: str | None = None
    set: dict[str, Any] = {}
    sources: dict[str, str] = {}
    status: Literal["confirmed", "partly_assumed", "assumed"] = "assumed"


class ModelEntry(ListAxes):
    """A model with its own precision axis (e.g. a 70B model only in fp8), replacing the
    study's ``precision`` for this model; in ``mode: serving`` also its own system card
    counts (e.g. one card for an 8B model, tensor parallelism over 2-4 for a 70B one)."""

    name: str
    precision: list[Dtype | Precision] = Field(min_length=1)
    cards: list[PositiveInt] = []


def as_precisions(values: list[Dtype | Precision]) -> list[Precision]:
    return [Precision.uniform(p) if isinstance(p, str) else p for p in values]


# (hardware name, system name or "", cards, parallelism entry index): one card of a chip
# is (chip, "", 1, 0).
Hardware = tuple[str, str, int, int]


class ScenarioBase(Spec):
    """Chips (one card each) and/or systems (``cards`` of them, split by each
    ``parallelism`` entry) x models, swept over the study's axes."""

    # the results folder's name: letters, digits, '.', '_' and '-', so a run never writes
    # outside results/ (no '/', no leading '.')
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=120)
    title: str
    claim: str = ""
    description: str = ""
    mode: str
    chips: list[str] = []
    chip_variants: list[ChipVariant] = []
    systems: list[str] = []
    system_variants: list[SystemVariant] = []
    cards: list[PositiveInt] = [1]
    parallelism: list[PlanEntry] = [PlanEntry()]
    models: list[str | ModelEntry] = []
    # software stacks to run every point under (catalog names); empty: each chip's default
    stacks: list[str] = []
    economics: dict[str, Any] = {}
    findings: list[Finding] = []
    plots: list[PlotSpec] = []

    needs_models: ClassVar[bool] = True
    needs_systems: ClassVar[bool] = False
    cards_per_model: ClassVar[bool] = False

    @model_validator(mode="after")
    def _complete(self) -> ScenarioBase:
        if not (self.chips or self.chip_variants or self.systems or self.system_variants):
            raise ValueError("name at least one of chips, chip_variants, systems or system_variants")
        if self.cards != [1] and not (self.systems or self.system_variants):
            raise ValueError("cards: counts cards of systems, and this scenario names none (a chip runs as one "
                             "card; put it in a system, e.g. system_variants with chip: <name>)")
        if self.needs_models and not self.models:
            raise ValueError("name at least one model")
        if self.needs_systems and not self.systems:
            raise ValueError(f"a {self.mode} scenario needs systems")
        if not self.cards_per_model and any(not isinstance(m, str) and m.cards for m in self.models):
            raise ValueError("cards per model are only for mode: serving")
        return self

    def size_bound(self) -> tuple[int, str]:
        """At most how many points the scenario makes (the product of its axes, before points
        that do not apply are dropped), and that product written out: computed from the
        axes alone, so a sweep too big to build is refused before it is built."""
        parts = {"hardware": len(self.chips) + len(self.chip_variants)
                 + (len(self.systems) + len(self.system_variants)) * len(self.cards) * len(self.parallelism),
                 "models (x own precisions)": max(1, sum(1 if isinstance(m, str) else len(m.precision)
                                                          for m in self.models)),
                 "stacks": max(1, len(self.stacks))}
        for name in type(self).model_fields:
            block = getattr(self, name)
            if isinstance(block, ListAxes):
                for axis, values in block:
                    if isinstance(values, list) and len(values) > 1:
                        parts[f"{name}.{axis}"] = len(values)
        total = 1
        for n in parts.values():
            total *= n
        return total, " x ".join(f"{k} {n}" for k, n in parts.items() if n > 1) or "1"

    def model_names(self) -> list[str]:
        """Model names as written."""
        return [m if isinstance(m, str) else m.name for m in self.models]

    def model_precisions(self, models: list[str], default: list[Dtype | Precision]) -> list[tuple[str, list[Precision]]]:
        """Each resolved model name with its precisions: its own, or ``default``."""
        return [(name, as_precisions(default if isinstance(entry, str) else entry.precision))
                for name, entry in zip(models, self.models, strict=True)]

    def hardware(self, chips: list[str], systems: list[str], cards: list[int] | None = None) -> list[Hardware]:
        """Every chip (one card), then every system x card count x parallelism entry."""
        counts = cards or self.cards
        return [(c, "", 1, 0) for c in chips] + [(s, s, n, i) for s in systems for n in counts
                                                   for i in range(len(self.parallelism))]
