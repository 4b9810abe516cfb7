"""LLaMA-Factory's sharegpt format: human / gpt / function_call / observation.

LLaMA-Factory (``data/converter.py``, ``SharegptDatasetConverter``) drops a sample unless
its turns alternate strictly: human or observation at even positions, gpt or function_call
at odd ones, an even count (so it ends on gpt or function_call); the system prompt is the
``system`` column. A sample that cannot meet that is skipped here with a reason, never
written broken. Choices, each LLaMA-Factory's own convention:

- ``function_call`` is ``{"name", "arguments"}`` as JSON, a JSON list for parallel calls
  (its ``FunctionFormatter`` accepts both); prose written next to calls has no place in a
  function_call turn and is left out, as its own OpenAI converter does.
- The results of one parallel step become one observation, joined with
  ``"\\n</tool_response>\\n<tool_response>\\n"`` as its OpenAI converter joins them, so
  Qwen-style templates show one ``<tool_response>`` block per result.
- Reasoning is prefixed as ``<think>\\n...\\n</think>\\n\\n`` (its default thought words).
- ``tools`` is a JSON string of ``{"name", "description", "parameters"}`` objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nexforge.core.messages import Message
from nexforge.core.tools import ToolSpec
from nexforge.export.chat import arguments_value

RESULT_JOIN = "\n</tool_response>\n<tool_response>\n"
THOUGHT_OPEN, THOUGHT_CLOSE = "<think>\n", "\n</think>\n\n"
_ASKING = ("human", "observation")
_ANSWERING = ("gpt", "function_call")


@dataclass(frozen=True)
class Conversation:
    turns: list[dict[str, str]]
    skip_reason: str | None = None


def sharegpt_tools(tools: list[ToolSpec]) -> str:
    return json.dumps(
        [{"name": t.name, "description": t.description, "parameters": t.parameters} for t in tools],
        ensure_ascii=False,
    )


def conversation(messages: list[Message]) -> Conversation:
    """The dialogue as alternating sharegpt turns, or the reason it cannot alternate."""
    turns: list[dict[str, str]] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            turns.append({"from": "observation", "value": RESULT_JOIN.join(pending)})
            pending.clear()

    for message in messages:
        if message.role == "tool":
            pending.append(message.content or "")
            continue
        flush()
        if message.role == "user":
            turns.append({"from": "human", "value": message.content or ""})
        elif message.role == "assistant":
            turns.append(_assistant_turn(message))
        else:
            return Conversation([], f"a {message.role} message inside the dialogue")
    flush()
    return Conversation(turns, _broken(turns))


def _assistant_turn(message: Message) -> dict[str, str]:
    thought = f"{THOUGHT_OPEN}{message.reasoning}{THOUGHT_CLOSE}" if message.reasoning else ""
    if not message.tool_calls:
        return {"from": "gpt", "value": thought + (message.content or "")}
    calls: list[Any] = [
        {"name": call.name, "arguments": arguments_value(call, "dict")}
        for call in message.tool_calls
    ]
    payload = calls[0] if len(calls) == 1 else calls
    return {"from": "function_call", "value": thought + json.dumps(payload, ensure_ascii=False)}


def _broken(turns: list[dict[str, str]]) -> str | None:
    if not turns:
        return "empty dialogue"
    for position, turn in enumerate(turns):
        expected = _ASKING if position % 2 == 0 else _ANSWERING
        if turn["from"] not in expected:
            return f"turns do not alternate ({turn['from']} at an {_parity(position)} position)"
    if len(turns) % 2:
        last = "a tool result" if turns[-1]["from"] == "observation" else "a user message"
        return f"ends with {last}"
    return None


def _parity(position: int) -> str:
    return "even" if position % 2 == 0 else "odd"
