"""Qwen3-Coder tool calls: ``<tool_call>\\n<function=NAME>\\n<parameter=ARG>\\nVALUE\\n...``.

Byte layout, as the Qwen3-Coder chat template writes it::

    <tool_call>
    <function=search_files>
    <parameter=pattern>
    a < b
    </parameter>
    <parameter=max_results>
    5
    </parameter>
    </function>
    </tool_call>

Parallel calls are consecutive blocks joined by ``\\n``. A string value is written raw (no
escaping); objects and arrays as JSON; other values as Python's ``str`` would write them,
as the template's ``| string`` filter does (``True``, ``None``, ``1.5``), which schema
coercion reads back. Parsing strips exactly one ``\\n`` after ``<parameter=..>`` and one
before ``</parameter>``, so every string round-trips except one that itself contains
``</parameter>`` followed (after whitespace) by ``<parameter=``, ``</function>`` or
``</tool_call>`` (the same goes for the JSON text of an object or array). Values parse as
text and are coerced to the tool's schema, so without a schema every value is a string,
and under a nullable schema the string ``null`` or ``None`` reads back as null.

Results are ``<tool_response>\\n...\\n</tool_response>\\n`` blocks, one per result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from nexforge.core.errors import ToolCallFormatError
from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.models.codecs import base
from nexforge.models.codecs.base import IdFactory, ParsedText, TurnLayout, new_call_id, skip_ws

_OPEN, _CLOSE = "<tool_call>", "</tool_call>"
_FUNCTION_CLOSE, _PARAMETER_CLOSE = "</function>", "</parameter>"
_FUNCTION = re.compile(r"<function=([^>\n]*)>")
_PARAMETER = re.compile(r"<parameter=([^>\n]*)>")
_VALUE_BOUNDARIES = ("<parameter=", _FUNCTION_CLOSE, _CLOSE)


def _render_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list):
        return base.json_text(value)
    return str(value)


class Qwen3CoderCodec:
    """The Qwen3-Coder convention (``<function=..>`` blocks, ``<tool_response>`` results)."""

    name = "qwen3-coder"
    # The Qwen3-Coder template has no place for reasoning: it drops reasoning_content.
    reasoning_tags: tuple[str, str] | None = None
    turn_layout = TurnLayout(content_to_calls="\n\n")

    def render_calls(self, calls: list[ToolCall]) -> str:
        blocks = []
        for call in calls:
            lines = [_OPEN, f"<function={call.name}>"]
            for key, value in call.arguments.items():
                lines += [f"<parameter={key}>", _render_value(value), _PARAMETER_CLOSE]
            lines += [_FUNCTION_CLOSE, _CLOSE]
            blocks.append("\n".join(lines))
        return "\n".join(blocks)

    def parse(
        self, text: str, tools: list[ToolSpec], *, id_factory: IdFactory = new_call_id
    ) -> ParsedText:
        return base.scan_calls(text, (_OPEN,), _read_call, base.tools_by_name(tools), id_factory)

    def render_results(self, results: list[Message]) -> str:
        return "".join(
            f"<tool_response>\n{base.result_text(result)}\n</tool_response>\n" for result in results
        )

    def system_prompt(self, tools: list[ToolSpec]) -> str:
        before = [
            "# Tools",
            "You have access to the following functions:",
            _function_docs(tools),
            "If you choose to call a function ONLY reply in the following format with NO "
            "suffix: a <tool_call> block holding one <function=NAME> block, each argument "
            "in a <parameter=ARGUMENT> block with its value on its own lines, written as "
            "plain text without quoting or escaping (write arrays and objects as JSON). "
            "For example:",
        ]
        reasoning = "You may explain your reasoning BEFORE a call, but not after it."
        after = [f"{base.TOOL_RESPONSE_STOP} {reasoning} {base.NO_FUNCTION}"]
        return base.tools_prompt(self, tools, before, base.TOOL_CALL_PARALLEL, after)

    def to_wire(self, messages: list[Message]) -> list[Message]:
        return base.to_wire(self, messages)


def _function_docs(tools: list[ToolSpec]) -> str:
    """The tools in the XML shape the Qwen3-Coder template lists them in."""
    lines = ["<tools>"]
    for tool in tools:
        lines += ["<function>", f"<name>{tool.name}</name>"]
        if tool.description:
            lines.append(f"<description>{tool.description.strip()}</description>")
        lines.append("<parameters>")
        properties = tool.parameters.get("properties")
        if isinstance(properties, Mapping):
            for param, schema in properties.items():
                lines += ["<parameter>", f"<name>{param}</name>"]
                if isinstance(schema, Mapping):
                    lines += _fields(schema, skip=("name",))
                lines.append("</parameter>")
        lines += _fields(tool.parameters, skip=("type", "properties"))
        lines += ["</parameters>", "</function>"]
    lines.append("</tools>")
    return "\n".join(lines)


def _fields(schema: Mapping[str, Any], *, skip: tuple[str, ...]) -> list[str]:
    """Schema keys as ``<key>value</key>`` lines, type and description first (as the template)."""
    lines = []
    first = ("type", "description")
    keys = [key for key in first if key in schema] + [key for key in schema if key not in first]
    for key in keys:
        value = schema[key]
        if key in skip:
            continue
        text = value.strip() if isinstance(value, str) else base.json_text(value)
        lines.append(f"<{key}>{text}</{key}>")
    return lines


def _read_call(text: str, pos: int, index: int) -> tuple[list[base.RawCall], int]:
    """One ``<tool_call>`` block from its opening tag: its call, with the raw argument
    texts, and the position after the block. A block cut off at the end of the text (a stop
    sequence) is accepted as it stands."""
    name = ""

    def fail(problem: str) -> ToolCallFormatError:
        where = f"tool call {index}" + (f" ({name})" if name else "")
        return ToolCallFormatError(f"{where}: {problem}")

    pos = skip_ws(text, pos + len(_OPEN))
    function = _FUNCTION.match(text, pos)
    if function is None:
        raise fail(f"expected <function=NAME> after {_OPEN}, got {base.snippet(text[pos:])}")
    name = function.group(1).strip()
    if not name:
        raise fail("<function=> has no function name")
    args: dict[str, str] = {}
    pos = function.end()
    while (pos := skip_ws(text, pos)) < len(text):
        if text.startswith(_FUNCTION_CLOSE, pos):
            pos = skip_ws(text, pos + len(_FUNCTION_CLOSE))
            if text.startswith(_CLOSE, pos):
                return [(name, args, None)], pos + len(_CLOSE)
            if pos >= len(text):
                return [(name, args, None)], pos
            raise fail(f"expected {_CLOSE} after {_FUNCTION_CLOSE}, got {base.snippet(text[pos:])}")
        parameter = _PARAMETER.match(text, pos)
        if parameter is None:
            raise fail(
                f"expected <parameter=ARGUMENT> or {_FUNCTION_CLOSE}, "
                f"got {base.snippet(text[pos:])}"
            )
        key = parameter.group(1).strip()
        if not key:
            raise fail("<parameter=> has no argument name")
        end = base.value_end(text, parameter.end(), _PARAMETER_CLOSE, _VALUE_BOUNDARIES)
        if end < 0:
            raise fail(f"<parameter={key}> is not closed with {_PARAMETER_CLOSE}")
        args[key] = base.unwrap_lines(text[parameter.end() : end])
        pos = end + len(_PARAMETER_CLOSE)
    return [(name, args, None)], pos
