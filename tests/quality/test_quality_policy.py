"""The export policy: which verified rollouts become training data, and their reward."""

from __future__ import annotations

from nexforge.quality.policy import decide, recovered_turns, reward
from nexforge.synthesis.records import Verdict


def verdict(stage: str, passed: bool = True, **extra: object) -> Verdict:
    return Verdict(rollout_key="r", stage=stage, passed=passed, **extra)  # type: ignore[arg-type]


CLEAN = [verdict(s) for s in ("structure", "tool_validity", "behaviour", "dedup")]


def test_an_unverified_rollout_is_dropped_and_has_no_reward() -> None:
    assert decide([]).reason == (
        "not verified (structure, tool_validity, behaviour, dedup): run `nexforge verify`"
    )
    assert reward([]) is None
    assert reward(CLEAN[:2]) is None
    assert decide([], "none").keep


def test_a_clean_rollout_is_kept_with_full_reward() -> None:
    assert decide(CLEAN).keep
    assert reward(CLEAN) == 1.0


def test_a_failed_stage_drops_the_rollout_with_its_reason_and_zero_reward() -> None:
    failed = [*CLEAN[:2], verdict("behaviour", False, reason="loop: x called 3 times"), CLEAN[3]]
    decision = decide(failed)
    assert not decision.keep and decision.reason == "behaviour: loop: x called 3 times"
    assert reward(failed) == 0.0
    grounded = [*CLEAN, verdict("grounded", False, reason="the end state differs")]
    assert decide(grounded).reason == "grounded: the end state differs"
    assert reward(grounded) == 0.0


def test_duplicates_are_dropped_for_sft_but_kept_for_rl() -> None:
    duplicate = [*CLEAN[:3], verdict("dedup", False, reason="near-duplicate of k")]
    assert not decide(duplicate).keep
    assert decide(duplicate, keep_failures=True).keep
    assert reward(duplicate) == 1.0


def test_min_score_and_strict_need_the_judge() -> None:
    judged = [*CLEAN, verdict("judge", score=0.7)]
    assert decide(CLEAN, min_score=0.5).reason is not None
    assert decide(judged, min_score=0.8).reason == "judge: score 0.70 < 0.80"
    assert decide(judged, min_score=0.6).keep
    assert reward(judged) == 0.7
    assert decide(CLEAN, "strict").reason is not None
    assert decide(judged, "strict").keep


def test_a_recovered_turn_is_kept_by_default_and_dropped_by_strict() -> None:
    recovered = verdict("behaviour", False, turn=2, detail={"recovered": True})
    judged = [*CLEAN, verdict("judge", score=0.9), recovered]
    assert recovered_turns(judged) == [2]
    assert decide(judged).keep
    assert decide(judged, "strict").reason == (
        "a turn failed (recovered; strict keeps only clean runs)"
    )
