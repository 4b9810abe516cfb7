"""Formats end to end, self-correction, middleware, events, conversations, compaction."""

from __future__ import annotations

import pytest

from nexforge.core.messages import Message, ToolCall
from nexforge.models.base import ModelRequest, ModelResponse
from nexforge.runtime import (
    Agent,
    CompactionPolicy,
    HookContext,
    Middleware,
    ModelCallStarted,
    RunStopped,
    SubAgentFinished,
    SubAgentStarted,
    ToolCallFinished,
)
from nexforge.testing import ScriptedModel, call, say
from nexforge.tools import ToolOutcome, tool_from_function


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


XML_CALL = """Let me add.
<tool_use>
<tool_name>add</tool_name>
<parameter>
<a>2</a>
<b>40</b>
</parameter>
</tool_use>"""
HERMES_CALL = '<tool_call>\n{"name": "add", "arguments": {"a": "2", "b": 40}}\n</tool_call>'


@pytest.mark.parametrize("fmt, raw", [("xml", XML_CALL), ("hermes", HERMES_CALL)])
async def test_text_tool_call_formats_end_to_end(fmt: str, raw: str) -> None:
    model = ScriptedModel([raw, say("The sum is 42.")])
    agent = Agent(name="calc", tools=[tool_from_function(add)], tool_call_format=fmt, model=model)
    result = await agent.arun("2 + 40?")

    assert result.final_output == "The sum is 42."
    episode = result.trajectory.root_episode()
    assert episode.tool_call_format == fmt
    assistant = episode.messages[2]
    assert assistant.raw == raw
    assert assistant.tool_calls[0].name == "add"
    assert assistant.tool_calls[0].arguments == {"a": 2, "b": 40}  # "2" coerced by the schema
    assert episode.messages[3].content == "42"
    # Text mode: tools are described in the system prompt and none are sent natively;
    # the second request carries the call as text and the result as a user message.
    first, second = model.requests
    assert first.tools == [] and "add" in (first.messages[0].content or "")
    assert all(not m.tool_calls for m in second.messages)
    assert second.messages[-1].role == "user" and "42" in (second.messages[-1].content or "")


async def test_structured_mode_never_parses_text_for_calls() -> None:
    model = ScriptedModel([say(HERMES_CALL)])
    agent = Agent(name="calc", tools=[tool_from_function(add)], model=model)
    result = await agent.arun("x")
    assert result.final_output == HERMES_CALL
    assert model.requests[0].tools[0].name == "add"


async def test_malformed_text_call_is_fed_back_and_corrected() -> None:
    broken = "<tool_call>\n{not json}\n</tool_call>"
    model = ScriptedModel([broken, HERMES_CALL, say("42")])
    agent = Agent(
        name="calc", tools=[tool_from_function(add)], tool_call_format="hermes", model=model
    )
    result = await agent.arun("x")
    assert result.final_output == "42"
    feedback = result.trajectory.root_episode().messages[3]
    assert feedback.role == "user" and "malformed tool call" in (feedback.content or "")


async def test_bad_tool_call_is_corrected_on_the_next_step() -> None:
    model = ScriptedModel([call("add", a="two", b=40), call("add", a=2, b=40), say("42")])
    agent = Agent(name="calc", tools=[tool_from_function(add)], model=model)
    with model:
        result = await agent.arun("x")
    messages = result.trajectory.root_episode().messages
    error = messages[3]
    assert error.role == "tool" and error.is_error
    assert "Traceback" not in (error.content or "") and "\n" not in (error.content or "")
    assert messages[5].content == "42" and not messages[5].is_error
    assert result.final_output == "42"


async def test_unknown_tool_and_undecodable_arguments_become_tool_errors() -> None:
    broken = Message.assistant(
        None, [ToolCall(id="c1", name="add", arguments={}, invalid_arguments="{a: 1")]
    )
    model = ScriptedModel([call("subtract", a=1), broken, say("gave up")])
    agent = Agent(name="calc", tools=[tool_from_function(add)], model=model)
    result = await agent.arun("x")
    messages = result.trajectory.root_episode().messages
    assert "unknown tool 'subtract'" in (messages[3].content or "") and messages[3].is_error
    assert "not valid JSON" in (messages[5].content or "") and messages[5].is_error


class Recorder(Middleware):
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def before_model(self, ctx: HookContext, request: ModelRequest) -> ModelRequest | None:
        self.seen.append(f"before_model:{ctx.agent}:{ctx.step}")
        return None

    async def after_model(
        self, ctx: HookContext, request: ModelRequest, response: ModelResponse
    ) -> ModelResponse | None:
        self.seen.append("after_model")
        return None

    async def before_tool(self, ctx: HookContext, call: ToolCall) -> ToolCall | ToolOutcome | None:
        self.seen.append(f"before_tool:{call.name}")
        if call.name == "add":
            return call.model_copy(update={"arguments": {"a": 1, "b": 1}})
        return None

    async def after_tool(
        self, ctx: HookContext, call: ToolCall, outcome: ToolOutcome
    ) -> ToolOutcome | None:
        self.seen.append(f"after_tool:{outcome.content}")
        return None


async def test_middleware_hooks_run_in_order_and_may_change_calls() -> None:
    recorder = Recorder()
    model = ScriptedModel([call("add", a=5, b=5), say("done")])
    agent = Agent(name="calc", tools=[tool_from_function(add)], model=model)
    await agent.arun("x", middleware=[recorder])
    assert recorder.seen == [
        "before_model:calc:1",
        "after_model",
        "before_tool:add",
        "after_tool:2",
        "before_model:calc:2",
        "after_model",
    ]


