"""The runtime stays consistent when things go wrong: nothing leaks, nothing is left open."""

from __future__ import annotations

import asyncio

import pytest

from nexforge.core.messages import ToolCall
from nexforge.models.base import ModelRequest
from nexforge.runtime import Agent, HookContext, Limits, Middleware
from nexforge.testing import ScriptedModel, call, calls, say
from nexforge.tools import ToolOutcome, make_builtin, tool_from_function


class Probe:
    """An async tool that waits forever and records whether it was cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = False

    async def wait_forever(self) -> str:
        """Wait until cancelled."""
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return "never"


class FailOnBoom(Middleware):
    async def before_tool(self, ctx: HookContext, call: ToolCall) -> ToolCall | ToolOutcome | None:
        if call.name == "boom":
            raise RuntimeError("middleware failed")
        return None


def boom() -> str:
    """Explode."""
    return "unreachable"


async def test_a_failing_call_cancels_its_running_siblings() -> None:
    probe = Probe()
    tools = [tool_from_function(probe.wait_forever, name="wait"), tool_from_function(boom)]

    async def boom_after_wait_started(request: ModelRequest):  # type: ignore[no-untyped-def]
        return calls(("wait", {}), ("boom", {}))

    agent = Agent(name="a", tools=tools, model=ScriptedModel(boom_after_wait_started))
    conversation = agent.conversation(middleware=[FailOnBoom()])
    with pytest.raises(RuntimeError, match="middleware failed"):
        await conversation.send("x")
    assert probe.cancelled
    assert all(s.end is not None for s in conversation.trajectory.spans)
    await conversation.aclose()


async def test_spans_are_closed_and_calls_answered_after_a_timeout() -> None:
    probe = Probe()
    model = ScriptedModel([call("wait"), say("resumed")])
    agent = Agent(
        name="a",
        tools=[tool_from_function(probe.wait_forever, name="wait")],
        model=model,
        limits=Limits(timeout_s=0.3),
    )
    async with agent.conversation() as conversation:
        first = await conversation.send("x")
        assert first.stop_reason == "timeout" and probe.cancelled
        assert all(s.end is not None for s in first.trajectory.spans)
        # The interrupted call got a result, so the history stays valid for the next turn.
        messages = first.trajectory.root_episode().messages
        assert messages[-1].role == "tool" and messages[-1].is_error
        assert "not run" in (messages[-1].content or "")
        second = await conversation.send("try again")
    assert second.final_output == "resumed"
    roles = [m.role for m in model.requests[-1].messages]
    assert roles == ["system", "user", "assistant", "tool", "user"]


async def test_cancel_answers_pending_calls_and_closes_spans() -> None:
    probe = Probe()
    agent = Agent(
        name="a",
        tools=[tool_from_function(probe.wait_forever, name="wait")],
        model=ScriptedModel([call("wait")]),
    )
    conversation = agent.conversation()
    task = asyncio.create_task(conversation.send("x"))
    await probe.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    trajectory = conversation.trajectory
    assert trajectory.stop_reason == "cancelled"
    assert all(s.end is not None for s in trajectory.spans)
    assert trajectory.root_episode().messages[-1].role == "tool"
    await conversation.aclose()


def ping() -> str:
    """Answer pong."""
    return "pong"


async def test_the_token_budget_is_per_turn() -> None:
    model = ScriptedModel(lambda _r: call("ping"))
    agent = Agent(
        name="a", tools=[tool_from_function(ping)], model=model, limits=Limits(max_total_tokens=40)
    )
    async with agent.conversation() as conversation:
        first = await conversation.send("x" * 100)
        second = await conversation.send("again")
    assert first.stop_reason == second.stop_reason == "budget"
    assert second.steps >= 1  # the second turn ran, it did not inherit the spent budget


async def test_an_agents_budget_counts_its_sub_agents_tokens() -> None:
    child = Agent(name="child", tools=[tool_from_function(ping)])
    script = {
        "lead": [call("child", task="t"), call("child", task="t"), say("done")],
        "child": [call("ping"), call("ping"), call("ping"), say("x" * 400)] * 2,
    }
    lead = Agent(
        name="lead",
        sub_agents=[child],
        model=ScriptedModel(script),
        limits=Limits(max_total_tokens=150),
    )
    result = await lead.arun("go")
    assert result.stop_reason == "budget"
    assert result.steps == 1  # the child's tokens stopped the lead before its second call


async def test_the_roots_max_depth_bounds_the_whole_hierarchy() -> None:
    grandchild = Agent(name="grandchild")
    child = Agent(name="child", sub_agents=[grandchild])  # its own default max_depth is 4
    lead = Agent(
        name="lead",
        sub_agents=[child],
        limits=Limits(max_depth=1),
        model=ScriptedModel(
            {
                "lead": [call("child", task="t"), say("ok")],
                "child": [call("grandchild", task="t"), say("no")],
            }
        ),
    )
    result = await lead.arun("go")
    child_episode = next(e for e in result.trajectory.episodes if e.agent == "child")
    refusal = child_episode.messages[3]
    assert refusal.is_error and "depth 1" in (refusal.content or "")
    assert all(e.agent != "grandchild" for e in result.trajectory.episodes)


async def test_a_sub_agent_stops_at_its_parents_deadline() -> None:
    probe = Probe()
    worker = Agent(name="worker", tools=[tool_from_function(probe.wait_forever, name="wait")])
    manager = Agent(name="manager", sub_agents=[worker], limits=Limits(timeout_s=0.3))

    def respond(request: ModelRequest):  # type: ignore[no-untyped-def]
        last = request.messages[-1]
        if request.agent == "lead":
            return call("manager", task="t") if last.role == "user" else say("lead done")
        if request.agent == "manager":
            return call("worker", task="t") if last.role == "user" else say("worker gave up")
        return call("wait")

    lead = Agent(name="lead", sub_agents=[manager], model=ScriptedModel(respond))
    result = await lead.arun("go")
    assert result.final_output == "lead done"
    spans = {s.name: s for s in result.trajectory.spans if s.kind == "agent"}
    # The worker ends with its own stop reason, not cut off by the manager's deadline.
    assert spans["worker"].output == {"stop_reason": "timeout", "steps": 1}
    assert spans["worker"].error is None and probe.cancelled
    assert all(s.end is not None for s in result.trajectory.spans)


async def test_a_long_finish_answer_is_not_truncated() -> None:
    answer = "y" * 50_000
    agent = Agent(
        name="a",
        tools=[make_builtin("finish")],
        model=ScriptedModel([call("finish", answer=answer)]),
    )
    result = await agent.arun("x")
    assert result.final_output == answer


async def test_tool_changes_between_runs_are_honoured() -> None:
    agent = Agent(name="a", model=ScriptedModel([call("ping"), say("1"), call("ping"), say("2")]))
    first = await agent.arun("x")
    assert first.trajectory.root_episode().messages[3].is_error  # no such tool yet
    agent.tools = [tool_from_function(ping)]
    second = await agent.arun("x")
    assert second.trajectory.root_episode().messages[3].content == "pong"
