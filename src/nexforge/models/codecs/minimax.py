"""MiniMax-M2 tool calls: ``<minimax:tool_call>`` holding ``<invoke name="..">`` elements.

Byte layout, as the MiniMax-M2 chat template writes it::

    <minimax:tool_call>
    <invoke name="search_files">
    <parameter name="pattern">a < b</parameter>
    <parameter name="max_results">5</parameter>
    </invoke>
    <invoke name="read_file">
    </invoke>
    </minimax:tool_call>

All calls of one reply are ``<invoke>`` elements of one block. A string value is written
raw, with no added newlines; every other value as JSON (``true``, ``null``, ``1.5``), which
schema coercion reads back. Every value round-trips except one whose text contains
``</parameter>`` followed (after whitespace) by ``<parameter name=``, ``</invoke>`` or
``</minimax:tool_call>``. Without a schema every value parses as a string; under a
nullable schema the string ``null`` reads back as null. Names may be quoted with ``"`` or
``'`` or not at all.

Results are ``<response>...</response>`` elements joined by ``\\n`` (the template puts
them in a ``tool`` turn). Reasoning is ``<think>\\n...\\n</think>\\n\\n``, and the call
block always starts on a new line, even without content.
"""

from __future__ import annotations

import re

from nexforge.core.errors import ToolCallFormatError
from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.models.codecs import base
from nexforge.models.codecs.base import IdFactory, ParsedText, TurnLayout, new_call_id, skip_ws

_OPEN, _CLOSE = "<minimax:tool_call>", "</minimax:tool_call>"
_INVOKE_CLOSE, _PARAMETER_CLOSE = "</invoke>", "</parameter>"
_NAME_ATTRIBUTE = r"""\s+name\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))\s*>"""
_ELEMENTS = {tag: re.compile(f"<{tag}" + _NAME_ATTRIBUTE) for tag in ("invoke", "parameter")}
_VALUE_BOUNDARIES = ("<parameter name=", _INVOKE_CLOSE, _CLOSE)


class MiniMaxCodec:
    """The MiniMax-M2 convention (``<invoke>`` elements, ``<response>`` results)."""

    name = "minimax"
    reasoning_tags: tuple[str, str] | None = ("<think>", "</think>")
    turn_layout = TurnLayout(
        reasoning_pad="\n", after_reasoning="\n\n", content_to_calls="\n", calls_only="\n"
    )

    def render_calls(self, calls: list[ToolCall]) -> str:
        lines = [_OPEN]
        for call in calls:
            lines.append(f'<invoke name="{call.name}">')
            for key, value in call.arguments.items():
                lines.append(f'<parameter name="{key}">{base.raw_or_json(value)}{_PARAMETER_CLOSE}')
            lines.append(_INVOKE_CLOSE)
        lines.append(_CLOSE)
        return "\n".join(lines)

    def parse(
        self, text: str, tools: list[ToolSpec], *, id_factory: IdFactory = new_call_id
    ) -> ParsedText:
        return base.scan_calls(text, (_OPEN,), _read_block, base.tools_by_name(tools), id_factory)

    def render_results(self, results: list[Message]) -> str:
        return "\n".join(f"<response>{base.result_text(result)}</response>" for result in results)

    def system_prompt(self, tools: list[ToolSpec]) -> str:
        signatures = "\n".join(
            f"<tool>{base.json_text(base.function_json(tool))}</tool>" for tool in tools
        )
        before = [
            "# Tools",
            "You may call one or more tools to assist with the user query.\n"
            "Here are the tools available in JSONSchema format:",
            f"<tools>\n{signatures}\n</tools>",
            "When making tool calls, use XML format to invoke tools and pass parameters. "
            "Write string values as plain text, without quoting or escaping; write "
            "numbers, booleans, null, arrays and objects as JSON. For example:",
        ]
        parallel = (
            "To make several independent calls in one reply, write one <invoke> element "
            "per call in the same block:"
        )
        after = [
            "Then stop: the results come back as <response> elements, in the same order. "
            "When you need no tool, answer in plain text.",
        ]
        return base.tools_prompt(self, tools, before, parallel, after)

    def to_wire(self, messages: list[Message]) -> list[Message]:
        return base.to_wire(self, messages)


def _read_block(text: str, pos: int, first: int) -> tuple[list[base.RawCall], int]:
    """The ``<invoke>`` elements of one block from its opening tag (``first`` numbers the
    first call in error messages) and the position after the block. A block cut off at the
    end of the text (a stop sequence) is accepted as it stands."""
    found: list[base.RawCall] = []
    pos += len(_OPEN)
    while (pos := skip_ws(text, pos)) < len(text) and not text.startswith(_CLOSE, pos):
        where = f"tool call {first + len(found)}"
        name, pos = _open_element("invoke", text, pos, where, _CLOSE)
        args, pos = _read_parameters(text, pos, f"{where} ({name})")
        found.append((name, args, None))
    if not found:
        raise ToolCallFormatError(f"tool call {first}: empty {_OPEN} block")
    if text.startswith(_CLOSE, pos):
        pos += len(_CLOSE)
    return found, pos


def _read_parameters(text: str, pos: int, where: str) -> tuple[dict[str, str], int]:
    args: dict[str, str] = {}
    while (pos := skip_ws(text, pos)) < len(text):
        if text.startswith(_INVOKE_CLOSE, pos):
            return args, pos + len(_INVOKE_CLOSE)
        key, start = _open_element("parameter", text, pos, where, _INVOKE_CLOSE)
        end = base.value_end(text, start, _PARAMETER_CLOSE, _VALUE_BOUNDARIES)
        if end < 0:
            raise ToolCallFormatError(
                f"{where}: <parameter name={key!r}> is not closed with {_PARAMETER_CLOSE}"
            )
        args[key] = text[start:end]
        pos = end + len(_PARAMETER_CLOSE)
    return args, pos


def _open_element(tag: str, text: str, pos: int, where: str, other: str) -> tuple[str, int]:
    """The name of the ``<tag name=..>`` element opening at ``pos`` and the position after
    its opening tag; ``other`` is what else may stand there."""
    match = _ELEMENTS[tag].match(text, pos)
    if match is None:
        raise ToolCallFormatError(
            f'{where}: expected <{tag} name="..."> or {other}, got {base.snippet(text[pos:])}'
        )
    name = next(group for group in match.groups() if group is not None).strip()
    if not name:
        raise ToolCallFormatError(f"{where}: <{tag}> has an empty name")
    return name, match.end()
