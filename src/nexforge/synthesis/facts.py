"""Whether an answer states the facts a query expects, forgiving how they are written.

Both texts become sequences of tokens: words folded (case and accents do not matter) and
numbers in one canonical form (``1,234.50`` and ``1234.5`` agree, ``007`` is ``7``);
punctuation and whitespace only separate tokens. A fact is stated when its tokens occur
in a row in the answer, so ``1003`` is not found in ``10030`` and ``Ada  Lovelace,`` is
``ada lovelace``. A date (``2025-12-04``) is also stated as people write it in English:
``December 4, 2025``, ``4 December 2025``, ``Dec 4th, 2025``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# A number with optional thousands separators and decimals, or a run of letters.
_TOKEN = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|[^\W\d_]+")


def tokens(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return [_canonical(t) if t[0].isdigit() else t for t in _TOKEN.findall(folded)]


def _canonical(number: str) -> str:
    whole, _, decimals = number.replace(",", "").partition(".")
    whole = whole.lstrip("0") or "0"
    decimals = decimals.rstrip("0")
    return f"{whole}.{decimals}" if decimals else whole


_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]


def states(answer: str, fact: str) -> bool:
    """Whether ``answer`` states ``fact`` (see the module doc); an empty fact is not stated."""
    wanted = tokens(fact)
    if not wanted:
        return False
    said = tokens(answer)
    if _in_row(said, wanted):
        return True
    date = _ISO_DATE.match(fact)
    return date is not None and _states_date(said, *(int(g) for g in date.groups()))


def _in_row(said: list[str], wanted: list[str]) -> bool:
    width = len(wanted)
    return any(said[i : i + width] == wanted for i in range(len(said) - width + 1))


def _states_date(said: list[str], year: int, month: int, day: int) -> bool:
    """``December 4, 2025`` / ``4 December 2025`` / ``Dec 4th 2025`` for 2025-12-04."""
    if not 1 <= month <= 12:
        return False
    name = MONTHS[month - 1]
    names = {name, name[:3]} | ({"sept"} if month == 9 else set())
    days = {str(day)}
    ordinal = {"st", "nd", "rd", "th"}
    said = [t for i, t in enumerate(said) if not (t in ordinal and i and said[i - 1][0].isdigit())]
    for i, token in enumerate(said):
        if token not in names:
            continue
        after, before = said[i + 1 : i + 3], said[max(0, i - 2) : i]
        if len(after) == 2 and after[0] in days and after[1] == str(year):
            return True
        if (
            len(before) == 2
            and before[0] in days
            and before[1] == "of"
            and after[:1] == [str(year)]
        ):
            return True
        if before[-1:] and before[-1] in days and after[:1] == [str(year)]:
            return True
    return False


def missing_facts(answer: str, facts: Sequence[str]) -> list[str]:
    return [fact for fact in facts if not states(answer, fact)]
