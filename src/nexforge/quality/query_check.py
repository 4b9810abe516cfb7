"""Stage ``query``: is the rollout's query one a person would send, and does it keep its
answer to itself? (``synthesis.query_quality``, the same checks the query writer applies,
so hand-written and imported queries are held to them too.)"""

from __future__ import annotations

from nexforge.quality.policy import QUERY
from nexforge.synthesis.evidence import anchors
from nexforge.synthesis.query_quality import QueryFacts, query_problems, tool_words
from nexforge.synthesis.records import QueryRecord, RolloutRecord, Verdict


def check_query(rollout: RolloutRecord, query: QueryRecord | None) -> list[Verdict]:
    """The stage's one verdict on ``rollout``, from its query."""
    if query is None:
        return [
            Verdict(
                rollout_key=rollout.key,
                stage=QUERY,
                passed=False,
                reason="the rollout's query is not in the store",
                detail={"problems": ["query missing"]},
            )
        ]
    expected = query.expected
    calls = [c.tool for c in expected.calls] if expected is not None else []
    about = QueryFacts(
        facts=expected.facts if expected is not None else (),
        values=anchors(query.evidence),
        asks_change=bool(calls),
        change_words=tool_words(calls),
    )
    problems = query_problems(query.text, about)
    if not problems:
        return [Verdict(rollout_key=rollout.key, stage=QUERY, passed=True)]
    return [
        Verdict(
            rollout_key=rollout.key,
            stage=QUERY,
            passed=False,
            reason="; ".join(problems[:3]),
            detail={"problems": [p.split(" (")[0] for p in problems]},
        )
    ]
