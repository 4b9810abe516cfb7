"""The ToolCallCodec protocol and what every text codec shares.

A text-mode model has no native ``tool_calls``: it writes calls as text in some convention
and reads tool results as text. A codec is that convention, in both directions, so the
runtime (and the exporters) can keep the canonical ``Message`` history and only translate
at the model boundary.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.models.codecs.coerce import coerce_arguments, schema_types

IdFactory = Callable[[], str]
RawCall = tuple[str, Mapping[str, Any], str | None]
"""One call as read from model text: its name, uncoerced arguments, undecodable argument text."""
ReadBlock = Callable[[str, int, int], tuple[list[RawCall], int]]
_WHITESPACE = re.compile(r"\s*")


def new_call_id() -> str:
    """A fresh call id in the OpenAI shape, since text-mode models never write ids."""
    return f"call_{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class ParsedText:
    """Model text split into the prose outside call blocks and the calls themselves."""

    content: str | None
    calls: list[ToolCall]


@dataclass(frozen=True)
class TurnLayout:
    """The whitespace a model's chat template puts between the parts of an assistant turn.

    A turn is laid out as: reasoning block (``open + pad + reasoning + pad + close +
    after_reasoning``), then ``reasoning_to_rest`` if content or calls follow, then the
    content, then ``content_to_calls`` (or ``calls_only`` when there is no content) and the
    rendered calls.
    """

    reasoning_pad: str = ""
    after_reasoning: str = ""
    reasoning_to_rest: str = ""
    content_to_calls: str = "\n\n"
    calls_only: str = ""


@runtime_checkable
class ToolCallCodec(Protocol):
    """One text convention for tool calls and tool results."""

    @property
    def name(self) -> str: ...

    @property
    def reasoning_tags(self) -> tuple[str, str] | None:
        """Open and close tags of the reasoning block; None when the style has no place for it."""
        ...

    @property
    def turn_layout(self) -> TurnLayout:
        """How the style's chat template lays out an assistant turn (see ``render_assistant``)."""
        ...

    def render_calls(self, calls: list[ToolCall]) -> str:
        """The text a model would write to make ``calls``."""
        ...

    def parse(
        self, text: str, tools: list[ToolSpec], *, id_factory: IdFactory = new_call_id
    ) -> ParsedText:
        """Split model text into content and calls; values coerced to ``tools``' schemas.

        Raises ``ToolCallFormatError`` (one line, for the model) on a malformed call block.
        """
        ...

    def render_results(self, results: list[Message]) -> str:
        """Tool messages as one text block (sent back to the model as a user message)."""
        ...

    def system_prompt(self, tools: list[ToolSpec]) -> str:
        """Tool docs and the calling convention, to append to the system prompt."""
        ...

    def to_wire(self, messages: list[Message]) -> list[Message]:
        """Canonical history as a text-mode model must see it (see ``to_wire``)."""
        ...


def to_wire(codec: ToolCallCodec, messages: list[Message]) -> list[Message]:
    """Convert canonical history for a text-mode model.

    An assistant message becomes plain text (its ``raw`` when set, so the model sees exactly
    what it wrote); each run of consecutive tool messages becomes one user message in the
    codec's result style; system and user messages pass through. No output message carries
    ``tool_calls``.
    """
    wire: list[Message] = []
    pending: list[Message] = []

    def flush() -> None:
        if pending:
            wire.append(Message.user(codec.render_results(list(pending))))
            pending.clear()

    for message in messages:
        if message.role == "tool":
            pending.append(message)
            continue
        flush()
        if message.role == "assistant":
            wire.append(Message.assistant(_assistant_text(codec, message)))
        else:
            wire.append(message)
    flush()
    return wire


