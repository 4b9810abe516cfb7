"""The ToolCallCodec protocol and what every text codec shares.

A text-mode model has no native ``tool_calls``: it writes calls as text in some convention
and reads tool results as text. A codec is that convention, in both directions, so the
runtime (and the exporters) can keep the canonical ``Message`` history and only translate
at the model boundary.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.models.codecs.coerce import schema_types

IdFactory = Callable[[], str]


def new_call_id() -> str:
    """A fresh call id in the OpenAI shape, since text-mode models never write ids."""
    return f"call_{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class ParsedText:
    """Model text split into the prose outside call blocks and the calls themselves."""

    content: str | None
    calls: list[ToolCall]


@runtime_checkable
class ToolCallCodec(Protocol):
    """One text convention for tool calls and tool results."""

    @property
    def name(self) -> str: ...

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


def _assistant_text(codec: ToolCallCodec, message: Message) -> str:
    if message.raw is not None:
        return message.raw
    parts = [message.content.strip()] if message.content and message.content.strip() else []
    if message.tool_calls:
        parts.append(codec.render_calls(message.tool_calls))
    return "\n\n".join(parts)


def tools_by_name(tools: list[ToolSpec]) -> dict[str, ToolSpec]:
    return {tool.name: tool for tool in tools}


def example_arguments(spec: ToolSpec) -> dict[str, Any]:
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
        schema = json.dumps(tool.parameters, ensure_ascii=False)
        lines.append(f"Parameters (JSON Schema): {schema}")
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def snippet(text: str, limit: int = 40) -> str:
    """A short one-line quote of model text for an error message."""
    short = text[:limit] + ("..." if len(text) > limit else "")
    return repr(short)
