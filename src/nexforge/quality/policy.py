"""Which verified rollouts become training data, and the reward RL exports carry.

The cascade (``nexforge verify``) stores one rollout-level verdict per stage (``turn`` is
None) and, where a stage looks at single model calls, turn-level verdicts (``turn`` = the
call's ordinal in the trajectory, see ``quality.turns``). A turn-level failure the agent
recovered from carries ``detail["recovered"] = True`` and does not fail its rollout: the
recovery is training signal. This module is the one place that turns verdicts into
"export or not" and into a reward, so ``export``, ``stats`` and the pipeline agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from nexforge.synthesis.records import Verdict

STRUCTURE = "structure"
TOOL_VALIDITY = "tool_validity"
BEHAVIOUR = "behaviour"
QUERY = "query"
ANSWER = "answer"
GROUNDED = "grounded"
JUDGE = "judge"
DEDUP = "dedup"

STAGES: tuple[str, ...] = (
    STRUCTURE,
    TOOL_VALIDITY,
    BEHAVIOUR,
    QUERY,
    ANSWER,
    GROUNDED,
    JUDGE,
    DEDUP,
)
"""Every cascade stage, in the order it runs."""

REQUIRED_STAGES: tuple[str, ...] = tuple(s for s in STAGES if s != JUDGE)
"""Stages a rollout must pass to become training data. Grounded is among them: a rollout
whose expected outcome the cascade could not check holds a ``not checked`` grounded
verdict, and "not checked" is never "passed"."""

NOT_CHECKED = "not_checked"
"""``detail`` flag of a verdict recording that a stage could not judge the rollout (and
why, in its reason); it fails the rollout and is re-tried by every ``verify``."""

WELL_FORMED_STAGES: tuple[str, ...] = (STRUCTURE, TOOL_VALIDITY)
"""What RL data still needs when failures are kept (their reward says they failed)."""

FilterName = Literal["default", "none", "strict"]
FILTERS: tuple[FilterName, ...] = ("default", "none", "strict")


@dataclass(frozen=True)
class Decision:
    """Whether a rollout is exported, and if not, the first reason why."""

    keep: bool
    reason: str | None = None

    @classmethod
    def kept(cls) -> Decision:
        return cls(True)

    @classmethod
    def dropped(cls, reason: str) -> Decision:
        return cls(False, reason)


def rollout_level(verdicts: Sequence[Verdict]) -> dict[str, Verdict]:
    """The rollout-level verdict of each stage that judged the rollout."""
    return {v.stage: v for v in verdicts if v.turn is None}


def recovered_turns(verdicts: Sequence[Verdict]) -> list[int]:
    """Turns that failed a check but were recovered from (tagged in exports)."""
    return sorted(
        {
            v.turn
            for v in verdicts
            if v.turn is not None and not v.passed and v.detail.get("recovered")
        }
    )


def decide(
    verdicts: Sequence[Verdict],
    filter_name: FilterName = "default",
    *,
    min_score: float | None = None,
    keep_failures: bool = False,
) -> Decision:
    """Apply an export filter to one rollout's verdicts.

    - ``none``: everything with a trajectory.
    - ``default``: the required stages (grounded included) ran and passed; with
      ``min_score`` the judge ran and scored at least that.
    - ``strict``: ``default``, and the judge ran and passed, and no turn failed at all
      (not even one that was recovered from).

    ``keep_failures`` (RL data) only requires the well-formedness stages: the reward says
    how good the rollout was, and a group needs its failures.
    """
    if filter_name == "none":
        return Decision.kept()
    if filter_name not in FILTERS:
        raise ValueError(f"unknown filter {filter_name!r}; expected one of: {', '.join(FILTERS)}")
    stages = rollout_level(verdicts)
    needed = WELL_FORMED_STAGES if keep_failures else REQUIRED_STAGES
    missing = [stage for stage in needed if stage not in stages]
    if missing:
        return Decision.dropped(f"not verified ({', '.join(missing)}): run `nexforge verify`")
    for stage in needed:
        verdict = stages.get(stage)
        if verdict is not None and not verdict.passed:
            return Decision.dropped(f"{stage}: {verdict.reason or 'failed'}")
    judge = stages.get(JUDGE)
    if min_score is not None and not keep_failures:
        if judge is None or judge.score is None:
            return Decision.dropped("judge: no score (run `nexforge verify --judge MODEL`)")
        if judge.score < min_score:
            return Decision.dropped(f"judge: score {judge.score:.2f} < {min_score:.2f}")
    if filter_name == "strict" and not keep_failures:
        if judge is None:
            return Decision.dropped("judge: not run (strict needs `nexforge verify --judge MODEL`)")
        if not judge.passed:
            return Decision.dropped(f"judge: {judge.reason or 'failed'}")
        if recovered_turns(verdicts):
            return Decision.dropped("a turn failed (recovered; strict keeps only clean runs)")
    return Decision.kept()


def reward(verdicts: Sequence[Verdict]) -> float | None:
    """The cascade's reward for a rollout, in [0, 1]; None when it was not verified.

    0 when a stage that judges the run (structure, validity, behaviour, answer, grounded)
    failed; otherwise the judge's score when the judge ran, else 1. Duplicates are not
    penalised: a repeated good answer is still a good answer for RL (de-duplication is for
    SFT), and neither is a poorly written query (not the policy's doing). A rollout those
    stages have not judged, or whose grounded check could not run, has no reward (never a
    free 1.0).
    """
    stages = rollout_level(verdicts)
    judged = (STRUCTURE, TOOL_VALIDITY, BEHAVIOUR, ANSWER, GROUNDED)
    if any(stage not in stages for stage in judged):
        return None
    for stage in judged:
        verdict = stages[stage]
        if verdict.detail.get(NOT_CHECKED):
            return None
        if not verdict.passed:
            return 0.0
    judge = stages.get(JUDGE)
    if judge is not None and judge.score is not None:
        return max(0.0, min(1.0, judge.score))
    return 1.0
