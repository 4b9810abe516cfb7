"""A finished ModelResponse as OpenAI ``chat.completion.chunk`` Server-Sent Events.

``Model.complete`` is not incremental, so a "stream" is replayed from the whole response:
a role delta, the reasoning and content each in one delta, one delta per tool call (id,
name and the complete arguments string), a final chunk with ``finish_reason``, an optional
usage chunk, then ``data: [DONE]``. Clients that reassemble deltas get the same message a
non-streaming request returns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from nexforge.models.base import ModelResponse
from nexforge.serving.wire import assistant_to_wire, usage_to_wire

DONE = b"data: [DONE]\n\n"


def sse_event(data: dict[str, Any]) -> bytes:
    """One ``data:`` event; compact JSON never contains a raw newline, so one line suffices."""
    return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"


def completion_chunks(
    response: ModelResponse,
    *,
    completion_id: str,
    created: int,
    model: str,
    include_usage: bool = False,
) -> Iterator[dict[str, Any]]:
    """The chunk objects of one streamed completion, in order (without ``[DONE]``)."""

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if include_usage:
            data["usage"] = None  # OpenAI sends null usage on every chunk but the last
        return data

    message = assistant_to_wire(response)
    yield chunk({"role": "assistant", "content": ""})
    if message.get("reasoning_content"):
        yield chunk({"reasoning_content": message["reasoning_content"]})
    if message.get("content"):
        yield chunk({"content": message["content"]})
    for index, call in enumerate(message.get("tool_calls") or []):
        yield chunk({"tool_calls": [{"index": index, **call}]})
    yield chunk({}, response.finish_reason)
    if include_usage:
        yield {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage_to_wire(response),
        }
