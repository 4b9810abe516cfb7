"""tool_from_function: a Tool whose JSON Schema comes from a Python signature and docstring."""

from __future__ import annotations

import enum
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import jsonschema
from pydantic import BaseModel, ValidationError

from nexforge.core.tools import ToolSpec
from nexforge.tools.base import DEFAULT_MAX_OUTPUT_CHARS, DEFAULT_TOOL_TIMEOUT_S, Tool, ToolContext
from nexforge.tools.errors import ToolInputError
from nexforge.tools.resources import Resource

# Providers (OpenAI, Anthropic) accept only these names for functions.
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SIMPLE_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_DOC_SECTIONS = re.compile(r"^(Args|Arguments|Parameters|Params)\s*:\s*$")
_DOC_ENTRY = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")

Converter = Callable[[Any], Any]


@dataclass
class _SchemaBuilder:
    """Walks annotations; collects pydantic ``$defs`` and per-parameter value converters."""

    where: str
    defs: dict[str, Any] = field(default_factory=dict)

    def schema(self, tp: Any) -> tuple[dict[str, Any], Converter | None]:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if tp in _SIMPLE_TYPES:
            return {"type": _SIMPLE_TYPES[tp]}, None
        if tp is Any:
            return {}, None
        if tp is list:
            return {"type": "array"}, None
        if tp is dict:
            return {"type": "object"}, None
        if origin is typing.Annotated:
            inner, conv = self.schema(args[0])
            notes = [a for a in args[1:] if isinstance(a, str)]
            return ({**inner, "description": " ".join(notes)} if notes else inner), conv
        if origin is Literal:
            return _enum_schema(list(args)), None
        if origin is Union or origin is types.UnionType:
            return self._union(args)
        if origin is list:
            items, conv = self.schema(args[0]) if args else ({}, None)
            return {"type": "array", "items": items}, _each(conv)
        if origin is tuple:
            return self._tuple(args)
        if origin is dict:
            if args and args[0] is not str:
                raise self._unsupported(tp, "dict keys must be str")
            values, conv = self.schema(args[1]) if args else ({}, None)
            return {"type": "object", "additionalProperties": values}, _each_value(conv)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _enum_schema([m.value for m in tp]), tp
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return self._model(tp), functools.partial(_validate_model, tp)
        raise self._unsupported(tp)

    def _union(self, args: tuple[Any, ...]) -> tuple[dict[str, Any], Converter | None]:
        options = [a for a in args if a is not type(None)]
        nullable = len(options) < len(args)
        built = [self.schema(a) for a in options]
        convs = [c for _, c in built if c is not None]
        if len(convs) > 1:
            raise self._unsupported(args, "a union may hold one converted type")
        conv = _none_passes(convs[0]) if convs else None
        schemas = [s for s, _ in built]
        if len(schemas) == 1 and nullable and set(schemas[0]) == {"type"}:
            return {"type": [schemas[0]["type"], "null"]}, conv
        if nullable:
            schemas.append({"type": "null"})
        return ({"anyOf": schemas} if len(schemas) > 1 else schemas[0]), conv

    def _tuple(self, args: tuple[Any, ...]) -> tuple[dict[str, Any], Converter | None]:
        if not args:
            return {"type": "array"}, tuple
        if len(args) == 2 and args[1] is Ellipsis:
            items, conv = self.schema(args[0])
            each = _each(conv)
            return {"type": "array", "items": items}, (
                (lambda v: tuple(each(v))) if each else tuple
            )
        built = [self.schema(a) for a in args]
        n = len(args)
        schema = {"type": "array", "prefixItems": [s for s, _ in built], "minItems": n}
        schema["maxItems"] = n
        convs = [c for _, c in built]
        return schema, lambda v: tuple(c(x) if c else x for c, x in zip(convs, v, strict=True))

    def _model(self, model: type[BaseModel]) -> dict[str, Any]:
        schema = model.model_json_schema()
        # Nested models reference "#/$defs/X"; hoist so the refs resolve at the root.
        self.defs.update(schema.pop("$defs", {}))
        self.defs[model.__name__] = schema
        return {"$ref": f"#/$defs/{model.__name__}"}

    def _unsupported(self, tp: Any, why: str = "") -> TypeError:
        detail = f" ({why})" if why else ""
        return TypeError(f"{self.where} has an unsupported type annotation {tp!r}{detail}")


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {"enum": values}
    kinds = {_SIMPLE_TYPES.get(type(v)) for v in values}
    if len(kinds) == 1 and None not in kinds:
        schema["type"] = kinds.pop()
    return schema


def _each(conv: Converter | None) -> Converter | None:
    return None if conv is None else (lambda v: [conv(x) for x in v])


def _each_value(conv: Converter | None) -> Converter | None:
    return None if conv is None else (lambda v: {k: conv(x) for k, x in v.items()})


def _none_passes(conv: Converter) -> Converter:
    return lambda v: None if v is None else conv(v)


def _validate_model(model: type[BaseModel], value: Any) -> BaseModel:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        message = f"{model.__name__}.{loc}: {first['msg']}" if loc else first["msg"]
        raise ToolInputError(message) from None


