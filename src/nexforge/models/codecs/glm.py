"""GLM-4.5 / 4.6 tool calls: ``<tool_call>NAME\\n<arg_key>K</arg_key>\\n<arg_value>V</arg_value>``.

Byte layout, as the GLM-4.6 chat template writes it::

    <tool_call>search_files
    <arg_key>pattern</arg_key>
    <arg_value>a < b</arg_value>
    <arg_key>max_results</arg_key>
    <arg_value>5</arg_value>
    </tool_call>

Parallel calls are consecutive blocks joined by ``\\n``; a call without arguments is
``<tool_call>NAME\\n</tool_call>``. A string value is written raw, with no added newlines;
every other value as JSON (``true``, ``null``, ``1.5``, ``{"a": 1}``), which schema
coercion reads back. Every value round-trips except one whose text contains
``</arg_value>`` followed (after whitespace) by ``<arg_key>`` or ``</tool_call>``. Without
a schema every value parses as a string; under a nullable schema the string ``null``
reads back as null.

Results are ``<tool_response>\\n...\\n</tool_response>`` blocks joined by ``\\n`` (the
template puts them in an ``<|observation|>`` turn). Reasoning is ``<think>...</think>``,
followed by ``\\n`` before the content and before the calls.
"""

from __future__ import annotations

from nexforge.core.errors import ToolCallFormatError
from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.models.codecs import base
from nexforge.models.codecs.base import IdFactory, ParsedText, TurnLayout, new_call_id, skip_ws

_OPEN, _CLOSE = "<tool_call>", "</tool_call>"
_KEY_OPEN, _KEY_CLOSE = "<arg_key>", "</arg_key>"
_VALUE_OPEN, _VALUE_CLOSE = "<arg_value>", "</arg_value>"


class GlmCodec:
    """The GLM-4.5/4.6 convention (``<arg_key>``/``<arg_value>`` pairs, ``<tool_response>``)."""

    name = "glm"
    reasoning_tags: tuple[str, str] | None = ("<think>", "</think>")
    turn_layout = TurnLayout(reasoning_to_rest="\n", content_to_calls="\n")

    def render_calls(self, calls: list[ToolCall]) -> str:
        blocks = []
        for call in calls:
            lines = [f"{_OPEN}{call.name}"]
            for key, value in call.arguments.items():
                lines.append(f"{_KEY_OPEN}{key}{_KEY_CLOSE}")
                lines.append(f"{_VALUE_OPEN}{base.raw_or_json(value)}{_VALUE_CLOSE}")
            lines.append(_CLOSE)
            blocks.append("\n".join(lines))
        return "\n".join(blocks)

    def parse(
        self, text: str, tools: list[ToolSpec], *, id_factory: IdFactory = new_call_id
    ) -> ParsedText:
        return base.scan_calls(text, (_OPEN,), _read_call, base.tools_by_name(tools), id_factory)

    def render_results(self, results: list[Message]) -> str:
        return "\n".join(
            f"<tool_response>\n{base.result_text(result)}\n</tool_response>" for result in results
        )

    def system_prompt(self, tools: list[ToolSpec]) -> str:
        before = [
            "# Tools",
            "You may call one or more functions to assist with the user query.",
            "You are provided with function signatures within <tools></tools> XML tags:\n"
            f"<tools>\n{base.function_signatures(tools)}\n</tools>",
            "For each function call, output the function name and arguments within the "
            "following XML format:\n"
            "<tool_call>{function-name}\n<arg_key>{arg-key-1}</arg_key>\n"
            "<arg_value>{arg-value-1}</arg_value>\n...\n</tool_call>",
            "Write string values as plain text, without quoting or escaping; write "
            "numbers, booleans, null, arrays and objects as JSON. For example:",
        ]
        after = [f"{base.TOOL_RESPONSE_STOP} {base.NO_FUNCTION}"]
        return base.tools_prompt(self, tools, before, base.TOOL_CALL_PARALLEL, after)

    def to_wire(self, messages: list[Message]) -> list[Message]:
        return base.to_wire(self, messages)


def _read_call(text: str, pos: int, index: int) -> tuple[list[base.RawCall], int]:
    """One ``<tool_call>`` block from its opening tag: its call, with the raw argument
    texts, and the position after the block. A block cut off at the end of the text (a stop
    sequence) is accepted as it stands."""
    name = ""

    def fail(problem: str) -> ToolCallFormatError:
        where = f"tool call {index}" + (f" ({name})" if name else "")
        return ToolCallFormatError(f"{where}: {problem}")

    pos = skip_ws(text, pos + len(_OPEN))
    name_end = min(
        (found for found in (text.find(mark, pos) for mark in ("\n", "<")) if found >= 0),
        default=len(text),
    )
    written = text[pos:name_end].strip()
    if not written:
        raise fail(f"expected the function name right after {_OPEN}")
    if written.startswith(("{", "[")):  # the Hermes habit: JSON inside <tool_call>
        raise fail(
            f"expected the function name right after {_OPEN}, got JSON; "
            f"write each argument as {_KEY_OPEN}..{_KEY_CLOSE}{_VALUE_OPEN}..{_VALUE_CLOSE}"
        )
    name = written
    args: dict[str, str] = {}
    pos = name_end
    while (pos := skip_ws(text, pos)) < len(text):
        if text.startswith(_CLOSE, pos):
            return [(name, args, None)], pos + len(_CLOSE)
        if not text.startswith(_KEY_OPEN, pos):
            raise fail(f"expected {_KEY_OPEN} or {_CLOSE}, got {base.snippet(text[pos:])}")
        key_end = text.find(_KEY_CLOSE, pos)
        if key_end < 0:
            raise fail(f"{_KEY_OPEN} is not closed with {_KEY_CLOSE}")
        key = text[pos + len(_KEY_OPEN) : key_end].strip()
        if not key:
            raise fail(f"{_KEY_OPEN} is empty")
        pos = skip_ws(text, key_end + len(_KEY_CLOSE))
        if not text.startswith(_VALUE_OPEN, pos):
            raise fail(f"argument {key!r}: expected {_VALUE_OPEN}, got {base.snippet(text[pos:])}")
        start = pos + len(_VALUE_OPEN)
        end = base.value_end(text, start, _VALUE_CLOSE, (_KEY_OPEN, _CLOSE))
        if end < 0:
            raise fail(f"argument {key!r}: {_VALUE_OPEN} is not closed with {_VALUE_CLOSE}")
        args[key] = text[start:end]
        pos = end + len(_VALUE_CLOSE)
    return [(name, args, None)], pos
