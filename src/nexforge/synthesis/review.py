"""Second looks at a written query: does it fit its persona and problem type, and how
would a real person have said it.

The fit check answers yes or no with a reason, and when the query does not fit, a
rewrite that does. Fuzzification turns the precise request into a vaguer, more human
one. Both must still name a record that was read (the same check as the writer's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nexforge.architect.ask import AskSettings, StageProblems, StageUsage, ask
from nexforge.architect.schema_parts import closed_object, text
from nexforge.models.base import Model
from nexforge.synthesis.evidence import fold
from nexforge.synthesis.writer import QueryTopic, describe_topic, require_anchor

FIT_STAGE = "fit_check"
FUZZY_STAGE = "fuzzy_query"

FIT_SYSTEM = """You check a request written for a support system. It must sound like the
person described (their situation and style) and exercise the problem type given. If it
does, say so and why. If it does not, say why and rewrite it so that it fits, keeping
every record it names (ids, names, emails, SKUs) exactly. Call submit_fit_check."""

FUZZY_SYSTEM = """You rewrite a precise request to a support system the way a real person
would send it: vaguer, more casual, perhaps with a little context or a digression,
leaving the assistant something to ask or look up. Keep at least one record it names
(an id, a name, an email or a SKU) exactly, so the request can still be solved. Call
submit_fuzzy_query."""


@dataclass(frozen=True)
class FitVerdict:
    fits: bool
    reason: str
    rewritten: str | None = None


def fit_schema() -> dict[str, Any]:
    return closed_object({"fits": {"type": "boolean"}, "reason": text(240), "rewritten": text(600)})


def normalize_fit(raw: dict[str, Any], anchors: Sequence[str]) -> FitVerdict:
    reason = " ".join(str(raw.get("reason") or "").split())
    if raw.get("fits") is True:
        return FitVerdict(True, reason)
    rewritten = " ".join(str(raw.get("rewritten") or "").split())
    if not rewritten:
        raise StageProblems(["fits is false: give the rewritten request that fits"])
    require_anchor(rewritten, anchors)
    return FitVerdict(False, reason, rewritten)


def normalize_fuzzy(raw: dict[str, Any], precise: str, anchors: Sequence[str]) -> str:
    query = " ".join(str(raw.get("query") or "").split())
    if not query:
        raise StageProblems(["query is empty: write the rewritten request"])
    if fold(query) == fold(precise):
        raise StageProblems(["the request is unchanged: make it vaguer and more casual"])
    require_anchor(query, anchors)
    return query


async def check_fit(
    model: Model,
    topic: QueryTopic,
    query: str,
    anchors: Sequence[str],
    *,
    settings: AskSettings,
    usage: StageUsage,
) -> FitVerdict:
    verdict: FitVerdict = await ask(
        model,
        stage=FIT_STAGE,
        system=FIT_SYSTEM,
        prompt=f"{describe_topic(topic)}\nRequest: {query}",
        schema=fit_schema(),
        normalize=lambda raw: normalize_fit(raw, anchors),
        settings=settings,
        usage=usage,
    )
    return verdict


async def fuzzify(
    model: Model,
    topic: QueryTopic,
    precise: str,
    anchors: Sequence[str],
    *,
    settings: AskSettings,
    usage: StageUsage,
) -> str:
    fuzzy: str = await ask(
        model,
        stage=FUZZY_STAGE,
        system=FUZZY_SYSTEM,
        prompt=f"{describe_topic(topic)}\nPrecise request: {precise}",
        schema=closed_object({"query": text(600)}),
        normalize=lambda raw: normalize_fuzzy(raw, precise, anchors),
        settings=settings,
        usage=usage,
    )
    return fuzzy
