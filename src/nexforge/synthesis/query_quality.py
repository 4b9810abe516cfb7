"""Is a query text something a person would send? The checks a query passes when it is
written and again in ``nexforge verify`` (the cascade's ``query`` stage).

A query is a request or a question in sentences: not a list of record names, not a
fragment, not a tool-call trace or JSON, not a template left unfilled, not an instruction
addressed to the model that wrote it. It does not contain its own answer (an expected fact
stated in the query makes "the answer states it" trivially true), and a query whose
expected outcome is a change asks for a change.

The checks are deterministic and err on the side of rejecting: a good query dropped costs
one slot, a junk query kept becomes junk training data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from nexforge.synthesis.facts import states, tokens

MIN_WORDS = 6
MIN_QUESTION_WORDS = 4
"""A question that opens as one ("What's the status of order 1002?") is a sentence sooner."""
QUESTION_OPENERS = frozenset(
    [
        "what",
        "what's",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "is",
        "are",
        "was",
        "were",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "will",
        "has",
        "have",
        "had",
        "should",
        "may",
    ]
)
MIN_OWN_WORDS = 4
"""Words left once the record values it names are taken out: "Bike 3, Bike 1, Bike 4"
has none, "Where is my order 1003, placed last week?" has six."""

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_LIST_ITEM_WORDS = 3
_TRACE = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*_[A-Za-z0-9_]*\s*\(|->|=>|\{\s*\"|\"\s*:|\[\s*\{|```|</?[a-z_]+>"
)
_RESIDUE = re.compile(
    r"\{\{|\}\}|\{[A-Za-z_ ]+\}|\[[A-Z_ ]{3,}\]|<[A-Z_ ]{3,}>|\b(?:lorem|ipsum|placeholder|"
    r"todo|tbd|xxx+)\b",
    re.IGNORECASE,
)
_META = re.compile(
    r"\b(?:submit_\w+|call submit|the request (?:must|should|is)|write (?:a|the|one) "
    r"(?:request|query)|as an ai|language model|json|persona|problem type|difficulty|"
    r"tool calls?|the records (?:shown|read)|records read|the assistant should|"
    r"user_goal|user_facts|evidence)\b",
    re.IGNORECASE,
)


def lexicon(text: str) -> frozenset[str]:
    """The words of ``text``, for the word lists below."""
    return frozenset(text.split())


REQUEST_MARKERS = lexicon(
    """please can could would will may might i i'm i'd i've i'll my we our need needs want
    wants like help tell show let check find look know wondering wonder hoping hope trying
    get give send make is are was were does do did has have which what when where who why
    how whether any"""
)
"""Words a request or question contains somewhere; a list of names contains none."""
CHANGE_WORDS = lexicon(
    """cancel cancelled canceled cancelling cancellation change changed changing update
    updated updating set mark marked add added adding create created book booked booking
    reserve reserved reservation order ordered ordering place placed refund refunded
    return returned move moved reschedule rescheduled assign assigned remove removed delete
    deleted close closed open opened approve approved reject rejected renew renewed
    register registered enrol enroll sign schedule scheduled switch switched upgrade
    downgrade replace replaced swap swapped put record note log issue edit modify
    modified transfer transferred extend extended confirm confirmed buy purchase
    rent pay paid submit submitted file filed raise increase decrease reduce
    restock complete completed finish start started stop pause hold release
    accept accepted decline declined"""
)
"""Verbs of asking for a change; a write tool's own name words are added per query."""


@dataclass(frozen=True)
class QueryFacts:
    """What the checks need to know about a query beside its text."""

    facts: Sequence[str] = ()
    """Facts its answer must contain (observed in the environment, not told by the user)."""
    values: Sequence[str] = ()
    """Record values it may name (ids, names...): they do not count as its own words."""
    asks_change: bool = False
    """Its expected outcome is a change (reference calls)."""
    change_words: Sequence[str] = ()
    """Words of the changing tools' names (``cancel_order`` -> cancel)."""


def words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def query_problems(text: str, about: QueryFacts | None = None) -> list[str]:
    """Why ``text`` is not a query a person would send; empty when it is."""
    about = about or QueryFacts()
    text = " ".join(text.split())
    problems: list[str] = []
    all_words = words(text)
    question = text.endswith("?") and bool(all_words) and all_words[0] in QUESTION_OPENERS
    if len(all_words) < (MIN_QUESTION_WORDS if question else MIN_WORDS):
        return [f"a fragment, not a request ({len(all_words)} words; a request has a sentence)"]
    if _TRACE.search(text):
        problems.append("reads as a tool call, code or JSON, not as a person's words")
    if _RESIDUE.search(text):
        problems.append("holds template residue (a placeholder left unfilled)")
    meta = _META.search(text)
    if meta:
        problems.append(f"addressed to the model that wrote it ({meta.group(0)!r})")
    if _is_list(text):
        problems.append("a list of items, not a request")
    repeated = _repeated_sentence(text)
    if repeated:
        problems.append(f"repeats itself ({repeated!r} more than once)")
    own = _own_words(text, about.values)
    if len(own) < MIN_OWN_WORDS:
        problems.append(
            "mostly record names: a request says what the person wants in their own words"
        )
    if "?" not in text and not REQUEST_MARKERS.intersection(all_words):
        problems.append("neither a question nor a request")
    leaked = [fact for fact in about.facts if states(text, fact)]
    if leaked:
        shown = ", ".join(repr(f) for f in leaked[:3])
        problems.append(f"contains its own answer ({shown} is an expected fact)")
    if about.asks_change:
        wanted = CHANGE_WORDS | {w.casefold() for w in about.change_words}
        if not wanted.intersection(all_words) and not _stem_match(all_words, wanted):
            problems.append("its expected outcome is a change, and it does not ask for one")
    return problems


def _repeated_sentence(text: str) -> str:
    """A sentence of at least ``MIN_QUESTION_WORDS`` words said twice (a small model
    looping: "I'm sorry for any inconvenience caused. ... I'm sorry for any ..."), or ``""``."""
    seen: set[tuple[str, ...]] = set()
    for sentence in re.split(r"(?<=[.?!])\s+", text):
        key = tuple(words(sentence))
        if len(key) < MIN_QUESTION_WORDS:
            continue
        if key in seen:
            return sentence.strip()
        seen.add(key)
    return ""


def _own_words(text: str, values: Sequence[str]) -> list[str]:
    """The text's words that are not part of a record value it names."""
    named = {t for value in values for t in tokens(value) if states(text, value)}
    return [w for w in words(text) if w not in named]


def _is_list(text: str) -> bool:
    """Three or more short items separated by commas, semicolons or line breaks, making
    up nearly all of the text."""
    items = [i.strip() for i in re.split(r"[,;\n|]", text) if i.strip()]
    if len(items) < 3:
        return False
    short = [i for i in items if len(words(i)) <= _LIST_ITEM_WORDS]
    return len(short) >= len(items) - 1


def _stem_match(said: Sequence[str], wanted: frozenset[str] | set[str]) -> bool:
    """``cancelling`` asks for ``cancel``: a said word that starts with a wanted verb."""
    stems = {w for w in wanted if len(w) >= 4}
    return any(word.startswith(stem) for word in said for stem in stems)


def tool_words(tool_names: Sequence[str]) -> list[str]:
    """``cancel_order`` -> ``["cancel", "order"]``: the words of tools' names."""
    return [w for name in tool_names for w in re.split(r"[_\-]+", name.casefold()) if w]
