"""Hand-built rollouts for the export tests: a lead agent with reasoning and parallel calls
(one of them a sub-agent), an error it recovers from, unicode, and the sub-agent's episode."""

from __future__ import annotations

import json
from collections.abc import Sequence

from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.core.trajectory import Episode, Provenance, Trajectory
from nexforge.quality.policy import REQUIRED_STAGES
from nexforge.synthesis.records import (
    ExpectedOutcome,
    QueryRecord,
    RolloutProvenance,
    RolloutRecord,
    Verdict,
    judged,
    rollout_key,
)
from nexforge.synthesis.store import SynthesisStore

FRAMEWORK_HASH = "fh-shop"
LEAD_SYSTEM = "You are the lead of a bike shop. Be brief."
CHILD_SYSTEM = "You handle billing."
REASONING = "The status needs a lookup; the refund is billing work."

LOOKUP = ToolSpec(
    name="lookup_order",
    description="Look an order up by its id.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "integer"}, "note": {"type": "string"}},
        "required": ["order_id"],
    },
    read_only=True,
)
REFUND = ToolSpec(
    name="refund",
    description="Refund part of an order.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "integer"}, "amount": {"type": "number"}},
        "required": ["order_id", "amount"],
    },
)
BILLING = ToolSpec(
    name="billing",
    description="Delegate a billing task to the billing agent.",
    parameters={"type": "object", "properties": {"task": {"type": "string"}}, "required": ["task"]},
)

USER_TEXT = "Kannst du Bestellung 42 prüfen und mir 20 € erstatten? 🚲"
LOOKUP_RESULT = json.dumps({"id": 42, "status": "versandt", "item": "Fahrrad «Trail»"})
CHILD_FINAL = "Refunded 20.0 € on order 42."
ERROR_RESULT = "missing argument: amount"
FINAL = "Bestellung 42 ist versandt; 20 € wurden erstattet."
EXPECTED = ExpectedOutcome(facts=["versandt"])
"""What the answer must state from a tool's result: the status lookup_order returned."""


def fresh(*tools: ToolSpec) -> list[ToolSpec]:
    """Copies, so a test that edits an episode's tools cannot change another test's."""
    return [tool.model_copy(deep=True) for tool in tools]


def lead_episode(run_id: str = "run-1", fmt: str = "structured") -> Episode:
    """user -> (reasoning, content, parallel lookup + billing) -> results -> refund (error)
    -> refund -> final."""
    parallel = [
        ToolCall(id="c1", name="lookup_order", arguments={"order_id": 42, "note": "prüfen ✓"}),
        ToolCall(id="c2", name="billing", arguments={"task": "Refund 20 € on order 42"}),
    ]
    return Episode(
        episode_id=f"{run_id}-e0",
        agent="lead",
        model="test-model",
        tool_call_format=fmt,
        system_prompt=LEAD_SYSTEM,
        tools=fresh(LOOKUP, BILLING, REFUND),
        messages=[
            Message.system(LEAD_SYSTEM),
            Message.user(USER_TEXT),
            Message.assistant("Ich schaue nach.", parallel, reasoning=REASONING),
            Message.tool("c1", "lookup_order", LOOKUP_RESULT),
            Message.tool("c2", "billing", CHILD_FINAL),
            Message.assistant(None, [ToolCall(id="c3", name="refund", arguments={"order_id": 42})]),
            Message.tool("c3", "refund", ERROR_RESULT, is_error=True),
            Message.assistant(
                None,
                [ToolCall(id="c4", name="refund", arguments={"order_id": 42, "amount": 0.5})],
            ),
            Message.tool("c4", "refund", '{"refunded": 0.5}'),
            Message.assistant(FINAL),
        ],
        final=FINAL,
    )


def child_episode(run_id: str = "run-1") -> Episode:
    return Episode(
        episode_id=f"{run_id}-e1",
        parent_episode_id=f"{run_id}-e0",
        parent_tool_call_id="c2",
        agent="billing",
        model="test-model",
        tool_call_format="structured",
        system_prompt=CHILD_SYSTEM,
        tools=fresh(LOOKUP, REFUND),
        messages=[
            Message.system(CHILD_SYSTEM),
            Message.user("Refund 20 € on order 42"),
            Message.assistant(
                None,
                [ToolCall(id="d1", name="refund", arguments={"order_id": 42, "amount": 20.0})],
            ),
            Message.tool("d1", "refund", '{"refunded": 20.0}'),
            Message.assistant(CHILD_FINAL),
        ],
        final=CHILD_FINAL,
    )


def trajectory(run_id: str = "run-1", episodes: Sequence[Episode] | None = None) -> Trajectory:
    chosen = (
        list(episodes) if episodes is not None else [lead_episode(run_id), child_episode(run_id)]
    )
    return Trajectory(
        run_id=run_id,
        framework="shop",
        query=USER_TEXT,
        started_at=1.0,
        ended_at=2.0,
        stop_reason="completed",
        final_output=FINAL,
        provenance=Provenance(framework_hash=FRAMEWORK_HASH, model="test-model"),
        episodes=chosen,
    )


def query(text: str = USER_TEXT) -> QueryRecord:
    return QueryRecord(
        text=text,
        framework="shop",
        persona={"id": "p1", "name": "Jörg", "user_type": "customer"},
        path=["orders", "refunds"],
        path_labels=["Orders", "Refunds"],
        difficulty="medium",
        expected=EXPECTED,
    ).keyed(FRAMEWORK_HASH)


def rollout(
    query_record: QueryRecord, sample: int = 0, traj: Trajectory | None = None
) -> RolloutRecord:
    run_id = f"run-{query_record.key[:6]}-{sample}"
    return RolloutRecord(
        key=rollout_key(query_record.key, sample),
        query_key=query_record.key,
        sample=sample,
        status="done",
        trajectory=traj if traj is not None else trajectory(run_id),
        started_at=1.0,
        seconds=1.0,
        provenance=RolloutProvenance(
            framework_hash=FRAMEWORK_HASH, package_version="test", seed=sample
        ),
    )


def passing(
    record: RolloutRecord, *, judge: float | None = None, recovered_turn: int | None = None
) -> list[Verdict]:
    """Verdicts the cascade gave this rollout when it passed (optionally judged; one
    recovered turn)."""
    verdicts = [Verdict(rollout_key=record.key, stage=s, passed=True) for s in REQUIRED_STAGES]
    if judge is not None:
        verdicts.append(
            Verdict(rollout_key=record.key, stage="judge", passed=judge >= 0.5, score=judge)
        )
    if recovered_turn is not None:
        verdicts.append(
            Verdict(
                rollout_key=record.key,
                stage="tool_validity",
                passed=False,
                reason="refund: missing required argument 'amount'",
                turn=recovered_turn,
                detail={"recovered": True},
            )
        )
    return judged(verdicts, record.content_hash())


def fill(
    store: SynthesisStore, queries: int, samples: int = 1, *, verified: bool = True
) -> list[RolloutRecord]:
    """``queries`` distinct queries with ``samples`` rollouts each, stored (and verified)."""
    records = []
    for index in range(queries):
        record_query = query(f"{USER_TEXT} (Nr. {index})")
        store.add_query(record_query)
        for sample in range(samples):
            record = rollout(record_query, sample)
            store.put_rollout(record)
            if verified:
                store.put_verdicts(passing(record))
            records.append(record)
    return records
