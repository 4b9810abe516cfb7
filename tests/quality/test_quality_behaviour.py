"""Stage 3, behaviour: loops, unrecovered error streaks, truncation, abnormal stops."""

from __future__ import annotations

from quality_builders import (
    asks,
    episode,
    good_messages,
    good_trajectory,
    result,
    rollout,
    says,
    tool_call,
    trajectory,
)

from nexforge.core.messages import Message
from nexforge.quality.behaviour import BehaviourLimits, check_behaviour
from nexforge.quality.policy import decide, recovered_turns
from nexforge.quality.structure import check_structure
from nexforge.quality.tool_validity import check_tool_validity
from nexforge.synthesis.records import Verdict


def split(verdicts: list[Verdict]) -> tuple[Verdict, list[Verdict]]:
    (top,) = [v for v in verdicts if v.turn is None]
    assert top.stage == "behaviour"
    return top, [v for v in verdicts if v.turn is not None]


def failing_lookups(n: int, start: int = 0) -> list[Message]:
    messages: list[Message] = []
    for i in range(start, start + n):
        messages.append(asks(tool_call(f"x{i}", "get_order", order_id=9000 + i)))
        messages.append(result(f"x{i}", "get_order", f"no order {9000 + i}", error=True))
    return messages


def test_a_run_that_works_its_way_to_an_answer_passes() -> None:
    top, turns = split(check_behaviour(rollout(good_trajectory())))
    assert (top.passed, top.reason, turns) == (True, "", [])


def test_the_same_call_three_times_is_a_loop() -> None:
    messages = [Message.user("status of 1003?")]
    for i in range(3):
        messages += [
            asks(tool_call(f"l{i}", "get_order", order_id=1003)),
            result(f"l{i}", "get_order", '{"status": "placed"}'),
        ]
    messages.append(says("It is placed."))
    top, _ = split(check_behaviour(rollout(trajectory(episode(*messages)))))
    assert not top.passed
    assert top.detail["problems"] == ["loop"]
    assert top.reason == 'loop: get_order({"order_id": 1003}) called 3 times in episode e1 (desk)'
    relaxed = check_behaviour(
        rollout(trajectory(episode(*messages))), BehaviourLimits(loop_repeats=4)
    )
    assert split(relaxed)[0].passed


def test_an_error_streak_without_a_success_after_it_fails() -> None:
    messages = [Message.user("find my order"), *failing_lookups(3), says("I could not find it.")]
    top, turns = split(check_behaviour(rollout(trajectory(episode(*messages)))))
    assert not top.passed
    assert top.detail["problems"] == ["error streak"]
    assert "error streak: 3 failed tool results in a row in episode e1 (desk)" in top.reason
    assert [(t.turn, t.detail["recovered"]) for t in turns] == [(0, False), (1, False), (2, False)]


def test_errors_followed_by_a_success_are_recovered_turns_and_the_rollout_passes() -> None:
    messages = [Message.user("cancel my order"), *failing_lookups(4), *good_messages()[1:]]
    verdicts = check_behaviour(rollout(trajectory(episode(*messages))))
    top, turns = split(verdicts)
    assert top.passed
    assert all(t.passed is False and t.detail["recovered"] for t in turns)
    assert recovered_turns(verdicts) == [0, 1, 2, 3]
    assert turns[0].reason == "error result from get_order"


def test_a_refusal_the_agent_explains_is_recovered() -> None:
    messages = [
        Message.user("cancel order 1001"),
        asks(tool_call("c1", "cancel_order", order_id=1001, reason="asked")),
        result("c1", "cancel_order", "order 1001 has shipped: it cannot be cancelled", error=True),
        says("Order 1001 has already shipped, so it cannot be cancelled; return it in store."),
    ]
    top, turns = split(check_behaviour(rollout(trajectory(episode(*messages)))))
    assert top.passed
    assert turns[0].detail["recovered"] is True


def test_a_run_stopped_by_a_limit_fails_with_its_stop_reason() -> None:
    messages = good_messages()[:5]  # the cancel result came back; no answer followed
    traj = trajectory(episode(*messages), final=None, stop_reason="max_steps")
    top, _ = split(check_behaviour(rollout(traj)))
    assert top.detail["problems"] == ["stopped: max_steps", "truncated"]
    assert top.reason == "stopped: max_steps; truncated: no final answer"


def test_calls_without_results_at_the_end_are_truncation() -> None:
    messages = good_messages()[:4]
    traj = trajectory(episode(*messages), final="Cancelling now.")
    top, _ = split(check_behaviour(rollout(traj)))
    assert top.reason == (
        "truncated: the last turn of episode e1 (desk) called cancel_order and got no result"
    )


def test_a_failed_rollout_and_an_unfinished_run_fail() -> None:
    failed = rollout(good_trajectory(), status="failed", error="rollout timed out after 900 s")
    top, _ = split(check_behaviour(failed))
    assert top.reason.startswith("rollout failed: rollout timed out after 900 s")

    unfinished = trajectory(episode(*good_messages()), stop_reason=None)
    top, _ = split(check_behaviour(rollout(unfinished)))
    assert top.detail["problems"] == ["no stop reason"]


def test_errors_of_a_run_that_did_not_complete_are_not_recovered() -> None:
    messages = [Message.user("find my order"), *failing_lookups(1)]
    traj = trajectory(episode(*messages), final=None, stop_reason="timeout")
    verdicts = check_behaviour(rollout(traj))
    _, turns = split(verdicts)
    assert turns[0].detail["recovered"] is False
    assert recovered_turns(verdicts) == []


def test_the_streak_counts_per_episode() -> None:
    root = episode(
        Message.user("refund 1003"),
        asks(tool_call("d1", "billing", task="refund 1003")),
        result("d1", "billing", "refund 77 issued"),
        says("Refund 77 is issued."),
    )
    child = episode(
        Message.user("refund 1003"),
        *failing_lookups(3),
        says("gave up"),
        episode_id="e2",
        agent="billing",
        parent=("e1", "d1"),
    )
    top, turns = split(check_behaviour(rollout(trajectory(root, child))))
    assert "in episode e2 (billing)" in top.reason
    assert [t.detail["episode"] for t in turns] == ["e2", "e2", "e2"]
    assert [t.turn for t in turns] == [2, 3, 4]  # the root's turns come first


def test_recovered_error_turns_are_kept_by_default_and_dropped_by_strict() -> None:
    messages = [Message.user("cancel my order"), *failing_lookups(1), *good_messages()[1:]]
    record = rollout(trajectory(episode(*messages)))
    verdicts = [*check_structure(record), *check_tool_validity(record), *check_behaviour(record)]
    verdicts += [
        Verdict(rollout_key="r-1", stage=stage, passed=True)
        for stage in ("query", "answer", "grounded", "dedup")
    ]
    verdicts.append(Verdict(rollout_key="r-1", stage="judge", passed=True, score=0.9))
    assert decide(verdicts).keep
    strict = decide(verdicts, "strict")
    assert (strict.keep, strict.reason) == (
        False,
        "a turn failed (recovered; strict keeps only clean runs)",
    )
