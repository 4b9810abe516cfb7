"""Where an exported sample came from: run, query, episode, verdicts (one dict per sample)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nexforge.core.trajectory import Episode, Trajectory
from nexforge.quality.policy import recovered_turns, rollout_level
from nexforge.quality.turns import turns
from nexforge.synthesis.records import QueryRecord, RolloutRecord, Verdict


class RolloutProvenance:
    """What every sample of one rollout shares, and the per-episode part on top of it."""

    def __init__(
        self, record: RolloutRecord, query: QueryRecord | None, verdicts: Sequence[Verdict]
    ) -> None:
        trajectory = _trajectory(record)
        self._shared: dict[str, Any] = {
            "run_id": trajectory.run_id,
            "rollout_key": record.key,
            "query_key": record.query_key,
            "sample": record.sample,
            "framework": trajectory.framework,
            "framework_hash": record.provenance.framework_hash,
            "query": _query_meta(query, trajectory),
            "verdicts": {
                stage: {"passed": v.passed, "score": v.score, "reason": v.reason}
                for stage, v in rollout_level(verdicts).items()
            },
        }
        recovered = set(recovered_turns(verdicts))
        self._recovered: dict[str, list[int]] = {}
        self.turn_of: dict[tuple[str, int], int] = {}
        """(episode id, message index) -> turn number (see ``quality.turns``)."""
        for ref in turns(trajectory):
            self.turn_of[(ref.episode.episode_id, ref.message_index)] = ref.turn
            if ref.turn in recovered:
                self._recovered.setdefault(ref.episode.episode_id, []).append(ref.turn)

    def for_episode(self, episode: Episode) -> dict[str, Any]:
        return {
            **self._shared,
            "episode_id": episode.episode_id,
            "parent_episode_id": episode.parent_episode_id,
            "parent_tool_call_id": episode.parent_tool_call_id,
            "agent": episode.agent,
            "model": episode.model,
            "tool_call_format": episode.tool_call_format,
            "recovered_turns": self._recovered.get(episode.episode_id, []),
        }


def _trajectory(record: RolloutRecord) -> Trajectory:
    if record.trajectory is None:
        raise ValueError(f"rollout {record.key} has no trajectory to export")
    return record.trajectory


def _query_meta(query: QueryRecord | None, trajectory: Trajectory) -> dict[str, Any]:
    if query is not None:
        return {
            "persona": query.persona,
            "path": list(query.path),
            "path_labels": list(query.path_labels),
            "difficulty": query.difficulty,
        }
    # A rollout whose query record is gone still knows what the runner put in its meta.
    meta = trajectory.query_meta
    return {
        "persona": meta.get("persona"),
        "path": meta.get("path", []),
        "path_labels": meta.get("path_labels", []),
        "difficulty": meta.get("difficulty"),
    }
