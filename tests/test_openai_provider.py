"""OpenAIChatModel: wire format, retries, failover and timeouts against MockOpenAIServer."""

from __future__ import annotations

import asyncio
import random
import socket
from typing import Any

import aiohttp
import pytest

from nexforge.core.errors import (
    ModelError,
    ModelHTTPError,
    ModelNotConfiguredError,
    ModelResponseError,
    ModelTimeoutError,
)
from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.models.base import Model, ModelRequest, NamedToolChoice, Sampling
from nexforge.models.openai import Endpoint, OpenAIChatModel, request_to_wire, response_from_wire
from nexforge.models.retry import RetryPolicy, is_retryable
from nexforge.models.settings import ModelSettings
from nexforge.testing.mock_server import MockOpenAIServer, MockReply

WEATHER = ToolSpec(
    name="get_weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
ASK = ModelRequest(messages=[Message.system("be brief"), Message.user("weather in Oslo?")])


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def fast_retry(max_retries: int = 4, sleep: SleepRecorder | None = None) -> RetryPolicy:
    return RetryPolicy(
        max_retries=max_retries,
        base_delay_s=0.01,
        max_delay_s=0.05,
        sleep=sleep or SleepRecorder(),
        rng=random.Random(0),
    )


def model_for(*urls: str, api_key: str | None = None, **kwargs: Any) -> OpenAIChatModel:
    kwargs.setdefault("retry", fast_retry())
    return OpenAIChatModel([Endpoint(url, "mock-model", api_key) for url in urls], **kwargs)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# --- wire format -------------------------------------------------------------------------


def test_request_to_wire_converts_messages_tools_choice_and_sampling() -> None:
    call = ToolCall(id="c1", name="get_weather", arguments={"city": "Oslo"})
    bad = ToolCall(id="c2", name="get_weather", invalid_arguments='{"city": Osl')
    request = ModelRequest(
        messages=[
            Message.user("hi"),
            Message.assistant(None, [call, bad], reasoning="think", raw="<tool_call>..."),
            Message.tool("c1", "get_weather", "sunny", is_error=True),
        ],
        tools=[WEATHER],
        tool_choice=NamedToolChoice(name="get_weather"),
        sampling=Sampling(temperature=0.0, seed=3),
    )
    body = request_to_wire(request, Sampling(temperature=0.7, max_tokens=64))

    user, assistant, tool = body["messages"]
    assert user == {"role": "user", "content": "hi"}
    assert assistant == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            },
            {
                "id": "c2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": Osl'},
            },
        ],
    }
    assert tool == {"role": "tool", "tool_call_id": "c1", "content": "sunny"}
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": WEATHER.parameters,
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert (body["temperature"], body["seed"], body["max_tokens"]) == (0.0, 3, 64)
    assert "top_p" not in body and "stop" not in body


@pytest.mark.parametrize("choice", ["auto", "required", "none"])
def test_string_tool_choices_pass_through_and_no_tools_means_no_tools_key(choice: Any) -> None:
    with_tools = request_to_wire(ModelRequest(messages=[], tools=[WEATHER], tool_choice=choice))
    without = request_to_wire(ModelRequest(messages=[], tool_choice=choice))
    assert with_tools["tool_choice"] == choice
    assert "tools" not in without and "tool_choice" not in without


def test_response_from_wire_decodes_arguments_and_reasoning() -> None:
    data = {
        "model": "served-name",
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "content": None,
                    "reasoning_content": "need weather",
                    "tool_calls": [
                        {"id": "a", "function": {"name": "f", "arguments": '{"x": 1}'}},
                        {"id": "b", "function": {"name": "f", "arguments": {"x": 2}}},
                        {"id": "c", "function": {"name": "f", "arguments": '{"x": '}},
                        {"id": "d", "function": {"name": "f", "arguments": "[1]"}},
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5},
    }
    response = response_from_wire(data)
    calls = response.message.tool_calls
    assert [c.arguments for c in calls] == [{"x": 1}, {"x": 2}, {}, {}]
    assert [c.invalid_arguments for c in calls] == [None, None, '{"x": ', "[1]"]
    assert response.message.reasoning == "need weather"
    assert response.finish_reason == "tool_calls"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (12, 5)
    assert response.model == "served-name"


