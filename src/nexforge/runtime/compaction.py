"""Context compaction: keep a long episode inside the model's context length.

Applied to the view sent to the model, never to the episode's own record (each step's
llm span says what was done). First old tool results are truncated; then, if the policy
allows, older turns are replaced by a model-written summary, which is kept and reused
on later steps rather than rewritten every step.
"""

from __future__ import annotations

import json

from nexforge.core.messages import Message

_MESSAGE_OVERHEAD_TOKENS = 4
SUMMARY_PROMPT = (
    "Summarise the work below for your own later use: the task, what has been done, facts "
    "learned from tools (ids, names, numbers), and what remains. Be concise."
)
SUMMARY_HEADER = "[Summary of earlier work]"


def estimate_tokens(messages: list[Message]) -> int:
    """A cheap chars/4 estimate; tokenizers differ, this only needs to trigger in time."""
    chars = 0
    for m in messages:
        chars += len(m.content or "") + len(m.raw or "") + len(m.reasoning or "")
        for c in m.tool_calls:
            chars += len(c.name) + len(json.dumps(c.arguments, ensure_ascii=False))
    return chars // 4 + _MESSAGE_OVERHEAD_TOKENS * len(messages)


def recent_start(messages: list[Message], keep_recent: int) -> int:
    """Index where the untouched tail starts; never between a call and its results."""
    start = max(1, len(messages) - keep_recent)
    while 1 < start < len(messages) and messages[start].role == "tool":
        start -= 1
    return start


def truncate_tool_results(
    messages: list[Message], keep_recent: int, keep_chars: int
) -> tuple[list[Message], int]:
    start = recent_start(messages, keep_recent)
    out: list[Message] = []
    changed = 0
    for i, m in enumerate(messages):
        text = m.content or ""
        if i < start and m.role == "tool" and len(text) > keep_chars:
            dropped = len(text) - keep_chars
            m = m.model_copy(update={"content": f"{text[:keep_chars]}…[{dropped} chars truncated]"})
            changed += 1
        out.append(m)
    return out, changed


def head_length(messages: list[Message]) -> int:
    """The system message and the task: never summarised away."""
    return 2 if len(messages) > 1 and messages[1].role == "user" else 1


def transcript(messages: list[Message]) -> str:
    """Older turns as plain text, so any model (structured or text mode) can summarise them."""
    lines: list[str] = []
    for m in messages:
        if m.role == "assistant":
            if m.content:
                lines.append(f"[assistant] {m.content}")
            lines.extend(
                f"[assistant called {c.name}] {json.dumps(c.arguments, ensure_ascii=False)}"
                for c in m.tool_calls
            )
        elif m.role == "tool":
            flag = " (error)" if m.is_error else ""
            lines.append(f"[result of {m.name}{flag}] {m.content or ''}")
        else:
            lines.append(f"[{m.role}] {m.content or ''}")
    return "\n".join(lines)


def summary_request(older: list[Message]) -> list[Message]:
    return [Message.user(f"{SUMMARY_PROMPT}\n\n{transcript(older)}")]


def summary_message(text: str) -> Message:
    return Message.user(f"{SUMMARY_HEADER}\n{text}")