class Exploding(Middleware):
    def __init__(self, swallow: bool) -> None:
        self.swallow_errors = swallow

    async def before_model(self, ctx: HookContext, request: ModelRequest) -> ModelRequest | None:
        raise RuntimeError("hook bug")


async def test_middleware_errors_propagate_unless_swallowed() -> None:
    agent = Agent(name="a", model=ScriptedModel([say("ok"), say("ok")]))
    with pytest.raises(RuntimeError, match="hook bug"):
        await agent.arun("x", middleware=[Exploding(swallow=False)])
    result = await agent.arun("x", middleware=[Exploding(swallow=True)])
    assert result.final_output == "ok"


async def test_stream_yields_typed_events_in_order() -> None:
    child = Agent(name="helper", description="helps")
    lead = Agent(
        name="lead",
        sub_agents=[child],
        model=ScriptedModel(
            {"lead": [call("helper", task="t"), say("done")], "helper": [say("h")]}
        ),
    )
    events = [e async for e in lead.stream("go")]
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "ModelCallStarted" and kinds[-1] == "RunStopped"
    assert kinds.index("SubAgentStarted") < kinds.index("SubAgentFinished")
    started = next(e for e in events if isinstance(e, SubAgentStarted))
    finished = next(e for e in events if isinstance(e, SubAgentFinished))
    assert (started.agent, started.depth, finished.output) == ("helper", 1, "h")
    tool_done = next(e for e in events if isinstance(e, ToolCallFinished))
    assert tool_done.content == "h" and not tool_done.is_error
    stop = events[-1]
    assert isinstance(stop, RunStopped) and stop.result.final_output == "done"
    assert sum(isinstance(e, ModelCallStarted) for e in events) == 3


async def test_conversation_continues_the_same_root_episode() -> None:
    model = ScriptedModel([say("hello"), call("add", a=1, b=2), say("3")])
    agent = Agent(name="calc", tools=[tool_from_function(add)], model=model)
    async with agent.conversation() as conversation:
        first = await conversation.send("hi")
        second = await conversation.send("1+2?")
    assert (first.final_output, second.final_output) == ("hello", "3")
    assert second.steps == 2 and second.usage.model_calls == 2
    trajectory = second.trajectory
    assert len(trajectory.episodes) == 1 and trajectory.usage.model_calls == 3
    roles = [m.role for m in trajectory.root_episode().messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "tool", "assistant"]
    # The model saw the whole history on the continued turn.
    assert [m.content for m in model.requests[1].messages if m.role == "user"] == ["hi", "1+2?"]


def big(n: int) -> str:
    """Return a large result.

    Args:
        n: How many characters.
    """
    return "x" * n


async def test_compaction_truncates_old_tool_results_in_the_model_view_only() -> None:
    model = ScriptedModel(
        [call("big", n=4000), call("big", n=4000), call("big", n=10), say("ok")],
        context_length=1500,
    )
    agent = Agent(
        name="a",
        tools=[tool_from_function(big)],
        model=model,
        compaction=CompactionPolicy(keep_recent=2, truncated_chars=50),
    )
    result = await agent.arun("x")
    assert result.final_output == "ok"
    last_view = model.requests[-1].messages
    tool_texts = [m.content or "" for m in last_view if m.role == "tool"]
    assert "chars truncated" in tool_texts[0] and len(tool_texts[0]) < 100
    full = [m.content or "" for m in result.trajectory.root_episode().messages if m.role == "tool"]
    assert len(full[0]) == 4000  # the episode keeps what really happened
    notes = [s.input["compaction"] for s in result.trajectory.spans if s.kind == "llm"]
    assert notes[0] is None and notes[-1]["truncated_tool_results"] >= 1


async def test_compaction_summarises_older_turns_once_and_accounts_for_it() -> None:
    steps = 0

    def respond(request: ModelRequest) -> Message:
        nonlocal steps
        if "Summarise the work below" in (request.messages[-1].content or ""):
            return say("called big six times")
        steps += 1
        return call("big", n=400) if steps <= 6 else say("finished")

    model = ScriptedModel(respond, context_length=600)
    agent = Agent(
        name="a",
        tools=[tool_from_function(big)],
        model=model,
        compaction=CompactionPolicy(keep_recent=2, truncated_chars=300, summarize=True),
    )
    result = await agent.arun("x")
    assert result.stop_reason == "completed"
    summaries = [s for s in result.trajectory.spans if s.kind == "llm" and s.input.get("purpose")]
    assert len(summaries) >= 1 and all(s.end is not None for s in summaries)
    assert result.usage.model_calls == 7 + len(summaries)  # summary calls are counted
    last_view = model.requests[-1].messages
    assert [m.role for m in last_view[:3]] == ["system", "user", "user"]
    assert "called big six times" in (last_view[2].content or "")
    assert last_view[-1].role == "tool" and last_view[-2].role == "assistant"
    # The summary is reused, not rewritten on every step.
    assert len(summaries) < 6


async def test_compaction_with_keep_recent_zero_does_not_crash() -> None:
    model = ScriptedModel([call("big", n=2000), say("ok")], context_length=300)
    agent = Agent(
        name="a",
        tools=[tool_from_function(big)],
        model=model,
        compaction=CompactionPolicy(keep_recent=0, truncated_chars=10),
    )
    result = await agent.arun("x")
    assert result.final_output == "ok"
