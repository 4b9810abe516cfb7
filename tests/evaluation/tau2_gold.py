"""Scripted tau2 participants that play a task's gold actions (the model boundary only).

The simulated user names its task (found from the scenario in its system prompt); the
agent reads that name from the conversation and replays the task's gold assistant actions,
one call per step, then answers with the facts the task must communicate. The user plays
its own gold actions (telecom) and then sends tau2's stop token. Both are functions of the
request, so they stay deterministic when tasks run concurrently.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from nexforge.core.messages import Message, ToolCall
from nexforge.models.base import ModelRequest
from nexforge.testing import say

OPENING = "Hi, I need help with task <{}>."
STOP = "Thank you, that is all. ###STOP###"
_TASK = re.compile(r"help with task <(.+?)>\.")


def actions(task: Any, requestor: str) -> list[Any]:
    return [a for a in task.evaluation_criteria.actions or [] if a.requestor == requestor]


def _task_in_scenario(tasks: Sequence[Any], system_prompt: str) -> Any:
    found = [t for t in tasks if str(t.user_scenario) in system_prompt]
    assert len(found) == 1, "the user's system prompt should hold exactly one task's scenario"
    return found[0]


def _calls_made(messages: Iterable[Message]) -> int:
    return sum(len(m.tool_calls) for m in messages if m.role == "assistant")


def gold_user(tasks: Sequence[Any]) -> Callable[[ModelRequest], Message]:
    """Opens by naming the task, plays the task's user actions, then stops."""

    def respond(request: ModelRequest) -> Message:
        task = _task_in_scenario(tasks, request.messages[0].content or "")
        own = [m for m in request.messages if m.role == "assistant"]
        if not own:
            return say(OPENING.format(task.id))
        mine = actions(task, "user")
        made = _calls_made(own)
        if made < len(mine):
            gold = mine[made]
            return Message.assistant(
                None, [ToolCall(id=f"u{made}", name=gold.name, arguments=gold.arguments)]
            )
        return say(STOP)

    return respond


def task_of(request: ModelRequest, tasks: Sequence[Any]) -> Any:
    """The task the user named in the agent's conversation."""
    for message in request.messages:
        match = _TASK.search(message.content or "") if message.role == "user" else None
        if match:
            return next(t for t in tasks if t.id == match.group(1))
    raise AssertionError("the agent never heard which task this is")


def gold_agent(
    tasks: Sequence[Any],
    *,
    drop: Callable[[Any, int], set[str]] | None = None,
) -> Callable[[ModelRequest], Message]:
    """Replays the named task's gold assistant actions, then states its communicate_info.

    ``drop(task, run)`` names actions to leave out on the task's ``run``-th conversation
    (counted from 0 in the order conversations start).
    """
    runs: Counter[str] = Counter()

    def respond(request: ModelRequest) -> Message:
        task = task_of(request, tasks)
        made = _calls_made(request.messages)
        if made == 0 and sum(m.role == "user" for m in request.messages) == 1:
            runs[task.id] += 1
        skipped = drop(task, runs[task.id] - 1) if drop is not None else set()
        mine = [a for a in actions(task, "assistant") if a.name not in skipped]
        if made < len(mine):
            gold = mine[made]
            return Message.assistant(
                None, [ToolCall(id=f"a{made}", name=gold.name, arguments=gold.arguments)]
            )
        facts = task.evaluation_criteria.communicate_info or []
        return say(" ".join(["All done.", *facts]))

    return respond
