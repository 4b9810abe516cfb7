"""DeepSeek-V3.1 tool calls: special tokens around ``NAME<｜tool▁sep｜>{json arguments}``.

Byte layout, as the DeepSeek-V3.1 chat template writes it (one line, no whitespace)::

    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>read_file<｜tool▁sep｜>{"path": "a.py", "limit": 5}<｜tool▁call▁end｜><｜tool▁calls▁end｜>

All calls of one reply are chained in one block. The arguments are one JSON object as
``json.dumps`` writes it (no ASCII escaping), so every value round-trips, even a string
holding these tokens; only schema coercion, as in every style, reads the string ``null``
under a nullable schema as null. Arguments that are not a JSON object are kept as text in
``ToolCall.invalid_arguments`` (the runtime answers such a call with an error) and written
back verbatim; a JSON string holding an object is decoded, since models double-encode.

Results are ``<｜tool▁output▁begin｜>...<｜tool▁output▁end｜>``, chained with no separator.
The template writes an empty ``<think></think>`` and drops reasoning from history; a
thinking-mode reply is ``<think>reasoning</think>`` directly followed by the content.
"""  # noqa: RUF002 (the tokens really use U+FF5C, not "|")

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nexforge.core.errors import ToolCallFormatError
from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.models.codecs import base
from nexforge.models.codecs.base import IdFactory, ParsedText, TurnLayout, new_call_id, skip_ws

# DeepSeek's special tokens are spelled with U+FF5C (fullwidth bar) and U+2581.
CALLS_BEGIN, CALLS_END = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"  # noqa: RUF001
CALL_BEGIN, CALL_END = "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>"  # noqa: RUF001
SEP = "<｜tool▁sep｜>"  # noqa: RUF001
OUTPUT_BEGIN, OUTPUT_END = "<｜tool▁output▁begin｜>", "<｜tool▁output▁end｜>"  # noqa: RUF001
_DECODER = json.JSONDecoder()


class DeepSeekCodec:
    """The DeepSeek-V3.1 convention (special-token call blocks and tool outputs)."""

    name = "deepseek"
    reasoning_tags: tuple[str, str] | None = ("<think>", "</think>")
    turn_layout = TurnLayout(content_to_calls="")

    def render_calls(self, calls: list[ToolCall]) -> str:
        chained = "".join(
            f"{CALL_BEGIN}{call.name}{SEP}{_arguments_text(call)}{CALL_END}" for call in calls
        )
        return f"{CALLS_BEGIN}{chained}{CALLS_END}"

    def parse(
        self, text: str, tools: list[ToolSpec], *, id_factory: IdFactory = new_call_id
    ) -> ParsedText:
        # A lone call without the outer token counts as a block too.
        opens = (CALLS_BEGIN, CALL_BEGIN)
        return base.scan_calls(text, opens, _read_block, base.tools_by_name(tools), id_factory)

    def render_results(self, results: list[Message]) -> str:
        return "".join(
            f"{OUTPUT_BEGIN}{base.result_text(result)}{OUTPUT_END}" for result in results
        )

    def system_prompt(self, tools: list[ToolSpec]) -> str:
        docs = "\n\n".join(
            f"### {tool.name}\nDescription: {tool.description.strip()}\n\n"
            f"Parameters: {base.json_text(tool.parameters)}"
            for tool in tools
        )
        before = [
            "## Tools",
            "You have access to the following tools:",
            docs,
            "IMPORTANT: ALWAYS adhere to this exact format for tool use:\n"
            f"{CALLS_BEGIN}{CALL_BEGIN}tool_call_name{SEP}tool_call_arguments{CALL_END}"
            f"{{additional_tool_calls}}{CALLS_END}",
            "Where:\n"
            "- `tool_call_name` must be an exact match to one of the available tools\n"
            "- `tool_call_arguments` must be valid JSON that strictly follows the tool's "
            "Parameters Schema\n"
            "- For multiple tool calls, chain them directly without separators or spaces",
            "For example:",
        ]
        parallel = "Several independent calls in one reply:"
        after = [
            "Then stop: the results come back as tool outputs, in the same order. When you "
            "need no tool, answer in plain text.",
        ]
        return base.tools_prompt(self, tools, before, parallel, after)

    def to_wire(self, messages: list[Message]) -> list[Message]:
        return base.to_wire(self, messages)


def _arguments_text(call: ToolCall) -> str:
    if call.invalid_arguments is not None and not call.arguments:
        return call.invalid_arguments  # what the model wrote, for its history
    return base.json_text(call.arguments)


def _read_block(text: str, pos: int, first: int) -> tuple[list[base.RawCall], int]:
    """The calls of one block from its ``CALLS_BEGIN`` (or lone ``CALL_BEGIN``): name,
    decoded arguments and undecodable argument text; and the position after the block. A
    block cut off at the end of the text (a stop sequence) is accepted as it stands."""
    found: list[base.RawCall] = []
    if text.startswith(CALLS_BEGIN, pos):
        pos += len(CALLS_BEGIN)
    while (pos := skip_ws(text, pos)) < len(text) and not text.startswith(CALLS_END, pos):
        index = first + len(found)
        if not text.startswith(CALL_BEGIN, pos):
            raise ToolCallFormatError(
                f"tool call {index}: expected {CALL_BEGIN} or {CALLS_END}, "
                f"got {base.snippet(text[pos:])}"
            )
        pos += len(CALL_BEGIN)
        sep = text.find(SEP, pos)
        end = text.find(CALL_END, pos)
        if sep < 0 or 0 <= end < sep:
            raise ToolCallFormatError(
                f"tool call {index}: {SEP} missing between the function name and its arguments"
            )
        name = text[pos:sep].strip()
        if not name:
            raise ToolCallFormatError(f"tool call {index}: empty function name before {SEP}")
        arguments, invalid, pos = _read_arguments(text, sep + len(SEP))
        if not text.startswith(CALL_END, pos):
            raise ToolCallFormatError(
                f"tool call {index} ({name}): arguments are not closed with {CALL_END}"
            )
        found.append((name, arguments, invalid))
        pos += len(CALL_END)
    if not found:
        raise ToolCallFormatError(f"tool call {first}: empty {CALLS_BEGIN} block")
    if text.startswith(CALLS_END, pos):
        pos += len(CALLS_END)
    return found, pos


def _read_arguments(text: str, pos: int) -> tuple[dict[str, Any], str | None, int]:
    """Decoded arguments, or the raw text when they are not a JSON object; and the position
    of what follows them.

    The JSON is decoded in place rather than cut at the next ``CALL_END``, since
    a string argument may contain that token.
    """
    start = skip_ws(text, pos)
    try:
        value, after = _DECODER.raw_decode(text, start)
        after = skip_ws(text, after)
    except json.JSONDecodeError:
        value, after = None, -1
    if after < 0 or not text.startswith(CALL_END, after):
        end = text.find(CALL_END, start)
        if end < 0:
            return {}, text[start:].strip(), len(text)
        written = text[start:end].strip()
        return {}, written or None, end  # nothing at all is a call without arguments
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None  # a plain JSON string, not double-encoded arguments
    if isinstance(value, Mapping):
        return dict(value), None, after
    return {}, text[start:after].strip(), after
