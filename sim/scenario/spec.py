"""The scenario file: what to sweep, which what-if chip variants to add, what to report."""

from __future__ import annotations

import itertools
from typing import Any, Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from sim.deployment import PlanEntry
from sim.des.spec import Disaggregation, Requests, Scheduler, Slo
from sim.dtypes import Dtype
from sim.report.spec import Finding, PlotSpec
from sim.spec import Spec
from sim.workload.spec import Phase, Precision


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
    workload's ``precision`` for this model; in ``mode: serving`` also its own system card
    counts (e.g. one card for an 8B model, tensor parallelism over 2-4 for a 70B one)."""

    name: str
    precision: list[Dtype | Precision] = Field(min_length=1)
    cards: list[PositiveInt] = []

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


class TrainingAxes(Spec):
    """Training job axes (``mode: training``): every combination is one point. The batch
    is either ``global_batch`` (fixed: strong scaling) or ``batch_per_replica`` sequences
    per data-parallel replica (grows with the card count: weak scaling)."""

    global_batch: list[PositiveInt] = []
    batch_per_replica: list[PositiveInt] = []
    seq_len: list[PositiveInt] = Field(min_length=1)
    precision: list[Literal["bf16", "fp16", "fp8"]] = ["bf16"]

    @field_validator("global_batch", "batch_per_replica", "seq_len", "precision", mode="before")
    @classmethod
    def _scalar_to_list(cls, v: Any) -> Any:
        return v if isinstance(v, list) else [v]

    @model_validator(mode="after")
    def _one_batch_axis(self) -> TrainingAxes:
        if bool(self.global_batch) == bool(self.batch_per_replica):
            raise ValueError("give exactly one of global_batch or batch_per_replica")
        return self


class CollectiveAxes(Spec):
    """Collective axes (``mode: collective``): each kind at each size over every system
    and card count, reported the nccl-tests way."""

    kind: list[Literal["all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast"]] = ["all_reduce"]
    size_bytes: list[float] = Field(min_length=1)

    @field_validator("kind", "size_bytes", mode="before")
    @classmethod
    def _scalar_to_list(cls, v: Any) -> Any:
        return v if isinstance(v, list) else [v]


class ServingLayout(Spec):
    """How a serving point arranges its model instances: ``replicas`` co-located instances
    behind the router (times the plan's dp), or disaggregated prefill and decode pools of
    instances (the plan's dp must then be 1)."""

    name: str = ""
    replicas: PositiveInt = 1
    disaggregation: Disaggregation | None = None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        d = self.disaggregation
        return f"{d.prefill_replicas}P+{d.decode_replicas}D" if d else f"co-located x{self.replicas}"

    def instances(self, dp: int) -> int:
        """Model instances this deployment runs for a plan with ``dp`` copies."""
        d = self.disaggregation
        return d.prefill_replicas + d.decode_replicas if d else self.replicas * dp


class ServingAxes(Spec):
    """A serving study (``mode: serving``): ``requests`` offered at each of ``rates``
    (requests/s; the arrivals' own rate is replaced) to every hardware x model x
    precision x deployment on the discrete-event engine. ``deployments`` compares
    layouts; alone, ``replicas`` and ``disaggregation`` give one. ``trace_rate``: the
    rate of the Perfetto trace and timeline (default: the middle rate)."""

    requests: Requests
    rates: list[PositiveFloat] = Field(min_length=1)
    scheduler: Scheduler = Scheduler()
    replicas: PositiveInt = 1
    disaggregation: Disaggregation | None = None
    deployments: list[ServingLayout] = []
    precision: list[Dtype | Precision] = ["bf16"]
    slo: Slo | None = None
    trace_rate: PositiveFloat | None = None

    @field_validator("precision", "rates", mode="before")
    @classmethod
    def _scalar_to_list(cls, v: Any) -> Any:
        return v if isinstance(v, list) else [v]

    @model_validator(mode="before")
    @classmethod
    def _rate_from_sweep(cls, data: Any) -> Any:
        """The sweep sets the arrival rate; the file need not repeat it."""
        if isinstance(data, dict) and isinstance(data.get("requests"), dict) and data.get("rates"):
            req = data["requests"]
            arrivals = req.get("arrivals", {"kind": "poisson"})
            if isinstance(arrivals, dict) and arrivals.get("rate_per_s") is None:
                first = data["rates"][0] if isinstance(data["rates"], list) else data["rates"]
                data = {**data, "requests": {**req, "arrivals": {**arrivals, "rate_per_s": first}}}
        return data

    @model_validator(mode="after")
    def _layouts(self) -> ServingAxes:
        if self.requests.arrivals.kind == "trace":
            raise ValueError("a rate sweep needs synthetic arrivals (poisson, constant or gamma)")
        if self.deployments and (self.replicas != 1 or self.disaggregation is not None):
            raise ValueError("give deployments, or replicas / disaggregation, not both")
        labels = [d.label for d in self.layouts()]
        if len(set(labels)) != len(labels):
            raise ValueError(f"deployment names must differ: {', '.join(labels)}")
        return self

    def layouts(self) -> list[ServingLayout]:
        """The deployments compared (one from replicas / disaggregation when none is listed)."""
        return self.deployments or [ServingLayout(replicas=self.replicas, disaggregation=self.disaggregation)]

    def precisions(self) -> list[Precision]:
        return as_precisions(self.precision)


class Scenario(Spec):
    """Chips (one card each) and/or systems (``cards`` of them, split by each
    ``parallelism`` entry) x models x workload (inference) or training axes."""

    name: str
    title: str
    claim: str = ""
    description: str = ""
    mode: Literal["inference", "training", "collective", "serving"] = "inference"
    chips: list[str] = []
    chip_variants: list[ChipVariant] = []
    systems: list[str] = []
    cards: list[PositiveInt] = [1]
    parallelism: list[PlanEntry] = [PlanEntry()]
    models: list[str | ModelEntry] = []
    workload: Axes | None = None
    training: TrainingAxes | None = None
    collective: CollectiveAxes | None = None
    serving: ServingAxes | None = None
    economics: dict[str, Any] = {}
    findings: list[Finding] = []
    plots: list[PlotSpec] = []
    roofline: bool = True

    @model_validator(mode="after")
    def _complete(self) -> Scenario:
        if not (self.chips or self.chip_variants or self.systems):
            raise ValueError("name at least one of chips, chip_variants or systems")
        if self.mode != "collective" and not self.models:
            raise ValueError("name at least one model")
        if self.mode == "inference" and self.workload is None:
            raise ValueError("an inference scenario needs a workload: block")
        if self.mode == "training" and (self.training is None or not self.systems):
            raise ValueError("a training scenario needs a training: block and systems")
        if self.mode == "collective" and (self.collective is None or not self.systems):
            raise ValueError("a collective scenario needs a collective: block and systems")
        if self.mode == "serving":
            if self.serving is None:
                raise ValueError("a serving scenario needs a serving: block")
            if self.findings or self.plots:
                raise ValueError("a serving scenario reports its own table and curves; drop findings and plots")
        elif any(not isinstance(m, str) and m.cards for m in self.models):
            raise ValueError("cards per model are only for mode: serving")
        return self

    def model_names(self) -> list[str]:
        """Model names as written."""
        return [m if isinstance(m, str) else m.name for m in self.models]

    def points(self, chips: list[str], models: list[str], systems: list[str] = ()) -> list[dict[str, Any]]:
        """Every input combination (for the resolved chip, system and model names, ``models``
        in the order of ``self.models``), as a flat row of input columns. Plans are
        resolved to tp/pp/dp per card count by the loader (``plan`` holds the entry)."""
        hardware = [(c, None, 1, None) for c in chips]
        hardware += [(s, s, n, i) for s in systems for n in self.cards for i in range(len(self.parallelism))]
        if self.mode == "serving":
            return self._serving_points(chips, models, systems)
        if self.mode == "collective":
            c = self.collective
            assert c is not None
            return [{**_blank_row(), "chip": hw, "system": sys, "cards": n, "plan_index": 0, "model": "",
                     "phase": "collective", "collective": k, "size_bytes": size, "precision": ""}
                    for (hw, sys, n, i) in hardware if sys and i == 0 for k in c.kind for size in c.size_bytes]
        if self.mode == "training":
            t = self.training
            assert t is not None
            batches = [("global_batch", b) for b in t.global_batch] + [("batch_per_replica", b)
                                                                       for b in t.batch_per_replica]
            combos = itertools.product(hardware, models, t.precision, t.seq_len, batches)
            return [{**_blank_row(), "chip": hw, "system": sys or "", "cards": n, "plan_index": i, "model": m,
                     "phase": "training", "precision": p, "seq_len": s, key: b}
                    for (hw, sys, n, i), m, p, s, (key, b) in combos]
        w = self.workload
        assert w is not None
        model_precisions = [(name, w.precisions() if isinstance(entry, str) else as_precisions(entry.precision))
                            for name, entry in zip(models, self.models, strict=True)]
        combos = itertools.product(hardware, model_precisions, w.phase, w.input_len, w.output_len, w.batch)
        rows = []
        for (hw, sys, n, i), (model, precs), phase, ilen, olen, batch in combos:
            rows.extend({**self._row(hw, model, phase, p, ilen, olen, batch), "system": sys or "", "cards": n,
                         "plan_index": i} for p in precs if phase == "generate" or olen == w.output_len[0])
        return rows

    def _serving_points(self, chips: list[str], models: list[str], systems: list[str]) -> list[dict[str, Any]]:
        """One point per hardware x model x precision x deployment x rate (rates last)."""
        sv = self.serving
        assert sv is not None
        rows = []
        for name, entry in zip(models, self.models, strict=True):
            precs = sv.precisions() if isinstance(entry, str) else as_precisions(entry.precision)
            cards = (entry.cards if not isinstance(entry, str) else []) or self.cards
            hardware = [(c, "", 1, 0) for c in chips]
            hardware += [(s, s, n, i) for s in systems for n in cards for i in range(len(self.parallelism))]
            for (hw, sys, n, i), prec, d in itertools.product(hardware, precs, range(len(sv.layouts()))):
                base = {**self._row(hw, name, "serving", prec, 1, 1, 1), "batch": "", "input_len": "",
                        "output_len": "", "system": sys, "cards": n, "plan_index": i, "deployment": d}
                rows.extend({**base, "rate_per_s": rate} for rate in sorted(sv.rates))
        return rows

    @staticmethod
    def _row(chip: str, model: str, phase: str, prec: Precision, ilen: int, olen: int, batch: int) -> dict[str, Any]:
        return {**_blank_row(), "chip": chip, "model": model, "phase": phase, "batch": batch,
                "input_len": ilen, "output_len": olen if phase == "generate" else 1,
                "precision": prec.label, "weights_dtype": prec.weights,
                "activations_dtype": prec.activations, "kv_cache_dtype": prec.kv_cache}


def _blank_row() -> dict[str, Any]:
    return {"system": "", "cards": 1, "plan": "", "tp": 1, "pp": 1, "dp": 1, "ep": 1, "batch": "", "input_len": "",
            "output_len": "", "weights_dtype": "", "activations_dtype": "", "kv_cache_dtype": "",
            "global_batch": "", "batch_per_replica": "", "seq_len": "", "collective": "", "size_bytes": ""}
