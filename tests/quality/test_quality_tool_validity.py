"""Stage 2, tool validity: offered tools, schema-valid arguments, recovered mistakes kept."""

from __future__ import annotations

from quality_builders import (
    GET_ORDER,
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

from nexforge.core.messages import Message, ToolCall
from nexforge.quality.policy import decide, recovered_turns
from nexforge.quality.structure import check_structure
from nexforge.quality.tool_validity import check_tool_validity
from nexforge.synthesis.records import Verdict


def split(verdicts: list[Verdict]) -> tuple[Verdict, list[Verdict]]:
    (top,) = [v for v in verdicts if v.turn is None]
    return top, [v for v in verdicts if v.turn is not None]


def test_valid_calls_of_offered_tools_pass() -> None:
    top, turns = split(check_tool_validity(rollout(good_trajectory())))
    assert (top.passed, top.reason, turns) == (True, "", [])


def test_a_tool_the_episode_did_not_offer_fails_an_unfinished_run() -> None:
    messages = [Message.user("cancel 1003"), asks(tool_call("c1", "delete_order", order_id=1003))]
    traj = trajectory(episode(*messages), final=None, stop_reason="max_steps")
    top, turns = split(check_tool_validity(rollout(traj)))
    assert not top.passed
    assert top.detail["problems"] == ["unknown tool"]
    assert "turn 0 delete_order: no tool 'delete_order' was offered" in top.reason
    assert [(t.turn, t.detail["recovered"]) for t in turns] == [(0, False)]


def test_a_tool_offered_to_another_episode_is_not_offered_here() -> None:
    messages = [Message.user("q"), asks(tool_call("c1", "cancel_order", order_id=1, reason="x"))]
    reader = episode(*messages, tools=[GET_ORDER])
    top, _ = split(check_tool_validity(rollout(trajectory(reader, final="", stop_reason="error"))))
    assert "no tool 'cancel_order' was offered (offered: get_order)" in top.reason


def test_arguments_against_the_schema_fail_with_the_validator_message() -> None:
    cases = {
        "missing required argument 'order_id'": {},
        "'1003' is not of type 'integer'": {"order_id": "1003"},
        "unexpected argument 'force'": {"order_id": 1003, "force": True},
    }
    for message, arguments in cases.items():
        call = ToolCall(id="c1", name="get_order", arguments=arguments)
        traj = trajectory(episode(Message.user("q"), asks(call)), final="", stop_reason="timeout")
        top, turns = split(check_tool_validity(rollout(traj)))
        assert not top.passed
        assert message in top.reason
        assert turns[0].detail["problems"] == ["invalid arguments"]


def test_arguments_that_were_not_json_fail() -> None:
    call = ToolCall(id="c1", name="get_order", invalid_arguments='{"order_id": 10')
    traj = trajectory(episode(Message.user("q"), asks(call)), final="", stop_reason="error")
    top, _ = split(check_tool_validity(rollout(traj)))
    assert top.detail["problems"] == ["undecodable arguments"]
    assert "arguments are not valid JSON" in top.reason


def test_a_bad_call_corrected_later_in_the_episode_is_recovered_and_kept() -> None:
    messages = good_messages()
    messages[1:1] = [
        asks(tool_call("c0", "get_order", order_id="1003")),
        result(
            "c0", "get_order", "argument 'order_id': '1003' is not of type 'integer'", error=True
        ),
    ]
    # the run never answered, so only the later valid get_order call recovers the mistake
    traj = trajectory(episode(*messages[:-1]), final="", stop_reason="max_steps")
    verdicts = check_tool_validity(rollout(traj))
    top, turns = split(verdicts)
    assert top.passed
    assert top.reason == "1 invalid call, all recovered"
    assert [(t.turn, t.passed, t.detail["recovered"]) for t in turns] == [(0, False, True)]
    assert turns[0].reason == "get_order: argument 'order_id': '1003' is not of type 'integer'"
    assert recovered_turns(verdicts) == [0]


def test_a_run_that_completed_after_the_error_recovered_from_it() -> None:
    messages = [
        Message.user("What is in order 1003?"),
        asks(tool_call("c1", "lookup_order", id=1003)),
        result("c1", "lookup_order", "unknown tool lookup_order", error=True),
        says("I could not look the order up; please call the shop."),
    ]
    top, turns = split(check_tool_validity(rollout(trajectory(episode(*messages)))))
    assert top.passed
    assert turns[0].detail == {
        "recovered": True,
        "episode": "e1",
        "calls": ["c1"],
        "problems": ["unknown tool"],
    }


def test_an_unrecovered_call_fails_the_rollout_and_export_says_why() -> None:
    messages = [Message.user("cancel 1003"), asks(tool_call("c1", "cancel_order", order_id=1003))]
    traj = trajectory(episode(*messages), final="", stop_reason="timeout")
    verdicts = check_tool_validity(rollout(traj))
    top, _ = split(verdicts)
    assert top.detail["unrecovered_turns"] == [0]
    # even RL data, which keeps failed runs, needs valid calls
    decision = decide([*check_structure(rollout(traj)), *verdicts], keep_failures=True)
    assert decision.reason == (
        "tool_validity: unrecovered invalid call: "
        "turn 0 cancel_order: missing required argument 'reason'"
    )


def test_bad_calls_of_one_turn_share_one_turn_verdict() -> None:
    messages = [
        Message.user("q"),
        asks(tool_call("a", "get_order"), tool_call("b", "nope")),
        result("a", "get_order", "bad", error=True),
        result("b", "nope", "bad", error=True),
        says("Sorry."),
    ]
    _, turns = split(check_tool_validity(rollout(trajectory(episode(*messages)))))
    assert len(turns) == 1
    assert turns[0].detail["calls"] == ["a", "b"]
    assert turns[0].detail["problems"] == ["invalid arguments", "unknown tool"]


def test_no_trajectory_fails() -> None:
    top, _ = split(check_tool_validity(rollout(None, status="failed", error="boom")))
    assert (top.passed, top.reason) == (False, "no trajectory")
