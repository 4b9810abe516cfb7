"""NexAU XML tool calls: ``<tool_use><tool_name>..</tool_name><parameter>..</parameter>``.

Values are raw text (code, ``<``, ``&``, newlines), so this is not XML and is not parsed with
an XML parser. The block is scanned left to right instead: a value ends at the first
``</name>`` matching its opening tag that is followed (after whitespace) by the next
parameter tag, ``</parameter>``, ``</tool_use>`` or the end of the text.

Layout rule: a value containing a newline is rendered on its own lines
(``<name>\\nvalue\\n</name>``) and parsing strips exactly one leading and one trailing ``\\n``,
so every string round-trips. Genuinely ambiguous, and not supported: a string value that
itself contains its closing tag followed by another parameter tag (``x</a>\\n<b>``), and
the string ``null`` under a nullable schema, which reads back as null.
"""

from __future__ import annotations

import re
from typing import Any

from nexforge.core.errors import ToolCallFormatError
from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.models.codecs import base
from nexforge.models.codecs.base import IdFactory, ParsedText, TurnLayout, new_call_id, skip_ws

_USE_OPEN, _USE_CLOSE = "<tool_use>", "</tool_use>"
_NAME_OPEN, _NAME_CLOSE = "<tool_name>", "</tool_name>"
_PARAMS_OPEN, _PARAMS_CLOSE = "<parameter>", "</parameter>"
_PARALLEL_OPEN, _PARALLEL_CLOSE = "<use_parallel_tool_calls>", "</use_parallel_tool_calls>"
_TAG_OPEN = re.compile(r"<([A-Za-z_][\w.-]*)>")


def _render_value(value: Any) -> str:
    text = base.raw_or_json(value)
    return f"\n{text}\n" if isinstance(value, str) and "\n" in value else text


class XmlCodec:
    """The NexAU XML convention (``<tool_use>`` blocks, ``<tool_result>`` results)."""

    name = "xml"
    # NexAU writes no reasoning into the text; content and calls as ``to_wire`` joins them.
    reasoning_tags: tuple[str, str] | None = None
    turn_layout = TurnLayout()

    def render_calls(self, calls: list[ToolCall]) -> str:
        blocks = [self._render_call(call) for call in calls]
        if len(blocks) > 1:
            return "\n".join([_PARALLEL_OPEN, *blocks, _PARALLEL_CLOSE])
        return "\n".join(blocks)

    def _render_call(self, call: ToolCall) -> str:
        lines = [_USE_OPEN, f"{_NAME_OPEN}{call.name}{_NAME_CLOSE}", _PARAMS_OPEN]
        for key, value in call.arguments.items():
            lines.append(f"<{key}>{_render_value(value)}</{key}>")
        lines += [_PARAMS_CLOSE, _USE_CLOSE]
        return "\n".join(lines)

    def parse(
        self, text: str, tools: list[ToolSpec], *, id_factory: IdFactory = new_call_id
    ) -> ParsedText:
        specs = base.tools_by_name(tools)

        def read_block(text: str, pos: int, index: int) -> tuple[list[base.RawCall], int]:
            return _BlockScanner(text, index, specs).scan(pos)

        wrappers = (_PARALLEL_OPEN, _PARALLEL_CLOSE)
        return base.scan_calls(text, (_USE_OPEN,), read_block, specs, id_factory, wrappers=wrappers)

    def render_results(self, results: list[Message]) -> str:
        blocks = []
        for result in results:
            tag = "error" if result.is_error else "result"
            body = _render_value(result.content or "")
            blocks.append(
                f"<tool_result>\n{_NAME_OPEN}{result.name or ''}{_NAME_CLOSE}\n"
                f"<{tag}>{body}</{tag}>\n</tool_result>"
            )
        return "\n".join(blocks)

    def system_prompt(self, tools: list[ToolSpec]) -> str:
        before = [
            "# Tools",
            "To call a tool, write a <tool_use> block: the tool's name in <tool_name>, "
            "then each argument inside <parameter> as <argument_name>value</argument_name>. "
            "Write values as plain text, without quoting or escaping (code and multi-line "
            "text are fine); write arrays and objects as JSON. For example:",
        ]
        parallel = (
            "To make several independent calls in one reply, write one <tool_use> block "
            "per call, wrapped in <use_parallel_tool_calls>:"
        )
        after = [
            "Then stop: the results come back as <tool_result> blocks, in the same order. "
            "When you need no tool, answer in plain text without a <tool_use> block.",
            "Available tools:",
            base.tool_docs(tools),
        ]
        return base.tools_prompt(self, tools, before, parallel, after)

    def to_wire(self, messages: list[Message]) -> list[Message]:
        return base.to_wire(self, messages)


