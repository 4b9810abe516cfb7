"""Second looks at a written query: does it fit its persona and problem type, and how
would a real person have said it.

The fit check answers yes or no with a reason, and when the query does not fit, a
rewrite that does. Fuzzification turns the precise request into a vaguer, more human
one. A rewrite is held to the writer's own check (``writer.check_request``): still a
request, still naming what the person knows and the details a run needs, still not
holding its answer; one that fails is sent back, then dropped (the slot keeps the
request it had).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nexforge.architect.ask import AskSettings, StageProblems, StageUsage, ask
from nexforge.architect.schema_parts import closed_object, text
from nexforge.models.base import Model
from nexforge.synthesis.blueprint import Blueprint
from nexforge.synthesis.evidence import fold
from nexforge.synthesis.writer import QueryTopic, check_request, describe_topic

FIT_STAGE = "fit_check"
FUZZY_STAGE = "fuzzy_query"

FIT_SYSTEM = """You check a request written for a support system. It must sound like the
person described (their situation and style) and exercise the problem type given. If it
does, say so and why. If it does not, say why and rewrite it so that it fits, keeping
every name, number and detail it states exactly. Call submit_fit_check."""

FUZZY_SYSTEM = """You rewrite a precise request to a support system the way a real person
would send it: vaguer, more casual, perhaps with a little context or a digression,
leaving the assistant something to ask or look up. Keep every name, number and detail
it states exactly, so the request can still be solved. Call submit_fuzzy_query."""


@dataclass(frozen=True)
class FitVerdict:
    fits: bool
    reason: str
    rewritten: str | None = None


def fit_schema() -> dict[str, Any]:
    return closed_object({"fits": {"type": "boolean"}, "reason": text(240), "rewritten": text(600)})


def _hold(text_: str, blueprint: Blueprint, details: dict[str, str]) -> None:
    problems = check_request(text_, blueprint, details)
    if problems:
        raise StageProblems(problems)


def normalize_fit(raw: dict[str, Any], blueprint: Blueprint, details: dict[str, str]) -> FitVerdict:
    reason = " ".join(str(raw.get("reason") or "").split())
    if raw.get("fits") is True:
        return FitVerdict(True, reason)
    rewritten = " ".join(str(raw.get("rewritten") or "").split())
    if not rewritten:
        raise StageProblems(["fits is false: give the rewritten request that fits"])
    _hold(rewritten, blueprint, details)
    return FitVerdict(False, reason, rewritten)


def normalize_fuzzy(
    raw: dict[str, Any], precise: str, blueprint: Blueprint, details: dict[str, str]
) -> str:
    query = " ".join(str(raw.get("query") or "").split())
    if not query:
        raise StageProblems(["query is empty: write the rewritten request"])
    if fold(query) == fold(precise):
        raise StageProblems(["the request is unchanged: make it vaguer and more casual"])
    _hold(query, blueprint, details)
    return query


async def check_fit(
    model: Model,
    topic: QueryTopic,
    query: str,
    blueprint: Blueprint,
    details: dict[str, str],
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
        normalize=lambda raw: normalize_fit(raw, blueprint, details),
        settings=settings,
        usage=usage,
    )
    return verdict


async def fuzzify(
    model: Model,
    topic: QueryTopic,
    precise: str,
    blueprint: Blueprint,
    details: dict[str, str],
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
        normalize=lambda raw: normalize_fuzzy(raw, precise, blueprint, details),
        settings=settings,
        usage=usage,
    )
    return fuzzy