def test_response_from_wire_normalizes_unknown_finish_and_rejects_bodies_without_choices() -> None:
    odd = {"choices": [{"message": {"content": "x", "reasoning": "r"}, "finish_reason": "eos"}]}
    response = response_from_wire(odd, "fallback")
    assert (response.finish_reason, response.model, response.message.reasoning) == (
        "stop",
        "fallback",
        "r",
    )
    with pytest.raises(ModelResponseError, match="no choices"):
        response_from_wire({"choices": []})
    with pytest.raises(ModelResponseError):
        response_from_wire(["not", "an", "object"])


# --- against the mock server -------------------------------------------------------------


async def test_content_reply_with_usage_and_auth_header() -> None:
    reply = MockReply("Sunny.", usage={"prompt_tokens": 21, "completion_tokens": 2})
    async with MockOpenAIServer([reply], api_key="sk-secret") as server:
        model = model_for(server.url, api_key="sk-secret")
        assert isinstance(model, Model) and model.name == "mock-model"
        response = await model.complete(ASK)
        await model.aclose()

    assert response.message.content == "Sunny." and response.finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (21, 2)
    sent = server.requests[0]
    assert sent["model"] == "mock-model"
    assert sent["messages"][1] == {"role": "user", "content": "weather in Oslo?"}
    assert "sk-secret" not in repr(model)


async def test_tool_call_reply_is_decoded() -> None:
    reply = MockReply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}])
    async with MockOpenAIServer([reply]) as server:
        request = ASK.model_copy(update={"tools": [WEATHER], "tool_choice": "required"})
        response = await model_for(server.url).complete(request)

    (call,) = response.message.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "Oslo"})
    assert response.finish_reason == "tool_calls"
    assert server.requests[0]["tool_choice"] == "required"


@pytest.mark.parametrize("fault", ["429", "500", "malformed", "timeout"])
async def test_retries_recover_from_transient_faults(fault: Any) -> None:
    # A "timeout" fault never answers, so only it waits the attempt timeout out; 1 s is
    # ample for the local answers on a loaded machine.
    async with MockOpenAIServer(["recovered"], faults=[fault, fault]) as server:
        response = await model_for(server.url, timeout_s=1.0).complete(ASK)
    assert response.message.content == "recovered"
    assert server.stats["requests"] == 3


@pytest.mark.parametrize("broken", ["closed port", "always 500"])
async def test_failover_lands_on_the_next_endpoint(broken: str) -> None:
    async with (
        MockOpenAIServer(fault_rate=1.0, fault_kinds=["500"]) as bad,
        MockOpenAIServer(["from backup"]) as good,
    ):
        first = closed_port_url() if broken == "closed port" else bad.url
        sleep = SleepRecorder()
        model = model_for(first, good.url, retry=fast_retry(sleep=sleep))
        response = await model.complete(ASK)

    assert response.message.content == "from backup"
    assert len(good.requests) == 1
    assert sleep.delays == []  # failing over to an untried endpoint does not wait


async def test_non_retryable_status_raises_at_once() -> None:
    async with MockOpenAIServer(api_key="right") as server:
        sleep = SleepRecorder()
        model = model_for(server.url, api_key="wrong", retry=fast_retry(sleep=sleep))
        with pytest.raises(ModelHTTPError) as caught:
            await model.complete(ASK)
    assert caught.value.status == 401
    assert server.stats["requests"] == 1 and sleep.delays == []

    async with MockOpenAIServer([]) as server:  # empty script: the mock answers 400
        with pytest.raises(ModelHTTPError) as caught:
            await model_for(server.url).complete(ASK)
    assert caught.value.status == 400 and server.stats["requests"] == 1


async def test_exhausted_retries_name_the_status_and_endpoints() -> None:
    async with MockOpenAIServer(fault_rate=1.0, fault_kinds=["500"]) as server:
        url = server.url
        with pytest.raises(ModelHTTPError) as caught:
            await model_for(url, retry=fast_retry(max_retries=2)).complete(ASK)
    message = str(caught.value)
    assert caught.value.status == 500 and "\n" not in message
    assert message.startswith("HTTP 500") and url in message and "3 attempts" in message
    assert server.stats["requests"] == 3


