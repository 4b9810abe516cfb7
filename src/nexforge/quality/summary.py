"""What one ``nexforge verify`` run did, per stage."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from nexforge.quality.findings import failure_kinds
from nexforge.synthesis.records import Verdict

TOP_REASONS = 5


@dataclass
class StageSummary:
    """One stage's counts for this run.

    ``skipped``: rollouts that already held a verdict from the stage (not redone).
    ``not_checked``: rollouts the stage could not judge, by reason (grounded stores a
    ``not checked`` verdict for them, which fails them and is re-tried by every verify).
    ``reasons``: failures by kind (``detail["problems"]``, else the reason).
    """

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    recovered_turns: int = 0
    not_checked: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    def count(self, verdicts: list[Verdict]) -> None:
        """Count one rollout's verdicts from the stage (the rollout-level one decides)."""
        for verdict in verdicts:
            if verdict.turn is not None:
                self.recovered_turns += bool(not verdict.passed and verdict.detail.get("recovered"))
            elif verdict.passed:
                self.passed += 1
            else:
                self.failed += 1
                self.reasons.update(failure_kinds(verdict))

    @property
    def checked(self) -> int:
        return self.passed + self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "not_checked": sum(self.not_checked.values()),
            "not_checked_reasons": dict(self.not_checked.most_common()),
            "recovered_turns": self.recovered_turns,
            "top_reasons": dict(self.reasons.most_common(TOP_REASONS)),
        }


@dataclass
class CascadeSummary:
    rollouts: int = 0
    stages: dict[str, StageSummary] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rollouts": self.rollouts,
            "seconds": round(self.seconds, 3),
            "stages": {name: stage.to_dict() for name, stage in self.stages.items()},
        }