def render_assistant(codec: ToolCallCodec, message: Message, *, reasoning: bool = True) -> str:
    """The whole text a model writing in ``codec``'s style emits for ``message``.

    Reasoning (when ``reasoning`` is set, the style has tags for it and the message has
    some) comes first in its tags, then the content, then the rendered calls, separated as
    the style's chat template separates them. Reasoning and content are stripped, as the
    GLM and Qwen3-Coder templates do and as ``parse`` leaves content. ``raw`` is ignored: it
    may have been written in another style. Unlike ``to_wire``, which keeps what the
    runtime sends to models unchanged, this is the layout a model was trained on.
    """
    layout = codec.turn_layout
    parts: list[str] = []
    thought = (message.reasoning or "").strip() if reasoning else ""
    if thought and codec.reasoning_tags is not None:
        open_tag, close_tag = codec.reasoning_tags
        pad = layout.reasoning_pad
        parts.append(f"{open_tag}{pad}{thought}{pad}{close_tag}{layout.after_reasoning}")
    content = (message.content or "").strip()
    calls = codec.render_calls(message.tool_calls) if message.tool_calls else ""
    if parts and (content or calls):
        parts.append(layout.reasoning_to_rest)
    parts.append(content)
    if calls:
        parts.append(layout.content_to_calls if content else layout.calls_only)
        parts.append(calls)
    return "".join(parts)


def _assistant_text(codec: ToolCallCodec, message: Message) -> str:
    if message.raw is not None:
        return message.raw
    parts = [message.content.strip()] if message.content and message.content.strip() else []
    if message.tool_calls:
        parts.append(codec.render_calls(message.tool_calls))
    return "\n\n".join(parts)


def scan_calls(
    text: str,
    opens: tuple[str, ...],
    read_block: ReadBlock,
    specs: dict[str, ToolSpec],
    id_factory: IdFactory,
    *,
    wrappers: tuple[str, ...] = (),
) -> ParsedText:
    """Split model text into the calls of its call blocks and the content outside them.

    A block starts at the first of the ``opens`` tags; ``read_block(text, start, index)``
    reads it from that tag (``index`` numbers its first call in error messages, from 1) and
    returns its calls and the position after it. Arguments are coerced to ``specs``;
    ``wrappers`` are tags around blocks, dropped from the content.
    """
    calls: list[ToolCall] = []
    outside: list[str] = []
    pos = 0
    while (start := _first_of(text, opens, pos)) >= 0:
        outside.append(text[pos:start])
        found, pos = read_block(text, start, len(calls) + 1)
        calls += [make_call(raw, specs, id_factory) for raw in found]
    outside.append(text[pos:])
    content = "".join(outside)
    for tag in wrappers:
        content = content.replace(tag, "")
    return ParsedText(content=content.strip() or None, calls=calls)


def make_call(raw: RawCall, specs: dict[str, ToolSpec], id_factory: IdFactory) -> ToolCall:
    """A ``ToolCall`` with a fresh id and arguments coerced to the named tool's schema."""
    name, arguments, invalid = raw
    coerced = coerce_arguments(arguments, specs.get(name))
    return ToolCall(id=id_factory(), name=name, arguments=coerced, invalid_arguments=invalid)


def _first_of(text: str, tags: tuple[str, ...], pos: int) -> int:
    found = [at for at in (text.find(tag, pos) for tag in tags) if at >= 0]
    return min(found, default=-1)


def result_text(result: Message) -> str:
    """A tool result's text as the model reads it, marked when the tool failed."""
    body = result.content or ""
    return f"Error: {body}" if result.is_error else body


def skip_ws(text: str, pos: int) -> int:
    """The first position at or after ``pos`` that is not whitespace."""
    match = _WHITESPACE.match(text, pos)
    return match.end() if match else pos


def value_end(text: str, pos: int, close: str, boundaries: tuple[str, ...]) -> int:
    """Where a raw text value starting at ``pos`` ends: the first ``close`` that is followed,
    after whitespace, by one of ``boundaries`` or by the end of the text; -1 if none is.

    Values are written unescaped, so a value may itself contain ``close``; only the
    occurrence that the next tag of the block follows can end it.
    """
    end = text.find(close, pos)
    while end >= 0:
        after = skip_ws(text, end + len(close))
        if after >= len(text) or text.startswith(boundaries, after):
            return end
        end = text.find(close, end + 1)
    return -1


