"""Turn pydantic ValidationErrors into one ConfigError with file, line and dotted key."""

from __future__ import annotations

import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from nexforge.core.errors import ConfigError
from nexforge.runtime.config.schema import PATTERN_HINTS, UNION_TAGS
from nexforge.runtime.config.yaml_lines import Loc, YamlDocument

M = TypeVar("M", bound=BaseModel)


def validate_document(doc: YamlDocument, model: type[M]) -> M:
    """Validate ``doc.data`` as ``model``; the first error (in file order) is raised."""
    if not isinstance(doc.data, dict):
        got = "an empty file" if doc.data is None else type(doc.data).__name__
        raise ConfigError(f"expected a mapping of keys, got {got}", file=doc.file, line=1)
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        described = [_describe(doc, model, err) for err in errors]
        described.sort(key=lambda e: e.line or 0)
        first = described[0]
        if len(described) > 1:
            more = len(described) - 1
            first = ConfigError(
                f"{first.message} (and {more} more error{'s' if more > 1 else ''})",
                file=first.file,
                line=first.line,
                key=first.key,
            )
        raise first from None


def _describe(doc: YamlDocument, model: type[BaseModel], err: ErrorDetails) -> ConfigError:
    raw_loc = tuple(err["loc"])
    loc: Loc = tuple(part for part in raw_loc if not _is_tag(part))
    kind = err["type"]
    if kind == "extra_forbidden":
        fields = _fields_at(model, raw_loc[:-1])
        expected = f" (expected one of: {', '.join(fields)})" if fields else ""
        return doc.error(loc, f"unknown key{expected}")
    if kind == "missing":
        return doc.error(loc, "required key is missing")
    message = err["msg"].removeprefix("Value error, ")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        message = "expected a mapping"
    elif kind == "list_type":
        message = "expected a list"
    elif kind == "string_pattern_mismatch":
        pattern = str((err.get("ctx") or {}).get("pattern", ""))
        message = PATTERN_HINTS.get(pattern, message)
    value = err.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        shown = repr(value)
        message += f", got {shown if len(shown) <= 60 else shown[:57] + '...'}"
    return doc.error(loc, message)


def _is_tag(part: str | int) -> bool:
    return isinstance(part, str) and part in UNION_TAGS


def _fields_at(model: type[BaseModel], raw_loc: tuple[str | int, ...]) -> list[str]:
    """The allowed keys of the model found at ``raw_loc`` (tags pick union branches)."""
    current: Any = model
    for part in raw_loc:
        if _is_tag(part):
            current = UNION_TAGS[str(part)]
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            current = field.annotation if field is not None else None
        elif typing.get_origin(current) is list and isinstance(part, int):
            current = typing.get_args(current)[0]
        else:
            return []
        current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``X | None``; a union of several models stays as is."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        arms = [arm for arm in typing.get_args(tp) if arm is not type(None)]
        if len(arms) == 1:
            return _unwrap(arms[0])
    return tp
