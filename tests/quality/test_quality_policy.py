"""The export policy: which verified rollouts become training data, and their reward."""

from __future__ import annotations

from nexforge.quality.policy import NOT_CHECKED, REQUIRED_STAGES, decide, recovered_turns, reward
from nexforge.synthesis.records import Verdict


def verdict(stage: str, passed: bool = True, **extra: object) -> Verdict:
    return Verdict(rollout_key="r", stage=stage, passed=passed, **extra)  # type: ignore[arg-type]


CLEAN = [
    verdict(s)
    for s in ("structure", "tool_validity", "behaviour", "query", "answer", "grounded", "dedup")
]


def replaced(stage: str, by: Verdict) -> list[Verdict]:
    """The clean verdicts with ``stage``'s replaced."""
    return [by if v.stage == stage else v for v in CLEAN]


def test_an_unverified_rollout_is_dropped_and_has_no_reward() -> None:
    assert tuple(v.stage for v in CLEAN) == REQUIRED_STAGES
    assert decide([]).reason == (
        "not verified (structure, tool_validity, behaviour, query, answer, grounded, dedup): "
        "run `nexforge verify`"
    )
    assert reward([]) is None
    assert reward(CLEAN[:2]) is None
    assert decide([], "none").keep


def test_every_required_stage_is_needed_and_a_missing_judging_stage_means_no_reward() -> None:
    for stage in REQUIRED_STAGES:
        without = [v for v in CLEAN if v.stage != stage]
        assert decide(without).reason == f"not verified ({stage}): run `nexforge verify`"
    for stage in ("structure", "tool_validity", "behaviour", "answer", "grounded"):
        assert reward([v for v in CLEAN if v.stage != stage]) is None
    # Neither the query's wording nor duplication is the policy's doing.
    assert reward([v for v in CLEAN if v.stage not in ("query", "dedup")]) == 1.0


def test_a_clean_rollout_is_kept_with_full_reward() -> None:
    assert decide(CLEAN).keep
    assert reward(CLEAN) == 1.0


def test_a_failed_stage_drops_the_rollout_with_its_reason_and_zero_reward() -> None:
    failed = replaced("behaviour", verdict("behaviour", False, reason="loop: x called 3 times"))
    decision = decide(failed)
    assert not decision.keep and decision.reason == "behaviour: loop: x called 3 times"
    assert reward(failed) == 0.0
    grounded = replaced("grounded", verdict("grounded", False, reason="the end state differs"))
    assert decide(grounded).reason == "grounded: the end state differs"
    assert reward(grounded) == 0.0
    answer = replaced("answer", verdict("answer", False, reason="restates the query"))
    assert decide(answer).reason == "answer: restates the query"
    assert reward(answer) == 0.0


def test_a_poor_query_drops_the_rollout_but_keeps_its_reward() -> None:
    poor = replaced("query", verdict("query", False, reason="a list of items, not a request"))
    assert decide(poor).reason == "query: a list of items, not a request"
    assert decide(poor, keep_failures=True).keep
    assert reward(poor) == 1.0


def test_a_not_checked_grounded_verdict_is_never_a_pass_and_earns_no_reward() -> None:
    not_checked = verdict(
        "grounded",
        False,
        reason="not checked: framework desk: /gone is gone (pass --framework DIR)",
        detail={NOT_CHECKED: True, "problems": ["not checked"]},
    )
    unchecked = replaced("grounded", not_checked)
    assert decide(unchecked).reason == (
        "grounded: not checked: framework desk: /gone is gone (pass --framework DIR)"
    )
    assert decide(unchecked, "strict").reason == decide(unchecked).reason
    assert reward(unchecked) is None
    assert reward([*unchecked, verdict("judge", score=0.9)]) is None


def test_duplicates_are_dropped_for_sft_but_kept_for_rl() -> None:
    duplicate = replaced("dedup", verdict("dedup", False, reason="near-duplicate of k"))
    assert decide(duplicate).reason == "dedup: near-duplicate of k"
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