def _json_default(value: Any) -> tuple[bool, Any]:
    """The JSON form of a default value, or (False, None) when it has none."""
    if value is None or isinstance(value, str | int | float | bool):
        return True, value
    if isinstance(value, enum.Enum):
        return True, value.value
    if isinstance(value, BaseModel):
        return True, value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        items = [_json_default(v) for v in value]
        return all(ok for ok, _ in items), [v for _, v in items]
    return False, None


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """First paragraph and the Google-style ``Args:`` descriptions of a docstring."""
    lines = inspect.cleandoc(doc).splitlines() if doc else []
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _DOC_SECTIONS.match(line.strip()):
            break
        summary.append(line.strip())
    params: dict[str, str] = {}
    in_args, indent, current = False, 0, ""
    for line in lines:
        stripped = line.strip()
        if _DOC_SECTIONS.match(stripped):
            in_args, indent, current = True, -1, ""
            continue
        if not in_args or not stripped:
            continue
        level = len(line) - len(line.lstrip())
        if indent < 0:
            indent = level
        if level < indent or (level == 0 and stripped.endswith(":")):
            in_args = False
            continue
        entry = _DOC_ENTRY.match(stripped) if level == indent else None
        if entry:
            current = entry.group(1).lstrip("*")
            params[current] = entry.group(2).strip()
        elif current:
            params[current] = f"{params[current]} {stripped}".strip()
    return " ".join(summary), params


def _is_context(tp: Any) -> bool:
    if tp is ToolContext:
        return True
    return typing.get_origin(tp) in (Union, types.UnionType) and ToolContext in typing.get_args(tp)


def tool_from_function(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    read_only: bool = False,
    parameters: dict[str, Any] | None = None,
    timeout_s: float = DEFAULT_TOOL_TIMEOUT_S,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    resources: Mapping[str, Resource[Any]] | None = None,
) -> Tool:
    """A Tool for ``fn`` (sync or async), its schema derived from the signature.

    ``resources`` maps parameter names to per-run resources: those parameters receive the
    run's handle (e.g. its copy of an environment's state) and stay out of the schema.

    With ``parameters`` the given JSON Schema is used as is and values are passed
    unconverted. Otherwise enum, tuple and pydantic-model parameters are converted from
    their JSON form before ``fn`` is called. Raises TypeError for signatures that cannot
    be described (``*args``, missing or unsupported annotations).
    """
    tool_name = name or str(getattr(fn, "__name__", ""))
    if not _TOOL_NAME.match(tool_name):
        raise ValueError(f"tool name {tool_name!r} must match {_TOOL_NAME.pattern}")
    summary, arg_docs = parse_docstring(inspect.getdoc(fn) or "")
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError):
        hints = {}
    context_param: str | None = None
    builder = _SchemaBuilder(where="")
    properties: dict[str, Any] = {}
    required: list[str] = []
    converters: dict[str, Converter] = {}
    for pname, param in inspect.signature(fn).parameters.items():
        where = f"tool '{tool_name}': parameter '{pname}'"
        tp = hints.get(pname, param.annotation)
        if _is_context(tp):
            context_param = pname
            continue
        if resources is not None and pname in resources:
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise TypeError(f"{where}: *args, **kwargs and positional-only are not supported")
        if parameters is not None:
            continue
        if tp is inspect.Parameter.empty:
            raise TypeError(f"{where} has no type annotation")
        builder.where = where
        schema, conv = builder.schema(tp)
        if pname in arg_docs:
            schema = {**schema, "description": arg_docs[pname]}
        if param.default is inspect.Parameter.empty:
            required.append(pname)
        else:
            ok, default = _json_default(param.default)
            if ok:
                schema = {**schema, "default": default}
        properties[pname] = schema
        if conv is not None:
            converters[pname] = conv
    if parameters is None:
        parameters = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            parameters["required"] = required
        if builder.defs:
            parameters["$defs"] = builder.defs
    else:
        try:
            jsonschema.validators.validator_for(parameters).check_schema(parameters)
        except jsonschema.SchemaError as exc:
            raise TypeError(
                f"tool '{tool_name}': invalid parameters schema: {exc.message}"
            ) from None
    spec = ToolSpec(
        name=tool_name,
        description=description if description is not None else summary,
        parameters=parameters,
        read_only=read_only,
    )
    return Tool(
        spec=spec,
        fn=_with_converters(fn, converters) if converters else fn,
        timeout_s=timeout_s,
        max_output_chars=max_output_chars,
        context_param=context_param,
        resources=dict(resources or {}),
    )


def _with_converters(
    fn: Callable[..., Any], converters: dict[str, Converter]
) -> Callable[..., Any]:
    def convert(kwargs: dict[str, Any]) -> dict[str, Any]:
        return {k: converters[k](v) if k in converters else v for k, v in kwargs.items()}

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def call_async(**kwargs: Any) -> Any:
            return await fn(**convert(kwargs))

        return call_async

    @functools.wraps(fn)
    def call(**kwargs: Any) -> Any:
        return fn(**convert(kwargs))

    return call
