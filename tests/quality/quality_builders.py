"""Hand-built trajectories for the cascade's tests: a support desk with two tools.

A good run reads order 1003, cancels it and says so, quoting the refund the cancellation
returned (``GOOD_OUTCOME``). Tests change one thing about it (a role out of order, a call
with bad arguments, a loop) and assert on the verdicts.
"""

from __future__ import annotations

from typing import Any

from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.core.trajectory import Episode, Trajectory
from nexforge.synthesis.records import (
    ExpectedOutcome,
    QueryRecord,
    RolloutProvenance,
    RolloutRecord,
    RolloutStatus,
    rollout_key,
)
from nexforge.synthesis.store import SynthesisStore

FRAMEWORK_HASH = "desk0000000000000000hash"
QUERY = "Please cancel my order 1003, it was a mistake."
FAILED_QUERY = "Refund my last order."
ANSWER = "Order 1003 is cancelled; the refund of 42.50 EUR is on its way (refund 77)."
GOOD_OUTCOME = ExpectedOutcome(facts=["cancelled", "77"])
"""What a good run's answer states from the tools' results: the new status, the refund id."""

GET_ORDER = ToolSpec(
    name="get_order",
    description="One order.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "integer"}},
        "required": ["order_id"],
        "additionalProperties": False,
    },
    read_only=True,
)
CANCEL_ORDER = ToolSpec(
    name="cancel_order",
    description="Cancel a placed order.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "integer"}, "reason": {"type": "string"}},
        "required": ["order_id", "reason"],
        "additionalProperties": False,
    },
)
DELEGATE = ToolSpec(
    name="billing",
    description="Hand a task to the billing agent.",
    parameters={
        "type": "object",
        "properties": {"task": {"type": "string"}},
        "required": ["task"],
    },
)
TOOLS = [GET_ORDER, CANCEL_ORDER, DELEGATE]


def tool_call(call_id: str, name: str, **arguments: Any) -> ToolCall:
    return ToolCall(id=call_id, name=name, arguments=arguments)


def asks(*calls: ToolCall, content: str | None = None) -> Message:
    return Message.assistant(content, list(calls))


def result(call_id: str, name: str, content: str, *, error: bool = False) -> Message:
    return Message.tool(call_id, name, content, is_error=error)


def says(text: str) -> Message:
    return Message.assistant(text)


def good_messages(query: str = QUERY, answer: str = ANSWER) -> list[Message]:
    return [
        Message.user(query),
        asks(tool_call("c1", "get_order", order_id=1003)),
        result("c1", "get_order", '{"id": 1003, "status": "placed", "total_cents": 4250}'),
        asks(tool_call("c2", "cancel_order", order_id=1003, reason="customer asked")),
        result("c2", "cancel_order", '{"status": "cancelled", "refund_id": 77}'),
        says(answer),
    ]


def episode(
    *messages: Message,
    episode_id: str = "e1",
    agent: str = "desk",
    tools: list[ToolSpec] | None = None,
    parent: tuple[str, str] | None = None,
) -> Episode:
    """An episode: a system prompt, then ``messages``; ``parent`` is (episode id, call id)."""
    return Episode(
        episode_id=episode_id,
        parent_episode_id=parent[0] if parent else None,
        parent_tool_call_id=parent[1] if parent else None,
        agent=agent,
        model="scripted",
        tool_call_format="structured",
        system_prompt="You run the support desk.",
        tools=TOOLS if tools is None else tools,
        messages=[Message.system("You run the support desk."), *messages],
    )


def trajectory(
    *episodes: Episode,
    query: str = QUERY,
    final: str | None = None,
    stop_reason: str | None = "completed",
) -> Trajectory:
    """``final`` defaults to the root episode's last assistant text."""
    if final is None:
        root = next(e for e in episodes if e.parent_episode_id is None)
        texts = [m.content for m in root.messages if m.role == "assistant" and m.content]
        final = texts[-1] if texts else None
    return Trajectory.model_validate(
        {
            "run_id": "run",
            "framework": "desk",
            "query": query,
            "started_at": 1.0,
            "ended_at": 2.0,
            "stop_reason": stop_reason,
            "final_output": final,
            "episodes": list(episodes),
        }
    )


def good_trajectory(query: str = QUERY, answer: str = ANSWER) -> Trajectory:
    return trajectory(episode(*good_messages(query, answer)), query=query)


def rollout(
    traj: Trajectory | None,
    *,
    key: str = "r-1",
    query_key: str = "q-1",
    sample: int = 0,
    status: RolloutStatus = "done",
    error: str | None = None,
) -> RolloutRecord:
    return RolloutRecord(
        key=key,
        query_key=query_key,
        sample=sample,
        status=status,
        trajectory=traj,
        error=error,
        started_at=1.0,
        seconds=1.0,
        provenance=RolloutProvenance(framework_hash=FRAMEWORK_HASH, package_version="test", seed=0),
    )


def store_rollouts(
    store: SynthesisStore,
    *trajectories: Trajectory | None,
    difficulty: str | None = None,
    status: RolloutStatus = "done",
    expected: ExpectedOutcome | None = None,
) -> list[RolloutRecord]:
    """Store each trajectory as a rollout of a query with its text and ``expected``
    outcome (stored if new); runs of one query text become its next samples. None stands
    for a rollout that failed without a trajectory."""
    records = []
    for traj in trajectories:
        text = traj.query if traj is not None else FAILED_QUERY
        query = QueryRecord(
            text=text, framework="desk", difficulty=difficulty, expected=expected
        ).keyed(FRAMEWORK_HASH)
        store.add_query(query)
        sample = sum(1 for _ in store.rollouts(query_key=query.key))
        record = rollout(
            traj,
            key=rollout_key(query.key, sample),
            query_key=query.key,
            sample=sample,
            status=status if traj is not None else "failed",
            error=None if traj is not None else "model unreachable",
        )
        store.put_rollout(record)
        records.append(record)
    return records
