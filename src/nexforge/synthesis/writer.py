"""The query writer: the model words a request from its blueprint, in the persona's voice.

Everything the request is about was decided before (``blueprint``): the record, what the
person knows, what they want to find out or change. The model writes one or two sentences
and, for a change, the free-text details only the person can give (a reason, a note's
text). The answer is checked, not trusted (``check_request``): it is a request a person
would send (``query_quality``), it names everything the person knows that a run needs,
it states the free-text details word for word, and it does not contain what the person
wants to find out. A failed check goes back to the model with the reasons, for a repair.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nexforge.architect.ask import AskSettings, StageProblems, StageUsage, ask
from nexforge.architect.schema_parts import closed_object, text
from nexforge.architect.spec import Persona
from nexforge.models.base import Model
from nexforge.synthesis.blueprint import Blueprint
from nexforge.synthesis.evidence import mentions
from nexforge.synthesis.facts import tokens
from nexforge.synthesis.query_quality import QueryFacts, query_problems, tool_words

REQUEST_STAGE = "request"
MIN_REQUEST_CHARS = 20
MAX_REQUEST_CHARS = 400
MAX_DETAIL_CHARS = 80
REFUSAL = re.compile(r"\b(?:sorry|can't assist|cannot assist|as an ai|i can't help)\b", re.I)
DIFFICULTY_STYLE = {
    "easy": "short and direct",
    "medium": "with a little context about their situation",
    "hard": "with context, as a person who is unsure or in a hurry",
}

REQUEST_SYSTEM = """You write the message a person sends to a support desk, as that person,
in their own voice and style. You are told who they are, what they want and what they
know. Write one to three sentences: a question or a request. Name exactly what they
know (as written). Never write what they want to find out: they do not know it. Do not
mention tools, JSON, records or these instructions. Call submit_request."""

EXAMPLE = """Example. Person: Ana (customer), a nurse who works nights.
Wants: to find out about order 2291: the status. Knows: order 2291.
Message: Hi, I ordered a rain jacket last week (order 2291), could you tell me where it is?"""

CHANGE_EXAMPLE = """Example. Person: Ana (customer), a nurse who works nights.
Wants: to cancel order (order 2291). Knows: order 2291.
Message: Hello, please cancel my order 2291; I found the same jacket in a shop near me."""

EXAMPLE_DETAIL = "leave the parcel with my neighbour"
DETAIL_EXAMPLE = f"""Example. Person: Ben (customer), a cyclist who works from home.
Wants: to add note (order 2291). Knows: order 2291. Also give body.
Message: Hi, could you add a note to order 2291: {EXAMPLE_DETAIL}.
body: {EXAMPLE_DETAIL}"""


@dataclass(frozen=True)
class QueryTopic:
    """What one query is about: the sampled slot, with the tools that solve it."""

    persona: Persona
    path_labels: Sequence[str]
    description: str
    difficulty: str
    tools: Sequence[str]


@dataclass
class WrittenRequest:
    text: str
    details: dict[str, str] = field(default_factory=dict)
    """Free-text arguments of the blueprint's call, as the person stated them."""


def describe_person(topic: QueryTopic) -> str:
    persona = topic.persona
    return f"Person: {persona.name} ({persona.user_type}). {persona.background}" + (
        f" Style: {persona.style}." if persona.style else ""
    )


def describe_topic(topic: QueryTopic) -> str:
    about = " > ".join(topic.path_labels)
    if topic.description:
        about += f": {topic.description}"
    return f"{describe_person(topic)}\nProblem type: {about}"


def request_schema(free: Sequence[str]) -> dict[str, Any]:
    request = {
        **text(MAX_REQUEST_CHARS),
        "minLength": MIN_REQUEST_CHARS,
        "description": "the message, in the person's words",
    }
    properties: dict[str, Any] = {"request": request}
    for name in free:
        properties[name] = {
            **text(MAX_DETAIL_CHARS),
            "minLength": 3,
            "description": f"the {name.replace('_', ' ')}, exactly as the message states it",
        }
    return closed_object(properties)


def request_prompt(topic: QueryTopic, blueprint: Blueprint) -> str:
    free = blueprint.call.free if blueprint.call is not None else []
    lines = [
        DETAIL_EXAMPLE if free else EXAMPLE if blueprint.kind == "read" else CHANGE_EXAMPLE,
        "",
        describe_person(topic),
        f"Wants: {blueprint.wants()}.",
        f"Knows: {', '.join(k.text for k in blueprint.known)}.",
    ]
    if blueprint.facts and blueprint.kind == "read":
        lines.append(f"Does not know (never write): {', '.join(blueprint.facts)}.")
    for name in free:
        lines.append(
            f"Also give {name}: the person's own short phrase for the "
            f"{name.replace('_', ' ')} (3 to 8 words), and use that exact phrase in the message."
        )
    lines.append(f"Tone: {DIFFICULTY_STYLE.get(topic.difficulty, topic.difficulty)}.")
    return "\n".join(lines)


