"""validate_arguments: check a tool call against its schema; a one-line message on failure."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator

from nexforge.core.tools import ToolSpec

_CACHE_SIZE = 1024
_REPR_CHARS = 200


FastCheck = Callable[[dict[str, Any]], bool]
_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}
_INERT_KEYS = {"type", "enum", "description", "default", "title", "examples"}
_OBJECT_KEYS = {"type", "properties", "required", "additionalProperties", "description", "title"}


class _Compiled:
    """A jsonschema validator plus, for flat schemas of primitives, a much faster check.

    The fast check only ever says "valid" when jsonschema would; anything else goes to
    the full validator, which also produces the message.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        self.validator: Validator = cls(schema)
        self.fast = _fast_check(schema)

    def is_valid(self, arguments: dict[str, Any]) -> bool:
        if self.fast is not None and self.fast(arguments):
            return True
        return self.validator.is_valid(arguments)


def _fast_check(schema: dict[str, Any]) -> FastCheck | None:
    if schema.get("type") != "object" or not set(schema) <= _OBJECT_KEYS:
        return None
    properties = schema.get("properties", {})
    extra_allowed = schema.get("additionalProperties", True)
    if not isinstance(properties, dict) or not isinstance(extra_allowed, bool):
        return None
    checks: dict[str, tuple[tuple[type, ...], bool, list[Any] | None]] = {}
    for name, sub in properties.items():
        if not isinstance(sub, dict) or not set(sub) <= _INERT_KEYS:
            return None
        kinds = sub.get("type")
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not kinds or not all(k in _PRIMITIVES or k == "null" for k in kinds):
            return None
        classes = tuple(c for k in kinds if k != "null" for c in _PRIMITIVES[k])
        checks[name] = (classes, "null" in kinds, sub.get("enum"))
    required = tuple(schema.get("required", ()))

    def check(arguments: dict[str, Any]) -> bool:
        if not all(name in arguments for name in required):
            return False
        for key, value in arguments.items():
            rule = checks.get(key)
            if rule is None:
                if extra_allowed:
                    continue
                return False
            classes, nullable, enum = rule
            if value is None:
                ok = nullable
            elif type(value) is bool:  # JSON Schema: a boolean is not a number
                ok = bool in classes
            else:
                ok = isinstance(value, classes)
            if not ok or (enum is not None and (type(value) is bool or value not in enum)):
                return False
        return True

    return check


# Two levels: by the identity of the parameters dict (no hashing on the hot path), then by
# its canonical JSON so equal schemas of different specs share one compiled validator.
# Schemas are treated as immutable once a spec is built.
_by_id: OrderedDict[int, tuple[dict[str, Any], _Compiled]] = OrderedDict()
_by_json: OrderedDict[str, _Compiled] = OrderedDict()


def _compiled(schema: dict[str, Any]) -> _Compiled:
    hit = _by_id.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    key = json.dumps(schema, sort_keys=True, default=str)
    compiled = _by_json.get(key)
    if compiled is None:
        compiled = _by_json[key] = _Compiled(schema)
        if len(_by_json) > _CACHE_SIZE:
            _by_json.popitem(last=False)
    # The cached dict is kept alive, so its id cannot be reused while the entry exists.
    _by_id[id(schema)] = (schema, compiled)
    if len(_by_id) > _CACHE_SIZE:
        _by_id.popitem(last=False)
    return compiled


def validate_arguments(spec: ToolSpec, arguments: Any) -> str | None:
    """None when ``arguments`` fit ``spec.parameters``, else one line for the model."""
    if not isinstance(arguments, dict):
        return f"arguments must be a JSON object, got {_short(arguments)}"
    compiled = _compiled(spec.parameters)
    if compiled.is_valid(arguments):
        return None
    error = best_match(compiled.validator.iter_errors(arguments))
    return _describe(error) if error is not None else "invalid arguments"


def _describe(error: ValidationError) -> str:
    path = _path(error.absolute_path)
    where = f"argument '{path}': " if path else ""
    instance = error.instance
    # Typed as possibly unset; always set on errors that come from iter_errors.
    expected: Any = error.validator_value
    schema: Any = error.schema
    if error.validator == "required" and isinstance(instance, dict):
        missing = [n for n in expected if n not in instance]
        name = missing[0] if missing else "?"
        if path:
            return f"{where}missing required property '{name}'"
        return f"missing required argument '{name}'"
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = schema.get("properties", {}) if isinstance(schema, dict) else {}
        extra = sorted(k for k in instance if k not in known)
        name = extra[0] if extra else "?"
        return f"{where}unexpected property '{name}'" if path else f"unexpected argument '{name}'"
    if error.validator in ("type", "enum", "const"):
        if error.validator == "type":
            want = expected if isinstance(expected, str) else " or ".join(expected)
            return f"{where}{_short(instance)} is not of type '{want}'"
        if error.validator == "enum":
            return f"{where}{_short(instance)} is not one of {_short(expected)}"
    return where + _one_line(error.message)


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any) -> str:
    return _one_line(repr(value))


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REPR_CHARS else text[: _REPR_CHARS - 3] + "..."