async def test_unreachable_endpoint_raises_model_error() -> None:
    url = closed_port_url()
    with pytest.raises(ModelError, match="cannot reach") as caught:
        await model_for(url, retry=fast_retry(max_retries=1)).complete(ASK)
    assert url in str(caught.value)


async def test_timeout_raises_model_timeout_error() -> None:
    async with MockOpenAIServer(faults=["timeout"]) as server:
        model = model_for(server.url, retry=fast_retry(max_retries=0))
        with pytest.raises(ModelTimeoutError, match=r"0\.1s"):
            await model.complete(ASK.model_copy(update={"timeout_s": 0.1}))


async def test_retry_after_is_honoured() -> None:
    async with MockOpenAIServer(["ok"], faults=["429"], retry_after=3) as server:
        sleep = SleepRecorder()
        response = await model_for(server.url, retry=fast_retry(sleep=sleep)).complete(ASK)
    assert response.message.content == "ok"
    assert len(sleep.delays) == 1 and sleep.delays[0] >= 3


async def test_concurrency_cap_still_serves_every_request() -> None:
    async with MockOpenAIServer(latency_s=0.01) as server:
        model = model_for(server.url, max_concurrency=2)
        responses = await asyncio.gather(*(model.complete(ASK) for _ in range(10)))
    assert len(responses) == 10 and server.stats["replies"] == 10


def test_one_provider_serves_successive_event_loops() -> None:
    with MockOpenAIServer() as server:
        model = model_for(server.url)
        first = asyncio.run(model.complete(ASK))
        second = asyncio.run(model.complete(ASK))
    assert first.message.content == second.message.content == "ok"
    assert server.stats["replies"] == 2


# --- settings and retry policy -----------------------------------------------------------


def test_from_settings_uses_env_fallbacks_and_fallback_urls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEXFORGE_BASE_URL", "http://env:1/v1")
    monkeypatch.setenv("NEXFORGE_MODEL", "env-model")
    monkeypatch.setenv("NEXFORGE_API_KEY", "sk-env")
    model = OpenAIChatModel.from_settings(
        ModelSettings(fallback_base_urls=["http://backup:2/v1"], temperature=0.2)
    )
    assert model.name == "env-model"
    assert [e.base_url for e in model.endpoints] == ["http://env:1/v1", "http://backup:2/v1"]
    assert all(e.api_key == "sk-env" for e in model.endpoints)
    assert "sk-env" not in repr(model.endpoints)

    monkeypatch.delenv("NEXFORGE_MODEL")
    with pytest.raises(ModelNotConfiguredError, match="NEXFORGE_MODEL"):
        OpenAIChatModel.from_settings(ModelSettings(base_url="http://x/v1"))


@pytest.mark.parametrize("jitter", ["full", "decorrelated", "none"])
def test_delay_stays_within_bounds_and_respects_retry_after(jitter: Any) -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=4, jitter=jitter, rng=random.Random(1))
    previous = None
    for attempt in range(8):
        previous = policy.delay(attempt, previous=previous)
        assert 0 <= previous <= 4
    assert policy.delay(0, retry_after=10) >= 10
    assert policy.delay(0, retry_after=1_000) == policy.max_retry_after_s


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (ModelHTTPError(429, "slow down"), True),
        (ModelHTTPError(503, "busy"), True),
        (ModelHTTPError(408, "timeout"), True),
        (ModelTimeoutError("late"), True),
        (ModelResponseError("bad json"), True),
        (aiohttp.ServerDisconnectedError(), True),
        (ConnectionRefusedError(), True),
        (ModelHTTPError(400, "bad"), False),
        (ModelHTTPError(401, "key"), False),
        (ModelHTTPError(404, "nope"), False),
        (ModelHTTPError(422, "schema"), False),
        (ValueError("bug"), False),
    ],
)
def test_is_retryable_classification(exc: BaseException, retryable: bool) -> None:
    assert is_retryable(exc) is retryable
