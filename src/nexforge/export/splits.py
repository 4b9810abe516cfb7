"""Train/val/... splits by whole query, so no query (nor its samples, nor its sub-agent
episodes) lands in two splits.

A query's place comes from hashing (seed, query key) alone: the same store and seed give
the same files on every run. For up to ``RANKED_MAX`` queries known up front they are
ranked by that hash and cut at the split sizes, so the counts are exact to rounding;
for more (or for a query not known up front) the hash picks the split directly, so a
query's split never depends on which other queries the store holds, and proportions are
honoured approximately.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

RANKED_MAX = 1000
WHOLE = "all"
"""The one split's name when no split was asked for."""


def _unit(seed: int, query_key: str) -> float:
    digest = hashlib.sha256(f"{seed}\x1f{query_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_sizes(weights: dict[str, float], total: int) -> dict[str, int]:
    """Largest-remainder rounding of ``total`` items over normalised weights."""
    scale = sum(weights.values())
    exact = {name: total * w / scale for name, w in weights.items()}
    sizes = {name: math.floor(x) for name, x in exact.items()}
    order = sorted(weights, key=lambda name: exact[name] - sizes[name], reverse=True)
    for name in order[: total - sum(sizes.values())]:
        sizes[name] += 1
    return sizes


class SplitPlan:
    """Which split each query key belongs to."""

    def __init__(
        self, weights: dict[str, float] | None, query_keys: Iterable[str] = (), seed: int = 0
    ) -> None:
        self.seed = seed
        self.weights = dict(weights) if weights else {WHOLE: 1.0}
        self.names = tuple(self.weights)
        scale = sum(self.weights.values())
        self._bounds: list[tuple[float, str]] = []
        acc = 0.0
        for name, weight in self.weights.items():
            acc += weight / scale
            self._bounds.append((acc, name))
        self._ranked: dict[str, str] = {}
        if len(self.names) > 1:
            keys = sorted(set(query_keys), key=lambda k: (_unit(seed, k), k))
            if len(keys) <= RANKED_MAX:
                self._rank(keys)

    def _rank(self, keys: list[str]) -> None:
        start = 0
        for name, size in split_sizes(self.weights, len(keys)).items():
            for key in keys[start : start + size]:
                self._ranked[key] = name
            start += size

    def assign(self, query_key: str) -> str:
        if len(self.names) == 1:
            return self.names[0]
        ranked = self._ranked.get(query_key)
        if ranked is not None:
            return ranked
        unit = _unit(self.seed, query_key)
        return next((name for bound, name in self._bounds if unit < bound), self.names[-1])
