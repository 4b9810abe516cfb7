"""Whether an answer states the facts a query expects, forgiving how they are written.

Both texts become sequences of tokens: words folded (case and accents do not matter) and
numbers in one canonical form (``1,234.50`` and ``1234.5`` agree, ``007`` is ``7``);
punctuation and whitespace only separate tokens. A fact is stated when its tokens occur
in a row in the answer, so ``1003`` is not found in ``10030`` and ``Ada  Lovelace,`` is
``ada lovelace``.
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


def states(answer: str, fact: str) -> bool:
    """Whether ``answer`` states ``fact`` (see the module doc); an empty fact is not stated."""
    wanted = tokens(fact)
    if not wanted:
        return False
    said = tokens(answer)
    width = len(wanted)
    return any(said[i : i + width] == wanted for i in range(len(said) - width + 1))


def missing_facts(answer: str, facts: Sequence[str]) -> list[str]:
    return [fact for fact in facts if not states(answer, fact)]
