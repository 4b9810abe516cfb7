"""JSON schemas that constrain a local model's output to the offered tools' call shapes.

Plain ``tool_choice`` does not constrain llama.cpp (FIELD-NOTES): small models then write
calls as free JSON that may name no real tool. Instead each step's output is constrained by
a JSON schema (llama.cpp's ``json_schema``, enforced by llguidance):

- one *call shape* per tool, ``{"name": <const tool name>, "arguments": <its parameters>}``,
  combined with ``anyOf`` so each tool's arguments stay tied to its own name;
- ``required``: any call shape; a named tool: that shape only; ``none``: no constraint;
- ``auto``: any call shape or the *answer shape* ``{"answer": "<final answer>"}``.

Why a JSON answer shape for ``auto`` rather than a grammar allowing free text: llama.cpp
refuses a custom grammar together with ``tools`` ("Cannot use custom grammar constraints
with tools"), and the tools must stay in the request so the model's chat template renders
them. A JSON schema is accepted alongside tools, and the 0.5B model at temperature 0 fills
``{"answer": ...}`` readily (measured: it wrote the same answer text it writes unconstrained).

One call per step: the 0.5B repeats a call it has just made when allowed to write several
(measured), so an array of calls would mostly produce duplicates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nexforge.core.tools import ToolSpec
from nexforge.models.base import NamedToolChoice, ToolChoice

ANSWER_KEY = "answer"

# Validation keywords llguidance does not enforce (it skips them or fails on them): dropped
# so a tool's schema compiles; the tool still validates its arguments itself.
UNSUPPORTED_KEYWORDS = frozenset(
    {
        "not",
        "if",
        "then",
        "else",
        "dependentRequired",
        "dependentSchemas",
        "dependencies",
        "unevaluatedProperties",
        "unevaluatedItems",
        "propertyNames",
        "contains",
        "minContains",
        "maxContains",
        "uniqueItems",
        "contentMediaType",
        "contentEncoding",
        "contentSchema",
        # llguidance supports these only when every key is required: not worth the failure.
        "minProperties",
        "maxProperties",
    }
)
# Annotations: no effect on decoding, only size.
ANNOTATION_KEYWORDS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "title",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)
# Keywords whose value is a map of name -> subschema.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions"})
# Keywords whose value is one subschema (or a list of them, for anyOf & co).
_SCHEMA_VALUES = frozenset({"items", "additionalItems", "additionalProperties"})
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})


@dataclass(frozen=True)
class CallOutput:
    """The constrained output named a tool."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class AnswerOutput:
    """The constrained output is a final answer."""

    text: str


def sanitize_schema(schema: Any) -> dict[str, Any]:
    """A copy of ``schema`` llguidance compiles: unsupported keywords dropped, ``oneOf``
    read as ``anyOf``.

    Boolean subschemas (llguidance wants objects) become ``{}`` for ``true``; a ``false``
    property is removed and ``items: false`` becomes ``maxItems: 0``. References outside
    the document become ``{}``; OpenAPI's ``nullable: true`` becomes a ``"null"`` type.
    """
    if not isinstance(schema, dict):
        return {}
    return _sanitize(schema)


def _sanitize(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in UNSUPPORTED_KEYWORDS or key in ANNOTATION_KEYWORDS or key == "nullable":
            continue
        if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
            continue  # remote reference: llguidance cannot fetch it; any value is allowed
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {
                k: _sanitize(v) if isinstance(v, dict) else {}
                for k, v in value.items()
                if v is not False
            }
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            # llguidance refuses oneOf; anyOf decodes the same shapes (looser only when the
            # branches overlap, and the tool validates its arguments itself anyway).
            target = "anyOf" if key == "oneOf" else key
            out[target] = [_sanitize(v) if isinstance(v, dict) else {} for v in value]
        elif key in _SCHEMA_VALUES and isinstance(value, dict):
            out[key] = _sanitize(value)
        elif key == "items" and value is False:
            out["maxItems"] = 0
        elif key == "items" and value is True:
            continue
        else:
            out[key] = value
    if node.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _rebase_refs(node: Any, base: str) -> Any:
    """Local ``$ref``s rewritten as if the schema's root had moved to pointer ``base``."""
    if isinstance(node, list):
        return [_rebase_refs(v, base) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _rebase_refs(v, base) for k, v in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        out["$ref"] = "#" + base + ref[1:]
    return out


def _has_ref(node: Any) -> bool:
    if isinstance(node, dict):
        return "$ref" in node or any(_has_ref(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_ref(v) for v in node)
    return False


def _arguments_schema(tool: ToolSpec) -> dict[str, Any]:
    schema = sanitize_schema(tool.parameters)
    if "type" not in schema and "$ref" not in schema and "anyOf" not in schema:
        schema["type"] = "object"  # arguments are always an object
    return schema


def call_shape(tool: ToolSpec, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"name": <this tool>, "arguments": <its parameters>}`` as a closed object schema."""
    return {
        "type": "object",
        "properties": {
            "name": {"const": tool.name},
            "arguments": arguments if arguments is not None else _arguments_schema(tool),
        },
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def answer_shape() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {ANSWER_KEY: {"type": "string"}},
        "required": [ANSWER_KEY],
        "additionalProperties": False,
    }


def _call_shapes(tools: list[ToolSpec]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The call shapes and the ``$defs`` they need.

    A tool's parameters that use ``$ref`` move under the root ``$defs`` (their refs rebased
    there), since refs like ``#/$defs/X`` would otherwise resolve against the combined root.
    """
    shapes: list[dict[str, Any]] = []
    defs: dict[str, Any] = {}
    for index, tool in enumerate(tools):
        arguments = _arguments_schema(tool)
        if _has_ref(arguments):
            key = f"tool{index}"
            defs[key] = _rebase_refs(arguments, f"/$defs/{key}")
            arguments = {"$ref": f"#/$defs/{key}"}
        shapes.append(call_shape(tool, arguments))
    return shapes, defs


def build_constraint(tools: list[ToolSpec], choice: ToolChoice) -> dict[str, Any] | None:
    """The JSON schema the model's output must match, or ``None`` for no constraint.

    Raises ValueError when a named tool is not among ``tools``.
    """
    if not tools or choice == "none":
        return None
    if isinstance(choice, NamedToolChoice):
        named = [t for t in tools if t.name == choice.name]
        if not named:
            offered = ", ".join(t.name for t in tools)
            raise ValueError(f"tool_choice names {choice.name!r}, not an offered tool ({offered})")
        tools = named[:1]
    shapes, defs = _call_shapes(tools)
    if choice == "auto":
        shapes.append(answer_shape())
    schema: dict[str, Any] = shapes[0] if len(shapes) == 1 else {"anyOf": shapes}
    if defs:
        schema = {**schema, "$defs": defs}
    return schema


def parse_output(text: str) -> CallOutput | AnswerOutput:
    """Decode constrained output; ValueError when it is not a complete call or answer.

    Incomplete output happens when generation stopped early (max tokens, a stop string).
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"constrained output is not complete JSON: {text[:80]!r}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"constrained output is not a JSON object: {text[:80]!r}")
    if isinstance(data.get(ANSWER_KEY), str) and "name" not in data:
        return AnswerOutput(data[ANSWER_KEY])
    name, arguments = data.get("name"), data.get("arguments")
    if isinstance(name, str) and isinstance(arguments, dict):
        return CallOutput(name, arguments)
    raise ValueError(f"constrained output is neither a call nor an answer: {text[:80]!r}")