class _BlockScanner:
    """Reads one ``<tool_use>`` block; ``index`` (1-based) names the call in error messages."""

    def __init__(self, text: str, index: int, specs: dict[str, ToolSpec]) -> None:
        self.text = text
        self.index = index
        self.specs = specs
        self.known: set[str] | None = None
        self.name = ""

    def fail(self, problem: str) -> ToolCallFormatError:
        where = f"tool call {self.index}" + (f" ({self.name})" if self.name else "")
        return ToolCallFormatError(f"{where}: {problem}")

    def scan(self, pos: int) -> tuple[list[base.RawCall], int]:
        """Read the block from its opening tag: its call, with the raw text arguments, and
        the position after the block."""
        text = self.text
        pos = skip_ws(text, pos + len(_USE_OPEN))
        if not text.startswith(_NAME_OPEN, pos):
            raise self.fail(f"{_NAME_OPEN} missing right after {_USE_OPEN}")
        name_end = text.find(_NAME_CLOSE, pos)
        if name_end < 0:
            raise self.fail(f"{_NAME_OPEN} is not closed with {_NAME_CLOSE}")
        self.name = text[pos + len(_NAME_OPEN) : name_end].strip()
        if not self.name:
            raise self.fail(f"{_NAME_OPEN} is empty")
        spec = self.specs.get(self.name)
        properties = spec.parameters.get("properties") if spec else None
        self.known = set(properties) if isinstance(properties, dict) else None

        pos = skip_ws(text, name_end + len(_NAME_CLOSE))
        if text.startswith(_PARAMS_OPEN, pos):
            pos = skip_ws(text, pos + len(_PARAMS_OPEN))
        args: dict[str, str] = {}
        while pos < len(text) and not text.startswith(_USE_CLOSE, pos):
            if text.startswith(_PARAMS_CLOSE, pos):
                pos = skip_ws(text, pos + len(_PARAMS_CLOSE))
                break
            match = _TAG_OPEN.match(text, pos)
            if match is None:
                raise self.fail(
                    "expected <argument_name>value</argument_name> or </parameter>, "
                    f"got {base.snippet(text[pos:])}"
                )
            key = match.group(1)
            args[key], pos = self._read_value(key, match.end())
            pos = skip_ws(text, pos)
        if text.startswith(_USE_CLOSE, pos):
            return [(self.name, args, None)], pos + len(_USE_CLOSE)
        if pos >= len(text):  # cut off by a stop sequence: the call itself is complete
            return [(self.name, args, None)], pos
        raise self.fail(f"expected {_USE_CLOSE}, got {base.snippet(text[pos:])}")

    def _read_value(self, key: str, pos: int) -> tuple[str, int]:
        close = f"</{key}>"
        first = self.text.find(close, pos)
        if first < 0:
            raise self.fail(f"<{key}> is not closed with {close}")
        end = first
        while end >= 0 and not self._is_boundary(skip_ws(self.text, end + len(close))):
            end = self.text.find(close, end + 1)
        if end < 0:
            end = first
        return base.unwrap_lines(self.text[pos:end]), end + len(close)

    def _is_boundary(self, pos: int) -> bool:
        """Whether a value's closing tag at ``pos`` can end the value."""
        text = self.text
        if pos >= len(text) or text.startswith((_PARAMS_CLOSE, _USE_CLOSE), pos):
            return True
        match = _TAG_OPEN.match(text, pos)
        return match is not None and (self.known is None or match.group(1) in self.known)
