"""Schema-aware coercion of text argument values.

Text-mode models write every argument as text (``<max_results>5</max_results>``) or put
numbers in quotes. Coercing against the tool's JSON Schema turns ``"5"`` into ``5`` so the
runtime validates what the model meant. Anything that does not convert is returned
unchanged: validation (and the error the model sees) happens elsewhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from nexforge.core.tools import ToolSpec

_INTEGER = re.compile(r"[-+]?\d+(?:\.0*)?")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# Non-string types are tried in this order; "string" is always the fallback.
_TRY_ORDER = ("boolean", "integer", "number", "array", "object")
_MAX_REF_DEPTH = 16


def schema_types(schema: Mapping[str, Any], root: Mapping[str, Any] | None = None) -> list[str]:
    """The JSON types a schema admits, flattening ``type`` lists, anyOf/oneOf/allOf,
    ``nullable``, ``enum``/``const`` and local ``$ref``s. Empty means "unknown"."""
    found: list[str] = []
    _collect_types(schema, root or schema, found, 0)
    return found


def _collect_types(
    schema: Mapping[str, Any], root: Mapping[str, Any], found: list[str], depth: int
) -> None:
    if depth > _MAX_REF_DEPTH:
        return

    def add(kind: str) -> None:
        if kind not in found:
            found.append(kind)

    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _resolve_ref(ref, root)
        if target is not None:
            _collect_types(target, root, found, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, str):
        add(kind)
    elif isinstance(kind, list):
        for item in kind:
            if isinstance(item, str):
                add(item)
    for key in ("anyOf", "oneOf", "allOf"):
        subs = schema.get(key)
        if isinstance(subs, list):
            for sub in subs:
                if isinstance(sub, Mapping):
                    _collect_types(sub, root, found, depth + 1)
    if schema.get("nullable") is True:
        add("null")
    if "type" not in schema:
        values = list(schema.get("enum", []) or [])
        if "const" in schema:
            values.append(schema["const"])
        for value in values:
            add(_json_type(value))


def _resolve_ref(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Resolve a local ``#/...`` pointer (pydantic puts enums and nested models in $defs)."""
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part.replace("~1", "/").replace("~0", "~"))
    return node if isinstance(node, Mapping) else None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def coerce_value(
    value: str, schema: Mapping[str, Any], root: Mapping[str, Any] | None = None
) -> Any:
    """Convert ``value`` to the first non-string type ``schema`` admits that it parses as.

    ``"null"`` becomes ``None`` when the schema admits null; a pure string schema keeps the
    text verbatim (whitespace included). ``root`` resolves ``$ref``s (defaults to ``schema``).
    """
    types = schema_types(schema, root)
    if not types or all(kind == "string" for kind in types):
        return value
    text = value.strip()
    if "null" in types and text in ("null", "None"):
        return None
    for kind in _TRY_ORDER:
        if kind in types:
            converted = _convert(text, kind)
            if converted is not _FAILED:
                return converted
    return value


_FAILED: Any = object()


def _convert(text: str, kind: str) -> Any:
    if kind == "boolean":
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return _FAILED
    if kind == "integer":
        if _INTEGER.fullmatch(text):
            return int(text.split(".", 1)[0])
        return _FAILED
    if kind == "number":
        if _NUMBER.fullmatch(text):
            number = float(text)
            return int(text) if re.fullmatch(r"[-+]?\d+", text) else number
        return _FAILED
    try:
        decoded = json.loads(text)
    except ValueError:
        return _FAILED
    wanted = list if kind == "array" else dict
    return decoded if isinstance(decoded, wanted) else _FAILED


def coerce_arguments(args: Mapping[str, Any], spec: ToolSpec | None) -> dict[str, Any]:
    """Coerce the string values of ``args`` to ``spec``'s parameter types.

    Non-string values, unknown parameters and unknown tools (``spec is None``) pass through
    untouched.
    """
    if spec is None:
        return dict(args)
    properties = spec.parameters.get("properties")
    if not isinstance(properties, Mapping):
        return dict(args)
    coerced: dict[str, Any] = {}
    for key, value in args.items():
        schema = properties.get(key)
        if isinstance(value, str) and isinstance(schema, Mapping):
            coerced[key] = coerce_value(value, schema, spec.parameters)
        else:
            coerced[key] = value
    return coerced
