"""The local provider: queue and timeout mechanics, then the real tiny model.

The first tests replace llama.cpp (the native boundary) by a stand-in engine whose
generations take a set time, so queueing and timeouts are checked fast and exactly. The
``slow`` tests run Qwen2.5-Coder-0.5B at temperature 0 and need the installed model
(`nexforge models install tiny`); they are skipped without it (and fail under
NEXFORGE_REQUIRE_MODEL=1, as in `make test`). Their assertions are on
structure (a schema-valid call to the right tool, a final answer), not on wording.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest

from nexforge.core.errors import ModelError, ModelTimeoutError
from nexforge.core.messages import Message
from nexforge.core.tools import ToolSpec
from nexforge.models.base import Model, ModelRequest, NamedToolChoice, Sampling
from nexforge.models.local import LocalModel
from nexforge.models.local_engine import EngineSettings, Generation
from nexforge.runtime.agent import Agent
from nexforge.testing import installed_model_or_skip
from nexforge.tools.base import ToolContext
from nexforge.tools.schema import tool_from_function

slow = pytest.mark.slow


class StandInEngine:
    """Answers every request with ``{"answer": "ok"}`` after ``seconds``.

    ``obeys_stop=False`` imitates a generation that produces no token for a while (the
    stream callback is the only place llama.cpp can be told to stop).
    """

    seconds = 0.3
    obeys_stop = True
    spans: ClassVar[list[tuple[float, float]]] = []

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings

    def stream_chat(self, body: dict[str, Any], stop: threading.Event) -> Generation:
        started, seconds = time.monotonic(), self.seconds
        while time.monotonic() - started < seconds:
            if self.obeys_stop and stop.is_set():
                break
            time.sleep(0.005)
        StandInEngine.spans.append((started, time.monotonic()))
        return Generation(text='{"answer": "ok"}', finish_reason="stop", completion_tokens=5)


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> type[StandInEngine]:
    StandInEngine.spans = []
    monkeypatch.setattr(StandInEngine, "seconds", 0.3)
    monkeypatch.setattr(StandInEngine, "obeys_stop", True)
    monkeypatch.setattr("nexforge.models.local.Engine", StandInEngine)
    return StandInEngine


def one_slot(tmp_path: Path, **options: Any) -> LocalModel:
    return LocalModel(tmp_path / "model.gguf", n_parallel=1, **options)


async def test_queued_time_does_not_count_against_the_timeout(
    stand_in: type[StandInEngine], tmp_path: Path
) -> None:
    model = one_slot(tmp_path)
    stand_in.seconds = 1.0
    request = ask("hi", tools=[WEATHER]).model_copy(update={"timeout_s": 1.5})
    # The second waits ~1 s for the slot, then generates 1 s: 2 s > its 1.5 s timeout, yet it
    # succeeds, because only generation counts (0.5 s margins on both sides).
    responses = await asyncio.gather(model.complete(request), model.complete(request))
    assert [r.message.content for r in responses] == ["ok", "ok"]
    (_, first_end), (second_start, _) = stand_in.spans
    assert second_start >= first_end


async def test_a_full_queue_refuses_at_once(stand_in: type[StandInEngine], tmp_path: Path) -> None:
    model = one_slot(tmp_path, max_queue=1)
    running = asyncio.create_task(model.complete(ask("one")))
    queued = asyncio.create_task(model.complete(ask("two")))
    await asyncio.sleep(0.05)
    with pytest.raises(ModelError, match="local model queue full"):
        await model.complete(ask("three"))
    await asyncio.gather(running, queued)


async def test_a_timed_out_generation_is_stopped_and_frees_its_slot(
    stand_in: type[StandInEngine], tmp_path: Path
) -> None:
    stand_in.seconds = 5.0
    model = one_slot(tmp_path)
    started = time.monotonic()
    with pytest.raises(ModelTimeoutError, match=r"within 0\.1s"):
        await model.complete(ask("long").model_copy(update={"timeout_s": 0.1}))
    stand_in.seconds = 0.01
    await model.complete(ask("next"))
    assert time.monotonic() - started < 1.0  # the 5 s generation was stopped, not awaited


async def test_a_slot_stays_taken_until_an_abandoned_generation_really_ends(
    stand_in: type[StandInEngine], tmp_path: Path
) -> None:
    stand_in.seconds, stand_in.obeys_stop = 0.4, False
    model = one_slot(tmp_path)
    with pytest.raises(ModelTimeoutError):
        await model.complete(ask("stuck").model_copy(update={"timeout_s": 0.05}))
    stand_in.seconds = 0.01
    # Its own 0.2 s clock starts only once the stuck generation (0.4 s) has let go.
    await model.complete(ask("next").model_copy(update={"timeout_s": 0.2}))
    (_, stuck_end), (next_start, _) = stand_in.spans
    assert next_start >= stuck_end


async def test_the_model_loads_once_for_concurrent_first_calls(
    stand_in: type[StandInEngine], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[EngineSettings] = []
    monkeypatch.setattr(StandInEngine, "__init__", lambda self, s: loads.append(s))
    stand_in.seconds = 0.01
    model = LocalModel(tmp_path / "model.gguf", n_ctx=2048, n_parallel=2)
    await asyncio.gather(*(model.complete(ask("hi")) for _ in range(4)))
    assert loads == [EngineSettings(tmp_path / "model.gguf", 2048, 2, None)]


@pytest.fixture(scope="module")
def model() -> LocalModel:
    return LocalModel.shared(installed_model_or_skip("tiny"), temperature=0.0)


def read_number(path: str, ctx: ToolContext) -> str:
    """Read the number stored in a file of the workspace.

    Args:
        path: the file's path, relative to the workspace
    """
    return (ctx.workspace / path).read_text().strip()


WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather in a city",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"],
    },
)
READ = tool_from_function(read_number, read_only=True).spec


def ask(content: str, **options: Any) -> ModelRequest:
    return ModelRequest(
        messages=[Message.system("You are a helpful assistant."), Message.user(content)],
        **options,
    )


@slow
def test_is_a_model_with_the_files_name_and_a_per_slot_context(model: LocalModel) -> None:
    assert isinstance(model, Model)
    assert model.name == "qwen2.5-coder-0.5b-instruct-q4_k_m"
    assert model.context_length == 8192
    assert LocalModel.shared(model.path, temperature=0.0) is model


@slow
async def test_agent_reads_the_number_with_a_valid_call_and_answers(
    model: LocalModel, tmp_path: Path
) -> None:
    (tmp_path / "numbers.txt").write_text("37\n")
    agent = Agent(
        name="adder",
        system_prompt="You are a careful assistant. Use the tools to read facts. "
        "Once you have the tool result, answer in plain text.",
        tools=[tool_from_function(read_number, read_only=True)],
        model=model,
    )
    result = await agent.arun("Add 5 to the number in numbers.txt.", workspace=tmp_path)

    assert result.stop_reason == "completed", result.error
    assert result.final_output
    messages = result.trajectory.episodes[0].messages
    calls = [c for m in messages if m.role == "assistant" for c in m.tool_calls]
    assert calls, "the agent never called a tool"
    assert calls[0].name == "read_number"
    jsonschema.validate(calls[0].arguments, READ.parameters)
    results = [m for m in messages if m.role == "tool"]
    assert results[0].content == "37" and not results[0].is_error
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0


@slow
async def test_required_and_named_choices_force_a_valid_call(model: LocalModel) -> None:
    tools = [READ, WEATHER]
    required = await model.complete(ask("Hello there!", tools=tools, tool_choice="required"))
    assert required.finish_reason == "tool_calls"
    (call,) = required.message.tool_calls
    spec = {t.name: t for t in tools}[call.name]
    jsonschema.validate(call.arguments, spec.parameters)

    named = await model.complete(
        ask("What is in numbers.txt?", tools=tools, tool_choice=NamedToolChoice(name="get_weather"))
    )
    (call,) = named.message.tool_calls
    assert call.name == "get_weather"
    jsonschema.validate(call.arguments, WEATHER.parameters)
    assert named.usage.prompt_tokens > 0 and named.usage.completion_tokens > 0


@slow
async def test_none_choice_answers_in_text_without_calls(model: LocalModel) -> None:
    response = await model.complete(
        ask("Say hello in one short sentence.", tools=[READ], tool_choice="none")
    )
    assert response.finish_reason in ("stop", "length")
    assert response.message.tool_calls == []
    assert response.message.content


@slow
async def test_four_concurrent_requests_all_complete(model: LocalModel) -> None:
    requests = [
        ask(f"Name the weather in {city}.", tools=[WEATHER], tool_choice="required")
        for city in ("Oslo", "Paris", "Lima", "Cairo")
    ]
    responses = await asyncio.gather(*(model.complete(r) for r in requests))
    for response in responses:
        (call,) = response.message.tool_calls
        jsonschema.validate(call.arguments, WEATHER.parameters)


@slow
async def test_event_loop_stays_free_while_generating(model: LocalModel) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    await model.complete(ask("Count from 1 to 20.", sampling=Sampling(max_tokens=16)))
    elapsed = time.perf_counter() - started
    ticker.cancel()
    # A blocked loop would tick once at most; a free one keeps ticking (a loose bound, as a
    # loaded CI machine may delay individual ticks).
    assert ticks >= min(10, elapsed / 0.01 * 0.1)


@slow
async def test_a_timed_out_request_raises_and_the_model_still_serves(model: LocalModel) -> None:
    long_story = ask("Write a very long story about a dragon.", sampling=Sampling(max_tokens=2000))
    started = time.perf_counter()
    with pytest.raises(ModelTimeoutError):
        await model.complete(long_story.model_copy(update={"timeout_s": 0.5}))
    assert time.perf_counter() - started < 30  # raised at the timeout, not after 2000 tokens

    # Every slot busy with a request that times out: each must free its slot for the next.
    doomed = [model.complete(long_story.model_copy(update={"timeout_s": 0.5})) for _ in range(4)]
    outcomes = await asyncio.gather(*doomed, return_exceptions=True)
    assert all(isinstance(o, ModelTimeoutError) for o in outcomes)
    after = await model.complete(
        ask("Say OK.", sampling=Sampling(max_tokens=5)).model_copy(update={"timeout_s": 120})
    )
    assert after.message.content
