"""MockOpenAIServer speaks enough OpenAI chat-completions for providers and benchmarks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from nexforge.testing.mock_server import MockOpenAIServer, MockReply

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}


async def post(
    server: MockOpenAIServer, body: Any = CHAT, headers: dict[str, str] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.url}/chat/completions", json=body, headers=headers) as resp,
    ):
        return resp.status, await resp.read(), dict(resp.headers)


async def test_scripted_replies_are_consumed_in_order_and_requests_recorded() -> None:
    replies = [
        MockReply(content="first"),
        MockReply(tool_calls=[{"name": "lookup", "arguments": {"q": "x"}}]),
    ]
    async with MockOpenAIServer(replies) as server:
        _, first, _ = await post(server)
        _, second, _ = await post(server)
        status, third, _ = await post(server)

    one, two = json.loads(first), json.loads(second)
    assert one["choices"][0]["message"]["content"] == "first"
    assert one["choices"][0]["finish_reason"] == "stop"
    call = two["choices"][0]["message"]["tool_calls"][0]
    assert call["type"] == "function"
    assert call["function"] == {"name": "lookup", "arguments": '{"q": "x"}'}
    assert two["choices"][0]["finish_reason"] == "tool_calls"
    assert status == 400 and b"no scripted reply left" in third
    assert server.requests == [CHAT, CHAT, CHAT]
    assert server.stats["replies"] == 2 and server.stats["unexpected"] == 1


async def test_async_responder_sees_the_request_and_usage_is_passed_through() -> None:
    async def responder(body: dict[str, Any]) -> MockReply:
        text = body["messages"][-1]["content"]
        return MockReply(content=text.upper(), usage={"prompt_tokens": 7, "completion_tokens": 3})

    async with MockOpenAIServer(responder=responder) as server:
        _, raw, _ = await post(server)

    data = json.loads(raw)
    assert data["choices"][0]["message"]["content"] == "HELLO"
    assert data["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


async def test_faults_are_injected_in_order_then_replies_resume() -> None:
    async with MockOpenAIServer(
        ["ok"], faults=["429", "500", "malformed", None], retry_after=2
    ) as server:
        s429, _, h429 = await post(server)
        s500, _, _ = await post(server)
        smal, malformed, _ = await post(server)
        sok, ok, _ = await post(server)

    assert (s429, s500, smal, sok) == (429, 500, 200, 200)
    assert h429["Retry-After"] == "2"
    with pytest.raises(ValueError):
        json.loads(malformed)
    assert json.loads(ok)["choices"][0]["message"]["content"] == "ok"
    assert server.stats["429"] == server.stats["500"] == server.stats["malformed"] == 1


async def test_timeout_fault_hangs_until_the_client_gives_up() -> None:
    async with MockOpenAIServer(faults=["timeout"]) as server:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await post(server)
        status, _, _ = await post(server)
    assert status == 200


async def test_seeded_fault_rate_is_reproducible() -> None:
    async def statuses() -> list[int]:
        async with MockOpenAIServer(fault_rate=0.5, fault_kinds=["500"], seed=7) as server:
            return [(await post(server))[0] for _ in range(12)]

    first, second = await statuses(), await statuses()
    assert first == second
    assert 500 in first and 200 in first


async def test_api_key_is_required_when_configured() -> None:
    async with MockOpenAIServer(api_key="sk-test") as server:
        missing, _, _ = await post(server)
        wrong, _, _ = await post(server, headers={"Authorization": "Bearer nope"})
        good, _, _ = await post(server, headers={"Authorization": "Bearer sk-test"})
    assert (missing, wrong, good) == (401, 401, 200)


async def test_models_endpoint_and_stream_rejection() -> None:
    async with MockOpenAIServer(model="mock-7b") as server:
        async with aiohttp.ClientSession() as session, session.get(f"{server.url}/models") as r:
            models = await r.json()
        status, raw, _ = await post(server, {**CHAT, "stream": True})
    assert models["data"][0]["id"] == "mock-7b"
    assert status == 400 and b"stream" in raw


async def test_latency_is_injected() -> None:
    async with MockOpenAIServer(latency_s=lambda body: 0.05) as server:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await post(server)
        assert loop.time() - start >= 0.05


def test_runs_in_a_background_thread_for_sync_callers() -> None:
    with MockOpenAIServer(["from a thread"]) as server:
        url = server.url

        async def call() -> dict[str, Any]:
            async with (
                aiohttp.ClientSession() as session,
                session.post(f"{url}/chat/completions", json=CHAT) as resp,
            ):
                data: dict[str, Any] = await resp.json()
                return data

        data = asyncio.run(call())
    assert data["choices"][0]["message"]["content"] == "from a thread"
    with pytest.raises(RuntimeError):
        _ = server.url
