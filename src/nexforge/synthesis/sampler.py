"""Sampling what a query is about: a persona, a problem-type path and a difficulty.

The target distribution over paths: a leaf uniformly at random, cut at a random depth
>= 2 (the root is depth 1), so inner nodes are asked about too; ``target_shares`` gives
each path's share of it. Draws are then balanced by inverse frequency on the store's
counts: a path's weight is ``share / (count / expected + 1) ** alpha``, where
``expected = share * number_of_paths`` puts the count in units of the path's own share
(when all shares are equal the weight is proportional to ``1 / (count + 1) ** alpha``).
Paths asked about less than their share are preferred, so coverage flattens towards
the target as queries accumulate; ``alpha = 0`` samples the target as it is. Every draw
takes its randomness from the ``random.Random`` it is given; ``slot_rng`` derives one
per (seed, slot, attempt, purpose).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nexforge.architect.spec import Persona
from nexforge.synthesis.problem_tree import ProblemTree, TypePath

DEFAULT_ALPHA = 1.5
DEFAULT_DIFFICULTY_MIX: Mapping[str, float] = {"easy": 0.3, "medium": 0.5, "hard": 0.2}
MIN_DEPTH = 2
"""The shallowest path sampled: a category (depth 2) under the root (depth 1)."""


def slot_rng(seed: int, slot: int, attempt: int, purpose: str) -> random.Random:
    """The randomness of one purpose of one attempt at one slot (a string seed is
    hashed with sha512 by ``random``, so it is stable across processes)."""
    return random.Random(f"nexforge-queries/{purpose}/{seed}/{slot}/{attempt}")


def check_difficulty_mix(mix: Mapping[str, float]) -> None:
    """Raises ValueError unless the mix has names and non-negative weights summing > 0."""
    if not mix or any(w < 0 or not math.isfinite(w) for w in mix.values()):
        raise ValueError(f"difficulty mix needs non-negative weights: {dict(mix)}")
    if sum(mix.values()) <= 0:
        raise ValueError(f"difficulty mix weights sum to 0: {dict(mix)}")


@dataclass(frozen=True)
class Draw:
    persona: Persona
    path: TypePath
    difficulty: str


def target_shares(tree: ProblemTree) -> dict[TypePath, float]:
    """Each path's probability under "a uniform leaf, cut at a uniform depth >= 2"."""
    leaves = tree.leaf_paths()
    shares: dict[TypePath, float] = {}
    for leaf in leaves:
        depths = range(min(MIN_DEPTH, len(leaf)), len(leaf) + 1)
        for depth in depths:
            path = leaf[:depth]
            shares[path] = shares.get(path, 0.0) + 1.0 / len(leaves) / len(depths)
    return shares


class Coverage:
    """The sampler's counts (path -> queries about it) over a tree, and the weights they
    give; ``add`` counts one more query. Copies are independent."""

    def __init__(self, tree: ProblemTree, counts: Mapping[TypePath, int] | None = None) -> None:
        self.tree = tree
        self.counts: Counter[TypePath] = Counter(
            {tuple(p): c for p, c in (counts or {}).items() if c}
        )
        self.shares = target_shares(tree)

    def add(self, path: Sequence[str], count: int = 1) -> None:
        self.counts[tuple(path)] += count

    def copy(self) -> Coverage:
        return Coverage(self.tree, self.counts)

    def on(self, tree: ProblemTree) -> Coverage:
        """The same counts over another (grown) tree."""
        return Coverage(tree, self.counts)

    def weights(self, alpha: float = DEFAULT_ALPHA) -> dict[TypePath, float]:
        """Each path's sampling weight (see the module doc)."""
        paths = len(self.shares)
        return {
            path: share / (self.counts[path] / (share * paths) + 1.0) ** alpha
            for path, share in self.shares.items()
        }


def draw(
    rng: random.Random,
    coverage: Coverage,
    personas: Sequence[Persona],
    *,
    alpha: float = DEFAULT_ALPHA,
    difficulty_mix: Mapping[str, float] = DEFAULT_DIFFICULTY_MIX,
) -> Draw:
    """One persona, path and difficulty; always the same for the same ``rng`` state."""
    weights = coverage.weights(alpha)
    path = rng.choices(list(weights), weights=list(weights.values()))[0]
    asked_by = coverage.tree.asked_by(path[-1])
    fitting = [p for p in personas if not asked_by or p.user_type in asked_by] or list(personas)
    persona = fitting[rng.randrange(len(fitting))]
    difficulty = rng.choices(list(difficulty_mix), weights=list(difficulty_mix.values()))[0]
    return Draw(persona, path, difficulty)
