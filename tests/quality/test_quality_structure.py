"""Stage 1, structure: role order, one result per call, no empty turns, linked sub-agents."""

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
from nexforge.quality.structure import check_structure
from nexforge.synthesis.records import Verdict


def rollout_verdict(verdicts: list[Verdict]) -> Verdict:
    (verdict,) = [v for v in verdicts if v.turn is None]
    assert verdict.stage == "structure"
    return verdict


def test_a_well_formed_run_with_a_sub_agent_passes() -> None:
    root = episode(
        Message.user("Refund order 1003"),
        asks(tool_call("c1", "billing", task="refund order 1003")),
        result("c1", "billing", "refund 77 issued"),
        says("Refund 77 is issued."),
    )
    child = episode(*good_messages("refund order 1003"), episode_id="e2", parent=("e1", "c1"))
    verdicts = check_structure(rollout(trajectory(root, child)))
    assert verdicts == [Verdict(rollout_key="r-1", stage="structure", passed=True)]


def test_parallel_calls_may_be_answered_in_any_order() -> None:
    messages = [
        Message.user("Status of 1003 and 1004?"),
        asks(
            tool_call("a", "get_order", order_id=1003), tool_call("b", "get_order", order_id=1004)
        ),
        result("b", "get_order", "{}"),
        result("a", "get_order", "{}"),
        says("Both are placed."),
    ]
    assert rollout_verdict(check_structure(rollout(trajectory(episode(*messages))))).passed


def test_a_result_for_a_call_that_was_never_made_fails() -> None:
    messages = good_messages()
    messages.insert(3, result("c9", "get_order", "{}"))
    verdict = rollout_verdict(check_structure(rollout(trajectory(episode(*messages)))))
    assert not verdict.passed
    assert verdict.detail["problems"] == ["orphan result"]
    assert "result for call c9, which was never made" in verdict.reason


def test_a_second_result_for_one_call_fails() -> None:
    messages = good_messages()
    messages.insert(3, result("c1", "get_order", "{}"))
    verdict = rollout_verdict(check_structure(rollout(trajectory(episode(*messages)))))
    assert verdict.detail["problems"] == ["duplicate result"]
    assert "a second result for call c1" in verdict.reason


def test_a_call_whose_result_never_came_before_the_next_turn_fails() -> None:
    messages = good_messages()
    del messages[2]  # the result of c1; the next assistant turn follows the call directly
    verdict = rollout_verdict(check_structure(rollout(trajectory(episode(*messages)))))
    assert verdict.detail["problems"] == ["unanswered call", "role order"]
    assert "assistant turn before the results of get_order (c1)" in verdict.reason


def test_calls_left_unanswered_at_the_very_end_are_truncation_not_a_structural_fault() -> None:
    messages = good_messages()[:4]  # ends with the cancel_order call
    traj = trajectory(episode(*messages), final="", stop_reason="timeout")
    assert rollout_verdict(check_structure(rollout(traj))).passed


def test_roles_out_of_order_fail() -> None:
    two_users = [Message.user("hi"), *good_messages()]
    verdict = rollout_verdict(check_structure(rollout(trajectory(episode(*two_users)))))
    assert verdict.detail["problems"] == ["role order"]
    assert "user turn after a user message" in verdict.reason

    two_answers = [*good_messages(), says("Anything else?")]
    verdict = rollout_verdict(check_structure(rollout(trajectory(episode(*two_answers)))))
    assert "assistant turn after assistant" in verdict.reason

    late_system = [*good_messages(), Message.system("new rules")]
    verdict = rollout_verdict(check_structure(rollout(trajectory(episode(*late_system)))))
    assert "a system message after the start" in verdict.reason


def test_an_empty_assistant_turn_fails_and_is_pointed_at() -> None:
    messages = good_messages()
    messages[-1] = Message.assistant(" ")
    traj = trajectory(episode(*messages), final="done")
    verdicts = check_structure(rollout(traj))
    assert rollout_verdict(verdicts).detail["problems"] == ["empty turn"]
    (turn,) = [v for v in verdicts if v.turn is not None]
    assert (turn.turn, turn.passed, turn.detail["recovered"]) == (2, False, False)


def test_reasoning_alone_is_not_an_empty_turn() -> None:
    messages = good_messages()
    messages[-1] = Message.assistant(None, reasoning="The order is cancelled.")
    traj = trajectory(episode(*messages), final="x")
    assert rollout_verdict(check_structure(rollout(traj))).passed


def test_a_sub_agent_episode_must_hang_off_an_existing_call() -> None:
    root = episode(*good_messages())
    no_parent = episode(*good_messages(), episode_id="e2", parent=("e9", "c1"))
    verdict = rollout_verdict(check_structure(rollout(trajectory(root, no_parent))))
    assert verdict.detail["problems"] == ["orphan episode"]
    assert "names parent e9: no such episode" in verdict.reason

    no_call = episode(*good_messages(), episode_id="e2", parent=("e1", "c7"))
    verdict = rollout_verdict(check_structure(rollout(trajectory(root, no_call))))
    assert "names call c7 of e1: no such call" in verdict.reason


def test_a_rollout_without_a_trajectory_fails_with_its_error() -> None:
    verdict = rollout_verdict(
        check_structure(rollout(None, status="failed", error="HTTP 500: server error"))
    )
    assert verdict.reason == "no trajectory (rollout failed: HTTP 500: server error)"


def test_many_problems_are_counted_beyond_the_first_three() -> None:
    messages = [Message.user("q"), *(result(f"x{i}", "get_order", "{}") for i in range(5))]
    verdict = rollout_verdict(check_structure(rollout(trajectory(episode(*messages), final="x"))))
    assert verdict.reason.endswith("(+2 more)")


def test_the_good_trajectory_of_the_builders_passes() -> None:
    assert rollout_verdict(check_structure(rollout(good_trajectory()))).passed
