"""The expected outcome of a query: facts its answer must contain and, for problem types
whose tools change state, reference calls and the end state they reach.

What the writer proposed is checked, not trusted: a fact is kept only if it is a value
that was read; a reference call only if it names a state-changing tool of the
environment, its arguments are valid against the tool's schema, and it succeeds when
the calls run in order on a fresh copy of the seed. The end-state hash is then taken
by ``Environment.replay_calls`` on the kept calls, exactly as a run is verified later.
Everything dropped is said in the notes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from nexforge.synthesis.evidence import fact_in_evidence
from nexforge.synthesis.grounding import environment_run
from nexforge.synthesis.records import Evidence, ExpectedOutcome, ReferenceCall
from nexforge.tools.environment import Environment
from nexforge.tools.executor import execute_tool
from nexforge.tools.validation import validate_arguments


def kept_facts(facts: Sequence[str], evidence: Sequence[Evidence], notes: list[str]) -> list[str]:
    kept: list[str] = []
    for fact in facts:
        fact = " ".join(fact.split())
        if not fact or fact in kept:
            continue
        if fact_in_evidence(fact, evidence):
            kept.append(fact)
        else:
            notes.append(f"dropped fact {fact[:80]!r}: not a value in the evidence")
    return kept


def valid_calls(
    environment: Environment, proposed: Sequence[dict[str, Any]], notes: list[str]
) -> list[ReferenceCall]:
    """The proposed calls that name a state-changing tool with schema-valid arguments."""
    valid: list[ReferenceCall] = []
    for index, raw in enumerate(proposed):
        name, arguments = str(raw.get("tool", "")), _arguments(raw.get("arguments"))
        try:
            tool = environment.tool(name)
        except KeyError:
            notes.append(f"dropped reference call {index} ({name}): no such tool")
            continue
        if tool.spec.read_only:
            notes.append(f"dropped reference call {index} ({name}): it does not change state")
            continue
        if not isinstance(arguments, dict):
            notes.append(
                f"dropped reference call {index} ({name}): arguments are not a JSON object"
            )
            continue
        problem = validate_arguments(tool.spec, arguments)
        if problem is not None:
            notes.append(f"dropped reference call {index} ({name}): {problem}")
            continue
        valid.append(ReferenceCall(tool=name, arguments=arguments))
    return valid


def _arguments(value: Any) -> Any:
    """The writer sends arguments as JSON text (see ``writer.query_schema``)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return None


async def succeeding_calls(
    environment: Environment, calls: Sequence[ReferenceCall], notes: list[str]
) -> list[ReferenceCall]:
    """The calls that succeed when run in order on a fresh copy (a failed call has no
    effect, so the ones after it see what a replay of the kept calls sees)."""
    kept: list[ReferenceCall] = []
    async with environment_run(environment, "expected") as ctx:
        for call in calls:
            outcome = await execute_tool(environment.tool(call.tool), dict(call.arguments), ctx)
            if outcome.is_error:
                notes.append(f"dropped reference call {call.tool}: {outcome.content[:160]}")
            else:
                kept.append(call)
    return kept


async def expected_outcome(
    environment: Environment,
    *,
    facts: Sequence[str],
    calls: Sequence[dict[str, Any]],
    evidence: Sequence[Evidence],
    writes: bool,
    notes: list[str],
) -> ExpectedOutcome:
    """Checked facts, and for a state-changing problem type the kept calls and their
    end-state hash (none when every proposed call was dropped: the intended end state
    is then unknown). No calls proposed means the run must leave the state unchanged."""
    expected = ExpectedOutcome(facts=kept_facts(facts, evidence, notes))
    if not writes:
        return expected
    kept = await succeeding_calls(environment, valid_calls(environment, calls, notes), notes)
    if calls and not kept:
        notes.append("no expected end state: every reference call was dropped")
        return expected
    expected.calls = kept
    expected.state_hash = await environment.replay_calls([(c.tool, c.arguments) for c in kept])
    return expected
