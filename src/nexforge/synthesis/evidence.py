"""What the evidence read from an environment says: its values, and which of them a
query can name (ids, names, emails, SKUs) so that it is about real records.

Text is compared folded: case, accents and runs of whitespace do not matter, and a
number only matches as a whole number (``1003`` is not in ``10030``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any

from nexforge.synthesis.records import Evidence

IDENTIFYING_KEYS = frozenset(
    {"id", "name", "email", "sku", "code", "title", "number", "username", "slug", "reference"}
)
IDENTIFYING_SUFFIXES = ("_id", "_name", "_code", "_number", "_email", "_sku")
MIN_ANCHOR_CHARS = 3
"""Shorter values (customer 4, size M) occur in text by chance; they do not ground it."""


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def scalars(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """``(key, value)`` for every scalar in a tool result, nested rows included."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from scalars(v, str(k))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from scalars(item, key)
    elif value is not None:
        yield key, value


def is_identifying(key: str) -> bool:
    return key in IDENTIFYING_KEYS or key.endswith(IDENTIFYING_SUFFIXES)


def anchors(evidence: Sequence[Evidence]) -> list[str]:
    """Values a query can name to be about a real record, each once; those read last
    (the most specific reads, reached by following ids) first."""
    found: dict[str, None] = {}
    for item in reversed(evidence):
        for key, value in scalars(item.result):
            if isinstance(value, bool) or not is_identifying(key):
                continue
            text = " ".join(str(value).split())
            if len(text) >= MIN_ANCHOR_CHARS:
                found.setdefault(text, None)
    return list(found)


def mentions(text: str, value: str) -> bool:
    """Whether ``text`` names ``value`` (folded; a number only as a whole number)."""
    folded, wanted = fold(text), fold(value)
    if not wanted:
        return False
    if wanted.isdigit():
        return re.search(rf"(?<!\d){re.escape(wanted)}(?!\d)", folded) is not None
    return wanted in folded


def named_anchors(text: str, evidence_anchors: Sequence[str]) -> list[str]:
    """The anchors ``text`` names."""
    return [a for a in evidence_anchors if mentions(text, a)]


def fact_in_evidence(fact: str, evidence: Sequence[Evidence]) -> bool:
    """A fact is kept only when it is (part of) a value that was read: an answer can
    then be checked for it against what the environment really holds."""
    wanted = fold(fact)
    if not wanted:
        return False
    for item in evidence:
        for _, value in scalars(item.result):
            text = fold(str(value))
            if wanted == text or (len(wanted) >= MIN_ANCHOR_CHARS and mentions(text, wanted)):
                return True
    return False
