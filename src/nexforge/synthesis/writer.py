"""The query writer: one model answer per slot attempt, a request grounded in the evidence.

The model sees who asks (persona), what about (problem-type path), how hard, the tools
that solve it and the records read from the environment. It answers with the request,
the facts a correct answer contains, the state-changing calls a correct run makes
(only for problem types whose tools change state), and the simulated user's side. The
normaliser rejects a request that names no record that was read (an id, a name, an
email, a SKU...), which sends it back to the model for a repair.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nexforge.architect.ask import AskSettings, StageProblems, StageUsage, ask
from nexforge.architect.schema_parts import array, closed_object, text, texts
from nexforge.architect.spec import Persona
from nexforge.models.base import Model
from nexforge.synthesis.evidence import named_anchors
from nexforge.synthesis.records import Evidence, UserSide
from nexforge.tools.environment import Environment

QUERY_STAGE = "query"
DIFFICULTY_HINTS = {
    "easy": "one lookup or one simple action",
    "medium": "two or three steps, e.g. look something up, then act on it",
    "hard": "several steps, a condition to check, or a case the rules may refuse",
}
MAX_ANCHORS_SHOWN = 8
MAX_ARGUMENTS_CHARS = 400
MIN_QUERY_CHARS = 20
MIN_QUERY_WORDS = 6
"""A request is a sentence, not a record's name: the length bound constrains decoding, the
word count is checked (small models otherwise answer with the anchor alone, "Bike 3")."""

QUERY_SYSTEM = """You write one realistic request that a person sends to a support system,
in that person's own voice and style. The request is about the records shown, which
are real: name at least one of them exactly as written there (an id, a name, an email
or a SKU), preferably those read last. It must be solvable with the listed tools and
match the difficulty. Also give:
- facts: short values copied exactly from the records that a correct answer contains;
- calls: the state-changing tool calls a correct run makes, in order, each with its
  exact arguments as a JSON object (only when state-changing tools are listed; none if
  the request should be refused);
- user_goal and user_facts: what the person wants, and what only they know (for a
  simulated user who answers the assistant's follow-up questions).
Call submit_query."""


@dataclass(frozen=True)
class QueryTopic:
    """What one query is about: the sampled slot, with the tools that solve it."""

    persona: Persona
    path_labels: Sequence[str]
    description: str
    difficulty: str
    tools: Sequence[str]


@dataclass
class QueryDraft:
    text: str
    facts: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    user: UserSide | None = None


def write_tools(environment: Environment, tools: Sequence[str]) -> list[str]:
    """The topic's tools that change state, in the environment's order."""
    return [t.name for t in environment.tools if t.name in tools and not t.spec.read_only]


def query_schema(state_changing: Sequence[str]) -> dict[str, Any]:
    query: dict[str, Any] = {
        **text(600),
        "minLength": MIN_QUERY_CHARS,
        "description": "the request, in the person's words: a full sentence or more",
    }
    properties: dict[str, Any] = {
        "query": query,
        "facts": texts(80, 0, 5),
        "user_goal": text(240),
        "user_facts": texts(160, 0, 4),
    }
    if state_changing:
        # Arguments as JSON text of bounded length: a free-form object has no bound, and a
        # small model under constrained decoding can run on until max_tokens.
        arguments = {**text(MAX_ARGUMENTS_CHARS), "description": "the arguments as a JSON object"}
        call = closed_object(
            {"tool": {"type": "string", "enum": list(state_changing)}, "arguments": arguments}
        )
        properties["calls"] = array(call, 0, 4)
    return closed_object(properties)


def describe_evidence(evidence: Sequence[Evidence]) -> str:
    return "\n".join(
        f"- {e.tool}({json.dumps(e.arguments, ensure_ascii=False)}) -> "
        f"{json.dumps(e.result, ensure_ascii=False)}"
        for e in evidence
    )


def describe_topic(topic: QueryTopic) -> str:
    persona = topic.persona
    about = " > ".join(topic.path_labels)
    if topic.description:
        about += f": {topic.description}"
    hint = DIFFICULTY_HINTS.get(topic.difficulty, topic.difficulty)
    return (
        f"Person: {persona.name} ({persona.user_type}). {persona.background}"
        + (f" Style: {persona.style}." if persona.style else "")
        + f"\nProblem type: {about}\nDifficulty: {topic.difficulty} ({hint})"
    )


def query_prompt(
    topic: QueryTopic,
    environment: Environment,
    evidence: Sequence[Evidence],
    anchors: Sequence[str],
) -> str:
    tool_lines = []
    for tool in environment.tools:
        if tool.name in topic.tools:
            kind = "reads" if tool.spec.read_only else "changes state"
            summary = tool.spec.description.strip().split("\n")[0]
            tool_lines.append(f"- {tool.name} ({kind}): {summary}")
    return (
        f"{describe_topic(topic)}\nTools:\n"
        + ("\n".join(tool_lines) or "- (none listed)")
        + f"\nRecords read from the system:\n{describe_evidence(evidence)}"
        + f"\nThe request must name at least one of: {', '.join(anchors[:MAX_ANCHORS_SHOWN])}"
    )


def normalize_draft(raw: dict[str, Any], anchors: Sequence[str], writes: bool) -> QueryDraft:
    query = " ".join(str(raw.get("query") or "").split())
    if not query:
        raise StageProblems(["query is empty: write the request"])
    if len(query.split()) < MIN_QUERY_WORDS:
        raise StageProblems(
            [
                f"the request {query!r} is too short: write what the person asks for in a full "
                f"sentence of at least {MIN_QUERY_WORDS} words"
            ]
        )
    require_anchor(query, anchors)
    goal = " ".join(str(raw.get("user_goal") or "").split()) or query
    user_facts = [" ".join(str(f).split()) for f in raw.get("user_facts") or []]
    return QueryDraft(
        text=query,
        facts=[str(f) for f in raw.get("facts") or []],
        calls=[c for c in raw.get("calls") or [] if isinstance(c, dict)] if writes else [],
        user=UserSide(goal=goal, facts=[f for f in user_facts if f]),
    )


def require_anchor(query: str, anchors: Sequence[str]) -> None:
    """Raise StageProblems unless ``query`` names one of the records read."""
    if not named_anchors(query, anchors):
        shown = ", ".join(repr(a) for a in anchors[:MAX_ANCHORS_SHOWN])
        raise StageProblems(
            [f"the request names none of the records read; name one exactly, e.g. {shown}"]
        )


async def write_draft(
    model: Model,
    topic: QueryTopic,
    environment: Environment,
    evidence: Sequence[Evidence],
    anchors: Sequence[str],
    *,
    settings: AskSettings,
    usage: StageUsage,
) -> QueryDraft:
    """The model's request for ``topic``; StageFailed when no repair made it usable."""
    state_changing = write_tools(environment, topic.tools)
    draft: QueryDraft = await ask(
        model,
        stage=QUERY_STAGE,
        system=QUERY_SYSTEM,
        prompt=query_prompt(topic, environment, evidence, anchors),
        schema=query_schema(state_changing),
        normalize=lambda raw: normalize_draft(raw, anchors, bool(state_changing)),
        settings=settings,
        usage=usage,
    )
    return draft
