"""Multi-turn rollouts: a simulated user (a persona with private facts) talks to the agent."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from nexforge.architect.ask import AskSettings
from nexforge.core.errors import ModelError
from nexforge.core.messages import Message
from nexforge.models.base import Model, ModelRequest, NamedToolChoice
from nexforge.runtime.agent import Agent
from nexforge.runtime.config.framework import load_framework
from nexforge.runtime.limits import Limits
from nexforge.synthesis.records import QueryRecord, UserSide
from nexforge.synthesis.simulated_user import UserTurn
from nexforge.synthesis.user_sim import continue_with_user, run_with_user
from nexforge.testing import ScriptedModel, call, say
from nexforge.tools import tool_from_function

SUBMIT = "submit_user_turn"
QUERY = QueryRecord(
    text="Where is my helmet order?",
    persona={"id": "p1", "name": "Dana Holt", "background": "a courier in Oslo", "style": "terse"},
    user=UserSide(goal="Learn whether the helmet order has shipped", facts=["order number 1004"]),
)


def order_status(order_id: int) -> dict[str, Any]:
    """The status of an order.

    Args:
        order_id: The order number.
    """
    return {"order_id": order_id, "status": "shipped", "carrier_ref": "TRK-77"}


def desk(max_steps: int = 6) -> Agent:
    return Agent(
        name="desk",
        system_prompt="You answer order questions.",
        tools=[tool_from_function(order_status)],
        limits=Limits(max_steps=max_steps),
    )


def user_says(*rules: tuple[str, str, str]) -> ScriptedModel:
    """A user model answering the agent's last message: (text it contains, message, status)."""

    def respond(request: ModelRequest) -> Message:
        assert request.tool_choice == NamedToolChoice(name=SUBMIT)
        heard = request.messages[-1].content or ""
        for needle, message, status in rules:
            if needle in heard:
                return call(SUBMIT, message=message, status=status)
        raise AssertionError(f"the user did not expect {heard!r}")

    return ScriptedModel(respond, name="user-sim")


def spoken(result_messages: list[Message]) -> list[tuple[str, str]]:
    """The visible conversation: user messages and the assistant's final replies."""
    return [
        (m.role, m.content or "")
        for m in result_messages
        if m.role == "user" or (m.role == "assistant" and not m.tool_calls)
    ]


async def test_the_agent_asks_for_the_order_number_and_the_user_reveals_it() -> None:
    agent_model = ScriptedModel(
        [
            say("Could you tell me your order number?"),
            call("order_status", order_id=1004),
            say("Order 1004 has shipped (tracking TRK-77)."),
        ]
    )
    user_model = user_says(
        ("order number?", "It is order 1004.", "continue"),
        ("has shipped", "Great, thanks.", "goal_met"),
    )
    with agent_model:
        result = await run_with_user(
            desk(), QUERY, model=agent_model, user_model=user_model, run_id="r1"
        )

    assert (result.status, result.turns, result.stop_reason) == ("goal_met", 2, "completed")
    assert result.final_output == "Order 1004 has shipped (tracking TRK-77)."
    root = result.trajectory.root_episode()
    assert spoken(root.messages) == [
        ("user", "Where is my helmet order?"),
        ("assistant", "Could you tell me your order number?"),
        ("user", "It is order 1004."),
        ("assistant", "Order 1004 has shipped (tracking TRK-77)."),
    ]
    assert [m.role for m in root.messages] == [
        *("system", "user", "assistant", "user", "assistant", "tool", "assistant")
    ]
    assert "1004" not in QUERY.text and "1004" in (root.messages[3].content or "")
    assert result.user_turns == [
        UserTurn("It is order 1004.", "continue"),
        UserTurn("Great, thanks.", "goal_met"),
    ]
    assert (result.usage.model_calls, result.usage.tool_calls, result.steps) == (3, 1, 3)
    assert result.user_usage.model_calls == 2 and result.user_usage.prompt_tokens > 0
    assert result.trajectory.usage.model_calls == 3  # the simulator's calls are not the agent's
    assert result.trajectory.query_meta["user_sim"] == {
        "status": "goal_met",
        "turns": 2,
        "model": "user-sim",
        "reason": None,
        "usage": result.user_usage.model_dump(),
    }


