"""Context compaction: keep a long episode inside the model's context length.

Applied to the view sent to the model, never to the episode's own record. First old
tool results are truncated; then, if allowed, older turns are replaced by a summary.
"""

from __future__ import annotations

import json

from nexforge.core.messages import Message
from nexforge.models.base import Model, ModelRequest, Sampling
from nexforge.runtime.limits import CompactionPolicy

_MESSAGE_OVERHEAD_TOKENS = 4
SUMMARY_PROMPT = (
    "Summarise the conversation so far for your own later use: the task, what has been "
    "done, facts learned from tools (ids, names, numbers), and what remains. Be concise."
)


def estimate_tokens(messages: list[Message]) -> int:
    """A cheap chars/4 estimate; tokenizers differ, this only needs to trigger in time."""
    chars = 0
    for m in messages:
        chars += len(m.content or "") + len(m.raw or "") + len(m.reasoning or "")
        for c in m.tool_calls:
            chars += len(c.name) + len(json.dumps(c.arguments, ensure_ascii=False))
    return chars // 4 + _MESSAGE_OVERHEAD_TOKENS * len(messages)


def _recent_start(messages: list[Message], keep_recent: int) -> int:
    """Index where the untouched tail starts; never between a call and its results."""
    start = max(1, len(messages) - keep_recent)
    while start > 1 and messages[start].role == "tool":
        start -= 1
    return start


def truncate_tool_results(
    messages: list[Message], policy: CompactionPolicy
) -> tuple[list[Message], int]:
    start = _recent_start(messages, policy.keep_recent)
    out: list[Message] = []
    changed = 0
    for i, m in enumerate(messages):
        text = m.content or ""
        if i < start and m.role == "tool" and len(text) > policy.truncated_chars:
            dropped = len(text) - policy.truncated_chars
            m = m.model_copy(
                update={"content": f"{text[: policy.truncated_chars]}…[{dropped} chars truncated]"}
            )
            changed += 1
        out.append(m)
    return out, changed


async def summarize_older_turns(
    messages: list[Message], policy: CompactionPolicy, model: Model, agent: str
) -> list[Message]:
    """Replace turns between the task and the recent tail by one summary message."""
    start = _recent_start(messages, policy.keep_recent)
    head = 2 if len(messages) > 1 and messages[1].role == "user" else 1
    if start <= head:
        return messages
    request = ModelRequest(
        messages=[*messages[:start], Message.user(SUMMARY_PROMPT)],
        tool_choice="none",
        sampling=Sampling(temperature=0.0),
        agent=agent,
    )
    response = await model.complete(request)
    summary = Message.user(f"[Summary of earlier work]\n{response.message.content or ''}")
    return [*messages[:head], summary, *messages[start:]]


async def compact(
    messages: list[Message],
    policy: CompactionPolicy,
    context_length: int,
    model: Model,
    agent: str,
    *,
    estimate: int | None = None,
) -> tuple[list[Message], str | None]:
    """Return the view to send and a note of what was done (``None``: nothing).

    ``estimate`` is the caller's running token estimate of ``messages``, if it keeps one.
    """
    budget = int(context_length * policy.trigger_ratio)
    if estimate is None:
        estimate = estimate_tokens(messages)
    if not policy.enabled or estimate <= budget:
        return messages, None
    view, truncated = truncate_tool_results(messages, policy)
    note = f"truncated {truncated} tool results"
    if policy.summarize and estimate_tokens(view) > budget:
        view = await summarize_older_turns(view, policy, model, agent)
        note += "; summarised older turns"
    return view, note