def json_text(value: Any) -> str:
    """JSON as the chat templates' ``tojson`` writes it (transformers: no ASCII escaping)."""
    return json.dumps(value, ensure_ascii=False)


def raw_or_json(value: Any) -> str:
    """A value as the templates write it unescaped: a string as it is, anything else as JSON."""
    return value if isinstance(value, str) else json_text(value)


def unwrap_lines(raw: str) -> str:
    """A value written on its own lines between its tags, without the newline after the
    opening tag and the one before the closing tag."""
    return raw.removeprefix("\n").removesuffix("\n")


def tools_by_name(tools: list[ToolSpec]) -> dict[str, ToolSpec]:
    return {tool.name: tool for tool in tools}


def function_json(tool: ToolSpec) -> dict[str, Any]:
    """A tool's name, description and parameter schema, as chat templates list it."""
    return {"name": tool.name, "description": tool.description, "parameters": tool.parameters}


def function_signatures(tools: list[ToolSpec]) -> str:
    """One OpenAI-style function JSON per line, as the Hermes and GLM templates list tools."""
    functions = ({"type": "function", "function": function_json(tool)} for tool in tools)
    return "\n".join(json_text(function) for function in functions)


# Prompt paragraphs of the styles that write <tool_call> blocks and read <tool_response> ones.
TOOL_CALL_PARALLEL = (
    "To make several independent calls in one reply, write one <tool_call> block per call:"
)
TOOL_RESPONSE_STOP = (
    "Then stop: the results come back in <tool_response> blocks, in the same order."
)
NO_FUNCTION = "When you need no function, answer in plain text."


def tools_prompt(
    codec: ToolCallCodec, tools: list[ToolSpec], before: list[str], parallel: str, after: list[str]
) -> str:
    """A codec's system prompt section, empty without tools: ``before`` (ending with the
    paragraph that introduces an example), an example call of the first tool, ``parallel``,
    an example of two calls (first and last tool), then ``after``."""
    if not tools:
        return ""
    example, second = example_calls(tools)
    one, two = codec.render_calls([example]), codec.render_calls([example, second])
    return "\n\n".join([*before, one, parallel, two, *after])


def example_calls(tools: list[ToolSpec]) -> tuple[ToolCall, ToolCall]:
    """Calls of the first and of the last tool, for a prompt's one-call and parallel examples."""
    first, last = tools[0], tools[-1]
    return (
        ToolCall(id="example", name=first.name, arguments=_example_arguments(first)),
        ToolCall(id="example2", name=last.name, arguments=_example_arguments(last)),
    )


def _example_arguments(spec: ToolSpec) -> dict[str, Any]:
    """Plausible arguments for a prompt example: the required parameters (or the first one)."""
    properties = spec.parameters.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        return {}
    required = [name for name in spec.parameters.get("required", []) if name in properties]
    names = required or [next(iter(properties))]
    return {name: _example_value(properties[name], spec.parameters) for name in names}


def _example_value(schema: Any, root: Mapping[str, Any]) -> Any:
    if not isinstance(schema, Mapping):
        return "..."
    for key in ("default", "const"):
        if key in schema:
            return schema[key]
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kinds = [kind for kind in schema_types(schema, root) if kind != "null"]
    kind = kinds[0] if kinds else "string"
    placeholders: dict[str, Any] = {
        "integer": 1,
        "number": 1.5,
        "boolean": True,
        "array": [],
        "object": {},
    }
    return placeholders.get(kind, "...")


def tool_docs(tools: list[ToolSpec]) -> str:
    """Name, description and parameter schema of each tool, one section per tool."""
    sections = []
    for tool in tools:
        lines = [f"## {tool.name}"]
        if tool.description:
            lines.append(tool.description.strip())
        lines.append(f"Parameters (JSON Schema): {json_text(tool.parameters)}")
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def snippet(text: str, limit: int = 40) -> str:
    """A short one-line quote of model text for an error message."""
    short = text[:limit] + ("..." if len(text) > limit else "")
    return repr(short)
