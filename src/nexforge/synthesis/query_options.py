"""How query generation runs (``QueryOptions``) and what it reports (``QueriesSummary``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nexforge.architect.ask import AskSettings
from nexforge.synthesis.dedup import DEFAULT_THRESHOLD
from nexforge.synthesis.grounding import MAX_READS
from nexforge.synthesis.records import QueryRecord
from nexforge.synthesis.sampler import DEFAULT_ALPHA, DEFAULT_DIFFICULTY_MIX, check_difficulty_mix


@dataclass(frozen=True)
class QueryOptions:
    """Options of ``generate_queries``; the defaults are the CLI's."""

    alpha: float = DEFAULT_ALPHA
    """Inverse-frequency exponent of the path sampler (0: uniform over leaves)."""
    difficulty_mix: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_DIFFICULTY_MIX)
    )
    fit_check: bool = False
    """Ask the model whether each query fits its persona and problem type (rewrite if not).
    Off by default: the blueprint fixes what a query is about and the writer's checks hold
    the text to it; a small model's fit verdicts were noise ("fits: the bike shop is
    currently in a second language") and each one costs a model call."""
    fuzzify: bool = False
    """Rewrite each query vaguer and more human; the precise one goes to ``precise_text``."""
    grow_p: float = 0.0
    """Chance per slot of growing a new problem type under the sampled inner node."""
    dedup_threshold: float = DEFAULT_THRESHOLD
    """Estimated Jaccard similarity (word 2-shingles) at which a query is a near-duplicate."""
    max_attempts: int = 3
    """Attempts per slot before it is given up (recorded as a rejection)."""
    concurrency: int = 4
    """Slots whose model calls may be in flight at once."""
    max_reads: int = MAX_READS
    """Read-only tool calls per query for grounding evidence."""
    ask: AskSettings = field(default_factory=AskSettings)

    def __post_init__(self) -> None:
        check_difficulty_mix(self.difficulty_mix)
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        if not 0 <= self.grow_p <= 1:
            raise ValueError(f"grow_p must be in [0, 1], got {self.grow_p}")
        if not 0 < self.dedup_threshold <= 1:
            raise ValueError(f"dedup_threshold must be in (0, 1], got {self.dedup_threshold}")
        if self.max_attempts < 1 or self.concurrency < 1 or self.max_reads < 1:
            raise ValueError("max_attempts, concurrency and max_reads must be at least 1")


@dataclass
class QueriesSummary:
    """What one ``generate_queries`` call did. ``queries`` are the seed's first ``n``
    accepted queries in slot order (resumed ones included): what ``-o FILE`` writes."""

    framework: str
    framework_hash: str
    seed: int
    requested: int
    queries: list[QueryRecord] = field(default_factory=list)
    new: int = 0
    """Accepted by this call (the rest were already in the store)."""
    rejected: dict[str, int] = field(default_factory=dict)
    """Rejected attempts of this call by kind: near_duplicate, stage_failed, no_evidence..."""
    given_up: int = 0
    """Slots given up by this call after ``max_attempts`` rejected attempts."""
    grown: int = 0
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    @property
    def accepted(self) -> int:
        return len(self.queries)

    def to_dict(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "framework_hash": self.framework_hash,
            "seed": self.seed,
            "requested": self.requested,
            "accepted": self.accepted,
            "new": self.new,
            "rejected": dict(self.rejected),
            "given_up": self.given_up,
            "grown": self.grown,
            "model_calls": self.model_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 3),
        }
