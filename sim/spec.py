"""The base every spec derives from (layer 1): strict (unknown keys fail) and immutable;
and dotted-path access to a spec's nested fields (what fits and sensitivities vary)."""

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

M = TypeVar("M", bound=BaseModel)


class Spec(BaseModel):
    """Frozen pydantic model that rejects unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
