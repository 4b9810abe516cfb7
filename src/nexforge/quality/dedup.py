"""Stage 6, dedup: near-duplicate trajectories (MinHash over a canonical text, LSH lookup).

A trajectory's canonical text is its query, every call (name and arguments) of every
episode, and its final answer: what it did, not how the model phrased its thinking. The
candidates are the rollouts that passed structure, tool validity, behaviour, query, answer
and grounded verification; in stable store order the first of a near-duplicate group is
kept and each later one fails. Every other rollout is then compared with the kept ones
only, so its verdict says whether it repeats data that will be exported.

Being a property of the whole store, it is recomputed over all rollouts on every run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from nexforge.core.trajectory import Trajectory
from nexforge.quality.policy import DEDUP
from nexforge.synthesis.dedup import MinHasher, NearDuplicateIndex, Signature
from nexforge.synthesis.records import Verdict

DEFAULT_THRESHOLD = 0.9


def canonical_text(trajectory: Trajectory) -> str:
    parts = [trajectory.query]
    for episode in trajectory.episodes:
        for message in episode.messages:
            for call in message.tool_calls:
                arguments = call.invalid_arguments or json.dumps(
                    call.arguments, sort_keys=True, ensure_ascii=False
                )
                parts.append(f"{call.name} {arguments}")
    parts.append(trajectory.final_output or "")
    return "\n".join(parts)


@dataclass(frozen=True)
class DedupEntry:
    """One rollout as dedup sees it."""

    rollout_key: str
    signature: Signature | None
    """None when there is no trajectory, or its canonical text has no words."""
    candidate: bool
    """It passed the earlier stages, so it may be kept."""


def dedup_entry(
    rollout_key: str, trajectory: Trajectory | None, *, candidate: bool, hasher: MinHasher
) -> DedupEntry:
    text = None if trajectory is None else canonical_text(trajectory)
    return DedupEntry(rollout_key, hasher.signature(text) if text else None, candidate)


def dedup_verdicts(
    entries: Sequence[DedupEntry], threshold: float = DEFAULT_THRESHOLD
) -> list[Verdict]:
    """One verdict per entry (``entries`` in store order), in that order."""
    index = NearDuplicateIndex(threshold)
    found: dict[str, Verdict] = {}
    for entry in entries:
        if entry.candidate:
            nearest = index.nearest(entry.signature)
            found[entry.rollout_key] = _verdict(entry, nearest)
            if nearest is None:  # only kept rollouts are compared against
                index.add(entry.rollout_key, entry.signature)
    for entry in entries:
        if not entry.candidate:
            found[entry.rollout_key] = _verdict(entry, index.nearest(entry.signature))
    return [found[entry.rollout_key] for entry in entries]


def _verdict(entry: DedupEntry, nearest: tuple[str, float] | None) -> Verdict:
    detail: dict[str, object] = {"candidate": entry.candidate}
    if entry.signature is None:
        return Verdict(
            rollout_key=entry.rollout_key,
            stage=DEDUP,
            passed=True,
            reason="nothing to compare (no trajectory or no words)",
            detail=detail,
        )
    if nearest is None:
        return Verdict(rollout_key=entry.rollout_key, stage=DEDUP, passed=True, detail=detail)
    key, similarity = nearest
    return Verdict(
        rollout_key=entry.rollout_key,
        stage=DEDUP,
        passed=False,
        reason=f"near-duplicate of {key} (J~{similarity:.2f})",
        detail={
            **detail,
            "problems": ["near-duplicate"],
            "duplicate_of": key,
            "similarity": round(similarity, 4),
        },
    )
