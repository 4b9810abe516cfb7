"""When two texts say the same thing: one definition for the kit and for ``diversity``.

Similarity is the Jaccard index of the texts' word sets, with case, accents and
punctuation folded and a few stop words dropped, so the build removes exactly what
``architect-stats`` would report as a near-duplicate.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence

_WORD = re.compile(r"[^\W_]+")
_STOPWORDS = frozenset(["a", "an", "the", "of", "to", "for", "and", "or", "in", "on", "my", "who"])


def near_duplicates(
    texts: Sequence[str], *, threshold: float = 0.8
) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, similarity)``, ``i < j``, whose similarity is at least ``threshold``.

    Similarity is the Jaccard index of the texts' word sets, with case and punctuation
    folded and a few stop words dropped, so texts equal up to those score 1.0. Candidates
    come from prefix filtering (index each set's rarest ``n - ceil(threshold * n) + 1``
    words: two sets that similar must share one), then each is verified. Near linear
    for varied texts; O(n^2) only when all texts share their rare words. Texts without
    words are never duplicates.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    sets = [word_set(text) for text in texts]
    frequency = Counter(word for words in sets for word in words)
    index: defaultdict[str, list[int]] = defaultdict(list)
    found: list[tuple[int, int, float]] = []
    for j, words in enumerate(sets):
        prefix = len(words) - math.ceil(threshold * len(words) - 1e-9) + 1 if words else 0
        candidates: set[int] = set()
        for word in sorted(words, key=lambda w: (frequency[w], w))[:prefix]:
            candidates.update(index[word])
            index[word].append(j)
        for i in sorted(candidates):
            similarity = len(sets[i] & words) / len(sets[i] | words)
            if similarity >= threshold - 1e-9:
                found.append((i, j, similarity))
    return sorted(found)


def word_set(text: str) -> frozenset[str]:
    folded = unicodedata.normalize("NFKD", text.casefold())
    words = _WORD.findall("".join(c for c in folded if not unicodedata.combining(c)))
    return frozenset([w for w in words if w not in _STOPWORDS] or words)


def word_similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' word sets (1.0 for the same words)."""
    wa, wb = word_set(a), word_set(b)
    if not wa and not wb:
        return 1.0
    return len(wa & wb) / len(wa | wb)
