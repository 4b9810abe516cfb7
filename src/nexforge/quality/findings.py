"""What a stage found wrong with a rollout, as a verdict's reason and ``detail["problems"]``.

A reason spells out the first few problems for a reader; ``problems`` holds their kinds
(``loop``, ``orphan result``, ...), each once, so ``stats`` can count failures by kind
instead of by reasons that differ in every rollout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nexforge.synthesis.records import Verdict

MAX_LISTED = 3
"""Problems spelled out in a reason; the rest are counted."""


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def add(self, kind: str, message: str) -> None:
        if kind not in self.problems:
            self.problems.append(kind)
        self.messages.append(message)

    def __bool__(self) -> bool:
        return bool(self.messages)

    @property
    def reason(self) -> str:
        reason = "; ".join(self.messages[:MAX_LISTED])
        if len(self.messages) > MAX_LISTED:
            reason += f" (+{len(self.messages) - MAX_LISTED} more)"
        return reason

    def verdict(self, rollout_key: str, stage: str, **detail: Any) -> Verdict:
        """The rollout-level verdict: passed when nothing was found."""
        if not self:
            return Verdict(rollout_key=rollout_key, stage=stage, passed=True, detail=detail)
        return Verdict(
            rollout_key=rollout_key,
            stage=stage,
            passed=False,
            reason=self.reason,
            detail={"problems": list(self.problems), **detail},
        )


def failure_kinds(verdict: Verdict) -> list[str]:
    """What a failed verdict found, by kind (its reason when it names no kinds)."""
    problems = verdict.detail.get("problems")
    if isinstance(problems, list) and problems:
        return [str(p) for p in problems]
    return [verdict.reason or "failed"]