def check_request(text_: str, blueprint: Blueprint, details: dict[str, str]) -> list[str]:
    """Why the request does not do its job for this blueprint; empty when it does."""
    tools = [blueprint.call.tool] if blueprint.call is not None else []
    about = QueryFacts(
        facts=blueprint.facts if blueprint.kind == "read" else (),
        values=[k.value for k in blueprint.known] + list(details.values()),
        asks_change=blueprint.kind != "read",
        change_words=tool_words(tools),
    )
    problems = query_problems(text_, about)
    allowed = {t for value in about.values for t in tokens(value)}
    allowed |= {t for value in blueprint.record.values() for t in tokens(str(value))}
    strangers = [t for t in tokens(text_) if t[0].isdigit() and len(t) >= 3 and t not in allowed]
    if strangers:
        problems.append(
            f"the message names {', '.join(strangers[:3])}, which is not a record the person "
            "knows: use only what they know"
        )
    for known in blueprint.known:
        if not known.named_in(text_):
            problems.append(f"the message must name {known.text!r} exactly")
    if blueprint.kind == "read":
        for asked in blueprint.asked:
            if not asks_for(text_, asked):
                problems.append(f"the message must ask for the {asked.replace('_', ' ')}")
    if blueprint.call is not None and blueprint.kind != "read":
        verb = blueprint.call.tool.split("_")[0]
        if not asks_to(text_, verb):
            problems.append(f"the message must ask to {verb} it (the change the person wants)")
    if len(text_) >= MAX_REQUEST_CHARS - 5 and not text_.rstrip().endswith((".", "?", "!")):
        problems.append("the message is cut off: write one to three whole sentences")
    copied = copied_words(text_, blueprint)
    if copied:
        problems.append(
            f"the message copies the example ({copied!r}): write this person's own message"
        )
    for name, value in details.items():
        if not value:
            problems.append(f"give the {name.replace('_', ' ')}")
        elif REFUSAL.search(value):
            problems.append(f"the {name.replace('_', ' ')} must be the person's words: {value!r}")
        elif mentions(value, EXAMPLE_DETAIL):
            problems.append(
                f"the {name.replace('_', ' ')} copies the example: write this person's own words"
            )
        elif not mentions(text_, value):
            problems.append(
                f"the message must state the {name.replace('_', ' ')} word for word: {value!r}"
            )
    return problems


ASKING_WORDS = (
    (("_on", "_at", "date", "time", "day"), ("when", "date", "day")),
    (("price", "total", "amount", "cost", "fee", "balance"), ("how much", "cost", "price")),
    (("stock", "quantity", "count", "copies", "seats", "units"), ("how many", "left", "stock")),
    (("status", "state"), ("status", "where", "stand")),
)
"""Ways a person asks for a kind of field without its name ("when was it placed")."""
EXAMPLE_MARKERS = ("rain jacket", "works nights", "same jacket")
"""What only the worked examples are about: a message naming one copied the example."""


def asks_for(request: str, field_name: str) -> bool:
    """Whether ``request`` asks for the field: one of its words ("placed on" -> placed),
    or a way of asking for its kind (a date -> "when")."""
    words = set(tokens(request))
    folded = " ".join(tokens(request))
    own = [w for w in field_name.lower().split("_") if len(w) > 2 and w not in ("the", "and")]
    if any(w in words or w.rstrip("s") in words or f"{w}s" in words for w in own):
        return True
    name = field_name.lower()
    return any(
        any(k in name for k in kinds) and any(f" {p} " in f" {folded} " for p in phrases)
        for kinds, phrases in ASKING_WORDS
    )


CHANGE_VERBS = {
    "create": "add create register record new open enter sign",
    "add": "add create new include record put enter",
    "update": "update change set correct edit modify adjust make raise lower increase decrease "
    "reduce fix bump drop",
    "set": "set change update make mark",
    "cancel": "cancel call withdraw",
    "approve": "approve accept grant",
    "reject": "reject decline deny refuse",
    "pay": "pay settle",
    "delete": "delete remove",
    "remove": "remove delete take",
    "mark": "mark set flag",
    "close": "close finish complete",
    "return": "return bring give",
    "renew": "renew extend",
}
"""Ways a person asks for the change a tool's verb names ("make it 23" updates a count)."""


def asks_to(request: str, verb: str) -> bool:
    """Whether ``request`` asks for the change ``verb`` names (a tool's first word)."""
    wanted = CHANGE_VERBS.get(verb, verb).split()
    for token in tokens(request):
        for word in wanted:
            if len(word) >= 4 and token.startswith(word[: max(4, len(word) - 1)]):
                return True
            if token in (word, f"{word}s", f"{word}ed", f"{word}d", f"{word}ing"):
                return True
            if token in (f"{word}{word[-1]}ing", f"{word}{word[-1]}ed"):
                return True
    return False


def copied_words(request: str, blueprint: Blueprint) -> str:
    """What ``request`` took from a worked example (a small model copies "I ordered a rain
    jacket last week"), or ``""``; a marker the task's own record names is not a copy."""
    record = " ".join(str(v) for v in blueprint.record.values())
    for marker in EXAMPLE_MARKERS:
        if mentions(request, marker) and not mentions(record, marker):
            return marker
    return ""


def normalize_request(raw: dict[str, Any], blueprint: Blueprint) -> WrittenRequest:
    request = " ".join(str(raw.get("request") or "").split())
    free = blueprint.call.free if blueprint.call is not None else []
    details = {name: " ".join(str(raw.get(name) or "").split()) for name in free}
    problems = check_request(request, blueprint, details)
    if problems:
        raise StageProblems(problems)
    return WrittenRequest(request, details)


async def write_request(
    model: Model,
    topic: QueryTopic,
    blueprint: Blueprint,
    *,
    settings: AskSettings,
    usage: StageUsage,
) -> WrittenRequest:
    """The model's request for ``blueprint``; StageFailed when no repair made it usable."""
    free = blueprint.call.free if blueprint.call is not None else []
    written: WrittenRequest = await ask(
        model,
        stage=REQUEST_STAGE,
        system=REQUEST_SYSTEM,
        prompt=request_prompt(topic, blueprint),
        schema=request_schema(free),
        normalize=lambda raw: normalize_request(raw, blueprint),
        settings=settings,
        usage=usage,
    )
    return written
