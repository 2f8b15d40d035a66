"""The base every spec derives from (layer 1): strict (unknown keys fail) and immutable;
and dotted-path access to a spec's nested fields (what fits and sensitivities vary)."""

import math
import types
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

M = TypeVar("M", bound=BaseModel)


def _is_number(annotation: Any) -> bool:
    """A float or int field (possibly constrained, optional or in a union with None)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_number(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return bool(args) and all(_is_number(a) for a in args)
    return annotation in (float, int)


_NUMBER_FIELDS: dict[tuple[type, str], bool] = {}  # (spec class, field) -> a number field


class Spec(BaseModel):
    """Frozen pydantic model that rejects unknown fields, and in number fields rejects
    true/false (YAML booleans would otherwise count as 1 and 0) and inf/nan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _plain_number(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name
        if name is None:
            return value
        key = (cls, name)
        if key not in _NUMBER_FIELDS:
            _NUMBER_FIELDS[key] = _is_number(cls.model_fields[name].annotation)
        if not _NUMBER_FIELDS[key]:
            return value
        if isinstance(value, bool):
            raise ValueError(f"a number is needed, not {str(value).lower()}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"a finite number is needed, not {value}")
        return value


def field_value(spec: Any, dotted: str) -> Any:
    """The value at a dotted path (``power.idle_W``; a dict's key is a path part too)."""
    for part in dotted.split("."):
        spec = spec[part] if isinstance(spec, dict) else getattr(spec, part)
    return spec


def with_field(spec: Any, dotted: str, value: Any) -> Any:
    """``spec`` with the (dotted, nested) field replaced, not re-validated (see ``revalidated``)."""
    head, _, rest = dotted.partition(".")
    if isinstance(spec, dict):
        return {**spec, head: value if not rest else with_field(spec[head], rest, value)}
    if not rest:
        return spec.model_copy(update={head: value})
    return spec.model_copy(update={head: with_field(getattr(spec, head), rest, value)})


def scaled(spec: Any, dotted: str, factor: float) -> Any:
    """``spec`` with the number at ``dotted`` (or every number of a mapping there) times ``factor``."""
    value = field_value(spec, dotted)
    new = {k: v * factor for k, v in value.items()} if isinstance(value, dict) else value * factor
    return with_field(spec, dotted, new)


def revalidated(spec: M) -> M:
    """``spec`` built again through its validators (a ``with_field`` edit skips them)."""
    return type(spec).model_validate(spec.model_dump())