async def test_the_simulator_plays_the_persona_and_sees_only_the_spoken_conversation() -> None:
    agent_model = ScriptedModel(
        [say("Your order number, please?"), call("order_status", order_id=1004), say("Shipped.")]
    )
    user_model = user_says(
        ("order number", "1004.", "continue"), ("Shipped", "Thanks.", "goal_met")
    )
    await run_with_user(desk(), QUERY, model=agent_model, user_model=user_model)

    first, second = user_model.requests
    system = first.messages[0]
    assert system.role == "system"
    for part in ("Dana Holt", "a courier in Oslo", "helmet order has shipped", "order number 1004"):
        assert part in (system.content or "")
    assert "only when the assistant asks" in (system.content or "")
    assert [(m.role, m.content) for m in second.messages[1:]] == [
        ("user", "(You are connected to the assistant. Write your first message.)"),
        ("assistant", "Where is my helmet order?"),
        ("user", "Your order number, please?"),
        ("assistant", "1004."),
        ("user", "Shipped."),
    ]
    seen = [m for request in user_model.requests for m in request.messages]
    assert not any(m.tool_calls or m.role == "tool" for m in seen)
    assert not any("TRK-77" in (m.content or "") for m in seen)


async def test_the_user_abandons_when_the_agent_cannot_help() -> None:
    agent_model = ScriptedModel([say("Sorry, I cannot look up orders today.")])
    user_model = user_says(("cannot", "Never mind then.", "abandoned"))
    result = await run_with_user(desk(), QUERY, model=agent_model, user_model=user_model)

    assert (result.status, result.turns) == ("abandoned", 1)
    assert result.user_turns == [UserTurn("Never mind then.", "abandoned")]
    root = result.trajectory.root_episode()
    assert [m.content for m in root.messages if m.role == "user"] == [QUERY.text]


async def test_the_conversation_stops_after_max_turns() -> None:
    asked = itertools.count(1)
    agent_model = ScriptedModel(lambda _: say(f"Question {next(asked)}: anything else?"))
    user_model = user_says(("anything else", "Something else.", "continue"))
    result = await run_with_user(
        desk(), QUERY, model=agent_model, user_model=user_model, max_turns=3
    )

    assert (result.status, result.turns, result.final_output) == (
        "max_turns",
        3,
        "Question 3: anything else?",
    )
    assert len(agent_model.requests) == 3 and len(user_model.requests) == 3
    root = result.trajectory.root_episode()
    assert [m.content for m in root.messages if m.role == "user"] == [
        QUERY.text,
        "Something else.",
        "Something else.",
    ]
    assert result.trajectory.query_meta["user_sim"]["status"] == "max_turns"


async def test_an_agent_turn_that_hits_its_step_limit_ends_the_conversation() -> None:
    agent_model = ScriptedModel(
        [
            say("Which order number?"),
            call("order_status", order_id=1004),
            call("order_status", order_id=1004),
        ]
    )
    user_model = user_says(("order number", "1004", "continue"))
    with agent_model:
        result = await run_with_user(
            desk(max_steps=2), QUERY, model=agent_model, user_model=user_model
        )

    assert (result.status, result.stop_reason, result.turns) == ("agent_stopped", "max_steps", 2)
    assert result.reason == "agent stopped: max_steps" and result.final_output is None
    assert len(user_model.requests) == 1
    assert result.trajectory.query_meta["user_sim"]["reason"] == "agent stopped: max_steps"


async def test_an_agent_model_error_is_recorded_as_the_runtime_records_it() -> None:
    def broken(request: ModelRequest) -> Message:
        raise ModelError("upstream 503")

    user_model = ScriptedModel([])
    result = await run_with_user(desk(), QUERY, model=ScriptedModel(broken), user_model=user_model)

    assert (result.status, result.stop_reason, result.turns) == ("agent_stopped", "error", 1)
    assert result.error is not None and "upstream 503" in result.error
    assert result.reason is not None and "upstream 503" in result.reason
    assert result.trajectory.stop_reason == "error" and not user_model.requests


async def test_a_failing_simulator_ends_the_conversation_and_keeps_the_trajectory() -> None:
    agent_model = ScriptedModel([say("Which order number?")])
    user_model = ScriptedModel(lambda _: call(SUBMIT, message=" ", status="continue"))
    result = await run_with_user(
        desk(),
        QUERY,
        model=agent_model,
        user_model=user_model,
        settings=AskSettings(max_repairs=1),
    )

    assert (result.status, result.turns, result.user_turns) == ("user_sim_failed", 1, [])
    assert result.reason is not None and "'user_turn' failed" in result.reason
    assert "message is empty" in result.reason
    repair = user_model.requests[1].messages[-1]
    assert repair.role == "tool" and "message is empty" in (repair.content or "")
    assert result.user_usage.model_calls == 2
    assert spoken(result.trajectory.root_episode().messages) == [
        ("user", QUERY.text),
        ("assistant", "Which order number?"),
    ]
    meta = result.trajectory.query_meta["user_sim"]
    assert meta["status"] == "user_sim_failed" and "message is empty" in meta["reason"]


