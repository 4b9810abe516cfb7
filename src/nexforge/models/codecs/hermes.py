"""Hermes / Qwen2.5 tool calls: ``<tool_call>\\n{"name": .., "arguments": {..}}\\n</tool_call>``.

Parsing is tolerant of what small models actually write, because a call the runtime misses
is a wasted step:

- ``arguments`` given as a JSON *string* is decoded; if it does not decode, the call keeps
  the raw text in ``ToolCall.invalid_arguments`` and the runtime answers it with an error.
- ``"parameters"`` is accepted for ``"arguments"``, and an OpenAI-style
  ``{"type": "function", "function": {...}}`` wrapper is unwrapped; a block may hold a list.
- Only when the text has no ``<tool_call>`` block and ``tools`` is non-empty: a fenced
  ```` ```json ```` block, or the whole reply as one bare JSON object, is taken as a call
  if it names an offered tool and has no keys besides name/arguments/parameters. Anything
  else is ordinary content, never an error, since the model may just be answering in JSON.

String values are coerced to the tool's schema like text values are (``"5"`` for an
integer is 5), so under a nullable schema the string ``"null"`` reads back as null.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from nexforge.core.errors import ToolCallFormatError
from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.models.codecs import base
from nexforge.models.codecs.base import IdFactory, ParsedText, TurnLayout, new_call_id, skip_ws

_OPEN, _CLOSE = "<tool_call>", "</tool_call>"
_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n(.*?)\n?[ \t]*```", re.DOTALL)
_CALL_KEYS = frozenset({"name", "arguments", "parameters"})
_DECODER = json.JSONDecoder()


class HermesCodec:
    """The Hermes / Qwen2.5 / Qwen3 convention (``<tool_call>`` JSON, ``<tool_response>``
    results, reasoning in ``<think>``)."""

    name = "hermes"
    reasoning_tags: tuple[str, str] | None = ("<think>", "</think>")
    # Qwen3's template (Qwen2.5's has no reasoning and writes the same calls and results).
    turn_layout = TurnLayout(reasoning_pad="\n", after_reasoning="\n\n", content_to_calls="\n")

    def render_calls(self, calls: list[ToolCall]) -> str:
        blocks = []
        for call in calls:
            arguments: Any = call.arguments
            if call.invalid_arguments is not None and not call.arguments:
                arguments = call.invalid_arguments  # what the model wrote, for its history
            payload = base.json_text({"name": call.name, "arguments": arguments})
            blocks.append(f"{_OPEN}\n{payload}\n{_CLOSE}")
        return "\n".join(blocks)

    def parse(
        self, text: str, tools: list[ToolSpec], *, id_factory: IdFactory = new_call_id
    ) -> ParsedText:
        specs = base.tools_by_name(tools)
        if _OPEN not in text and specs:
            loose = _parse_loose(text, specs, id_factory)
            if loose is not None:
                return loose
        return base.scan_calls(text, (_OPEN,), _read_block, specs, id_factory)

    def render_results(self, results: list[Message]) -> str:
        return "\n".join(
            f"<tool_response>\n{base.result_text(result)}\n</tool_response>" for result in results
        )

    def system_prompt(self, tools: list[ToolSpec]) -> str:
        before = [
            "# Tools",
            "You may call one or more functions to assist with the user query. "
            "You are provided with function signatures within <tools></tools> XML tags:",
            f"<tools>\n{base.function_signatures(tools)}\n</tools>",
            "For each function call, return a JSON object with the function name and "
            "arguments within <tool_call></tool_call> XML tags. For example:",
        ]
        after = [f"{base.TOOL_RESPONSE_STOP} {base.NO_FUNCTION}"]
        return base.tools_prompt(self, tools, before, base.TOOL_CALL_PARALLEL, after)

    def to_wire(self, messages: list[Message]) -> list[Message]:
        return base.to_wire(self, messages)


def _read_block(text: str, pos: int, index: int) -> tuple[list[base.RawCall], int]:
    """The calls of one block from its opening tag (``index`` numbers the first call in error
    messages), decoded from its JSON value(s), and the position after the block."""
    objects: list[Any] = []
    pos = skip_ws(text, pos + len(_OPEN))
    while pos < len(text) and not text.startswith(_CLOSE, pos):
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as error:
            raise ToolCallFormatError(
                f"tool call {index}: invalid JSON in {_OPEN}: {error.msg} "
                f"(line {error.lineno}, column {error.colno})"
            ) from None
        objects.extend(value if isinstance(value, list) else [value])
        pos = skip_ws(text, pos)
    if not objects:
        raise ToolCallFormatError(f"tool call {index}: empty {_OPEN} block")
    if text.startswith(_CLOSE, pos):
        pos += len(_CLOSE)
    return [_to_raw_call(obj, at) for at, obj in enumerate(objects, index)], pos


def _unwrap(obj: Any) -> Any:
    if isinstance(obj, Mapping) and isinstance(obj.get("function"), Mapping):
        return obj["function"]
    return obj


def _to_raw_call(obj: Any, index: int) -> base.RawCall:
    obj = _unwrap(obj)
    if not isinstance(obj, Mapping):
        raise ToolCallFormatError(
            f"tool call {index}: expected a JSON object in {_OPEN}, got {type(obj).__name__}"
        )
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ToolCallFormatError(f'tool call {index}: "name" missing in {_OPEN} JSON')
    name = name.strip()
    raw = obj.get("arguments", obj.get("parameters"))
    invalid: str | None = None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else None
        except ValueError:
            invalid = raw
    if isinstance(raw, Mapping):
        return name, raw, None
    if raw is not None and invalid is None:
        invalid = base.json_text(raw)
    return name, {}, invalid


def _as_offered_calls(value: Any, specs: dict[str, ToolSpec]) -> list[Any] | None:
    """The call objects in ``value`` if every one names an offered tool, else None."""
    objects = [_unwrap(item) for item in (value if isinstance(value, list) else [value])]
    for obj in objects:
        if not (
            isinstance(obj, Mapping)
            and obj.get("name") in specs
            and set(obj) <= _CALL_KEYS
            and isinstance(obj.get("arguments", obj.get("parameters", {})), Mapping | str)
        ):
            return None
    return objects or None


def _parse_loose(text: str, specs: dict[str, ToolSpec], id_factory: IdFactory) -> ParsedText | None:
    """Calls written as fenced JSON or as a bare JSON reply; None when there are none."""
    objects: list[Any] = []
    outside: list[str] = []
    pos = 0
    for fence in _FENCE.finditer(text):
        try:
            found = _as_offered_calls(json.loads(fence.group(1)), specs)
        except ValueError:
            found = None
        if found is not None:
            outside.append(text[pos : fence.start()])
            pos = fence.end()
            objects.extend(found)
    outside.append(text[pos:])
    if not objects:
        stripped = text.strip()
        if not stripped.startswith(("{", "[")):
            return None
        try:
            found = _as_offered_calls(json.loads(stripped), specs)
        except ValueError:
            return None
        if found is None:
            return None
        objects, outside = found, []
    calls = [
        base.make_call(_to_raw_call(obj, i), specs, id_factory) for i, obj in enumerate(objects, 1)
    ]
    content = "".join(outside).strip()
    return ParsedText(content=content or None, calls=calls)
