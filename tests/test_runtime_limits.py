"""Every run ends with exactly one stop reason; each limit produces its own."""

from __future__ import annotations

import asyncio

import pytest

from nexforge.core import ModelHTTPError, ScriptError
from nexforge.core.messages import Message
from nexforge.models.base import ModelRequest, ModelResponse
from nexforge.runtime import Agent, Limits
from nexforge.testing import ScriptedModel, call, say
from nexforge.tools import tool_from_function


def ping() -> str:
    """Answer pong."""
    return "pong"


async def slow(seconds: float) -> str:
    """Sleep, then answer.

    Args:
        seconds: How long to sleep.
    """
    await asyncio.sleep(seconds)
    return "slept"


def looping_agent(limits: Limits, model: object) -> Agent:
    return Agent(
        name="looper",
        tools=[tool_from_function(ping), tool_from_function(slow)],
        limits=limits,
        model=model,  # type: ignore[arg-type]
    )


async def test_completed_by_final_answer() -> None:
    result = await looping_agent(Limits(), ScriptedModel([say("hi")])).arun("x")
    assert (result.stop_reason, result.final_output, result.steps) == ("completed", "hi", 1)


async def test_completed_by_finish_tool() -> None:
    from nexforge.tools import make_builtin

    agent = Agent(
        name="a", tools=[make_builtin("finish")], model=ScriptedModel([call("finish", answer="42")])
    )
    result = await agent.arun("x")
    assert (result.stop_reason, result.final_output) == ("completed", "42")


async def test_max_steps() -> None:
    model = ScriptedModel(lambda _request: call("ping"))
    result = await looping_agent(Limits(max_steps=3), model).arun("x")
    assert (result.stop_reason, result.steps, result.final_output) == ("max_steps", 3, None)
    assert result.usage.tool_calls == 3


async def test_timeout_during_a_tool_call() -> None:
    model = ScriptedModel([call("slow", seconds=5)])
    result = await looping_agent(Limits(timeout_s=0.2), model).arun("x")
    assert result.stop_reason == "timeout"


async def test_timeout_during_a_model_call() -> None:
    async def hang(_request: ModelRequest) -> Message:
        await asyncio.sleep(5)
        return say("late")

    result = await looping_agent(Limits(timeout_s=0.2), ScriptedModel(hang)).arun("x")
    assert result.stop_reason == "timeout"
    llm_span = next(s for s in result.trajectory.spans if s.kind == "llm")
    assert llm_span.error is not None and "Timeout" in llm_span.error


async def test_token_budget() -> None:
    model = ScriptedModel(lambda _request: call("ping"))
    result = await looping_agent(Limits(max_total_tokens=50), model).arun("x" * 120)
    assert result.stop_reason == "budget"
    assert result.usage.total_tokens >= 50


async def test_model_error_ends_the_run_with_error() -> None:
    class Failing:
        name = "failing"

        async def complete(self, request: ModelRequest) -> ModelResponse:
            raise ModelHTTPError(500, "upstream exploded")

    result = await looping_agent(Limits(), Failing()).arun("x")
    assert result.stop_reason == "error"
    assert result.error is not None and "500" in result.error


async def test_cancelled_between_steps() -> None:
    agent = looping_agent(Limits(), ScriptedModel(lambda _r: call("slow", seconds=0.05)))
    conversation = agent.conversation()
    task = asyncio.create_task(conversation.send("x"))
    await asyncio.sleep(0.12)
    conversation.cancel()
    result = await task
    assert result.stop_reason == "cancelled"
    assert result.trajectory.stop_reason == "cancelled"
    await conversation.aclose()


async def test_task_cancellation_records_cancelled_and_propagates() -> None:
    agent = looping_agent(Limits(), ScriptedModel([call("slow", seconds=5)]))
    conversation = agent.conversation()
    task = asyncio.create_task(conversation.send("x"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert conversation.trajectory.stop_reason == "cancelled"
    await conversation.aclose()


async def test_scripted_model_fails_on_unexpected_and_unconsumed_steps() -> None:
    model = ScriptedModel([call("ping")])
    with pytest.raises(ScriptError, match="exhausted"):
        await looping_agent(Limits(), model).arun("x")
    leftover = ScriptedModel([say("a"), say("b")])
    await looping_agent(Limits(), leftover).arun("x")
    with pytest.raises(ScriptError, match="unconsumed"):
        leftover.assert_done()
    per_agent = ScriptedModel({"someone_else": [say("a")]})
    with pytest.raises(ScriptError, match="looper"):
        await looping_agent(Limits(), per_agent).arun("x")


async def test_sub_agent_limit_is_reported_to_the_parent_as_a_tool_error() -> None:
    child = Agent(name="child", tools=[tool_from_function(ping)], limits=Limits(max_steps=1))
    lead = Agent(
        name="lead",
        sub_agents=[child],
        model=ScriptedModel(
            {"lead": [call("child", task="t"), say("ok")], "child": [call("ping")]}
        ),
    )
    result = await lead.arun("x")
    observation = result.trajectory.root_episode().messages[3]
    assert observation.is_error and "max_steps" in (observation.content or "")
    assert result.stop_reason == "completed"


def test_sync_run_wrapper() -> None:
    result = looping_agent(Limits(), ScriptedModel([say("sync")])).run("x")
    assert result.final_output == "sync"