async def test_continue_with_user_drives_a_conversation_the_caller_owns() -> None:
    agent_model = ScriptedModel(
        [say("Order number?"), call("order_status", order_id=1004), say("It has shipped.")]
    )
    user_model = user_says(("Order number", "1004", "continue"), ("shipped", "Ok.", "goal_met"))
    async with desk().conversation(model=agent_model, query_meta={"sample": 0}) as conversation:
        result = await continue_with_user(conversation, QUERY, user_model=user_model)
        assert result.trajectory is conversation.trajectory

    assert (result.stop_reason, result.final_output) == ("completed", "It has shipped.")
    assert (result.steps, result.usage.model_calls, result.usage.tool_calls) == (3, 3, 1)
    meta = result.trajectory.query_meta
    assert meta["sample"] == 0 and meta["user_sim"]["status"] == "goal_met"
    assert meta["user_sim"]["usage"]["model_calls"] == 2


async def test_a_conversation_cut_short_is_recorded_as_interrupted() -> None:
    async def slow(request: ModelRequest) -> Message:
        await asyncio.sleep(60)
        raise AssertionError("unreachable")

    agent_model = ScriptedModel([say("Order number?")])
    async with desk().conversation(model=agent_model) as conversation:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await continue_with_user(conversation, QUERY, user_model=ScriptedModel(slow))

    meta = conversation.trajectory.query_meta["user_sim"]
    assert (meta["status"], meta["turns"]) == ("interrupted", 1)
    assert "CancelledError" in meta["reason"]


async def test_max_turns_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_turns"):
        await run_with_user(
            desk(), QUERY, model=ScriptedModel([]), user_model=ScriptedModel([]), max_turns=0
        )


SHOP_QUERY = QueryRecord(
    text="What customer tier am I on?",
    persona={"name": "Chloé Martin", "background": "a cyclist in Oslo"},
    user=UserSide(goal="Learn your customer tier", facts=["email chloe@example.com"]),
)


async def test_the_shop_lead_reads_the_real_database_between_user_turns(shop_dir: Path) -> None:
    framework = load_framework(shop_dir)
    wrapped: list[str] = []

    def wrap(model: Model) -> Model:
        wrapped.append(model.name)
        return model

    agent_model = ScriptedModel(
        {
            "lead": [
                say("Happy to check. What is the email on your account?"),
                call("find_customer", query="chloe@example.com"),
                say("Chloé, your account is on the standard tier."),
            ]
        }
    )
    user_model = user_says(
        ("email", "chloe@example.com", "continue"), ("standard tier", "Thanks!", "goal_met")
    )
    with agent_model:
        result = await run_with_user(
            framework.entry,
            SHOP_QUERY,
            model=agent_model,
            user_model=user_model,
            framework=framework.name,
            query_meta={"key": "q1"},
            wrap_model=wrap,
        )

    assert (result.status, result.turns) == ("goal_met", 2)
    root = result.trajectory.root_episode()
    found = next(m for m in root.messages if m.role == "tool")
    assert found.name == "find_customer" and not found.is_error
    assert "Chlo" in (found.content or "") and '"tier": "standard"' in (found.content or "")
    assert [m.content for m in root.messages if m.role == "user"] == [
        SHOP_QUERY.text,
        "chloe@example.com",
    ]
    assert result.trajectory.framework == "shop" and wrapped == ["scripted"]
    assert result.trajectory.query_meta["key"] == "q1"
    assert result.trajectory.query_meta["user_sim"]["status"] == "goal_met"


async def test_cancelling_while_the_user_thinks_closes_the_run(shop_dir: Path) -> None:
    framework = load_framework(shop_dir)
    environment = framework.environment
    assert environment is not None
    closed: list[str] = []
    environment.on_close = lambda state: closed.append(state.run_id)
    thinking = asyncio.Event()

    async def never_answers(request: ModelRequest) -> Message:
        thinking.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    agent_model = ScriptedModel(
        {"lead": [call("find_customer", query="chloe"), say("What is your email?")]}
    )
    run = asyncio.create_task(
        run_with_user(
            framework.entry,
            SHOP_QUERY,
            model=agent_model,
            user_model=ScriptedModel(never_answers),
            run_id="cancelled-run",
        )
    )
    await thinking.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert closed == ["cancelled-run"]
