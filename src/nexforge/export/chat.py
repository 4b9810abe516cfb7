"""Messages in the two chat shapes trainers read: Hugging Face (``trl``) and OpenAI.

- Hugging Face: ``arguments`` a dict (chat templates ``tojson`` it; a string would be
  double-encoded), or a JSON string with ``args_encoding="string"`` for templates that
  concatenate it (the original DeepSeek-V3). Reasoning goes in ``reasoning_content``.
  An assistant message without calls has no ``tool_calls`` key, since Llama-3.1 and
  DeepSeek-V3 test ``'tool_calls' in message``.
- OpenAI: ``arguments`` always a JSON string, ``type: "function"``, tool messages with
  ``tool_call_id``; reasoning has no place in the chat format and is left out.

Samples carry their provenance in a top-level ``provenance`` key. Not ``metadata``: the
openai package has no type for a fine-tuning line, and its request type
(``CompletionCreateParams``) declares ``metadata`` as ``Dict[str, str]``, which nested
provenance is not; the other keys (``messages``, ``tools``, ``parallel_tool_calls``) are
exactly its types.

Arguments the model wrote that never decoded (``invalid_arguments``) are exported as the
text it wrote: in a dict-shaped export that is the one string-valued ``arguments``.
"""

from __future__ import annotations

import json
from typing import Any

from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.export.options import ArgsEncoding
from nexforge.models.openai import message_to_wire, tool_to_wire


def function_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """Tool schemas as ``{"type": "function", "function": {...}}`` (OpenAI and HF alike)."""
    return [tool_to_wire(tool) for tool in tools]


def arguments_text(call: ToolCall) -> str:
    if call.invalid_arguments is not None and not call.arguments:
        return call.invalid_arguments
    return json.dumps(call.arguments, ensure_ascii=False)


def arguments_value(call: ToolCall, encoding: ArgsEncoding) -> dict[str, Any] | str:
    if encoding == "string":
        return arguments_text(call)
    if call.invalid_arguments is not None and not call.arguments:
        try:
            decoded = json.loads(call.invalid_arguments)
        except ValueError:
            return call.invalid_arguments
        return decoded if isinstance(decoded, dict) else call.invalid_arguments
    return call.arguments


def hf_message(message: Message, encoding: ArgsEncoding = "dict") -> dict[str, Any]:
    if message.role == "tool":
        return {
            "role": "tool",
            "tool_call_id": message.tool_call_id,
            "name": message.name,
            "content": message.content or "",
        }
    wire: dict[str, Any] = {"role": message.role, "content": message.content or ""}
    if message.role != "assistant":
        return wire
    if message.reasoning:
        wire["reasoning_content"] = message.reasoning
    if message.tool_calls:
        wire["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": arguments_value(call, encoding)},
            }
            for call in message.tool_calls
        ]
    return wire


def hf_messages(
    system: str, messages: list[Message], encoding: ArgsEncoding = "dict"
) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": system},
        *(hf_message(m, encoding) for m in messages),
    ]


def openai_messages(system: str, messages: list[Message]) -> list[dict[str, Any]]:
    return [{"role": "system", "content": system}, *(message_to_wire(m) for m in messages)]
