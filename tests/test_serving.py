"""OpenAIServer: a ScriptedModel behind the server, driven by the official `openai` client, so
what a harness sees and what the model received are both checked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import openai
import pytest

from nexforge.core.errors import ModelBusyError, ModelError
from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.models.base import ModelRequest, NamedToolChoice, Sampling
from nexforge.serving import OpenAIServer
from nexforge.testing import ScriptedModel, call, say
from nexforge.testing.scripted import Step

TOKEN = "test-token-0123456789"
WEATHER_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
    "required": ["city"],
}
WEATHER_FUNCTION = {"name": "get_weather", "description": "Current weather"}
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {**WEATHER_FUNCTION, "parameters": WEATHER_PARAMS},
}
USER_X: Any = [{"role": "user", "content": "x"}]


@asynccontextmanager
async def served(
    script: list[Step] | Any, **options: Any
) -> AsyncIterator[tuple[ScriptedModel, openai.AsyncOpenAI, OpenAIServer]]:
    model = ScriptedModel(script, name="scripted-model")
    async with (
        OpenAIServer(model, token=TOKEN, **options) as server,
        openai.AsyncOpenAI(base_url=server.url, api_key=TOKEN, max_retries=0) as client,
    ):
        yield model, client, server
    model.assert_done()


async def raw_post(server: OpenAIServer, path: str, body: bytes, **headers: str) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN}", **headers}
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.url + path, data=body, headers=headers) as response,
    ):
        return response.status, await response.json()


# --- completions -----------------------------------------------------------------------


async def test_text_reply_and_the_request_the_model_received() -> None:
    async with served([say("Hello from the model.")]) as (model, client, _):
        reply = await client.chat.completions.create(
            model="anything",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
            ],
            temperature=0.2,
            top_p=0.9,
            max_tokens=64,
            seed=7,
            stop="END",
        )
    assert reply.id.startswith("chatcmpl-")
    assert reply.object == "chat.completion"
    assert reply.model == "scripted-model"
    assert reply.choices[0].message.content == "Hello from the model."
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.completion_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    [request] = model.requests
    assert request.messages == [Message.system("Be brief."), Message.user("Hi")]
    assert request.tools == [] and request.tool_choice == "auto"
    assert request.sampling == Sampling(
        temperature=0.2, top_p=0.9, max_tokens=64, seed=7, stop=["END"]
    )


async def test_tool_call_reply_has_json_string_arguments() -> None:
    async with served([call("get_weather", city="Oslo", unit="celsius")]) as (model, client, _):
        reply = await client.chat.completions.create(
            model="scripted-model",
            messages=[{"role": "user", "content": "Weather in Oslo?"}],
            tools=[WEATHER_TOOL],
            tool_choice="required",
        )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    [tool_call] = choice.message.tool_calls or []
    assert tool_call.type == "function" and tool_call.id
    assert tool_call.function.name == "get_weather"
    assert isinstance(tool_call.function.arguments, str)
    assert json.loads(tool_call.function.arguments) == {"city": "Oslo", "unit": "celsius"}
    [request] = model.requests
    assert request.tools == [
        ToolSpec(name="get_weather", description="Current weather", parameters=WEATHER_PARAMS)
    ]
    assert request.tool_choice == "required"


async def test_tool_result_round_trip_reaches_the_model_as_canonical_messages() -> None:
    async with served([say("It is 12 C in Oslo.")]) as (model, client, _):
        reply = await client.chat.completions.create(
            model="scripted-model",
            messages=[
                {"role": "developer", "content": "Use tools."},
                {"role": "user", "content": "Weather in Oslo?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_a", "content": "12 C"},
            ],
            tools=[WEATHER_TOOL],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
        )
    assert reply.choices[0].message.content == "It is 12 C in Oslo."
    [request] = model.requests
    assert request.messages == [
        Message.system("Use tools."),
        Message.user("Weather in Oslo?"),
        Message.assistant(
            None, [ToolCall(id="call_a", name="get_weather", arguments={"city": "Oslo"})]
        ),
        Message.tool("call_a", "get_weather", "12 C"),
    ]
    assert request.tool_choice == NamedToolChoice(name="get_weather")
    assert request.timeout_s is not None


async def test_streamed_text_reassembles_to_the_reply_with_usage() -> None:
    async with served([say("Streamed answer.")]) as (_, client, _server):
        stream = await client.chat.completions.create(
            model="scripted-model",
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant"
    assert "".join(d.content or "" for d in deltas) == "Streamed answer."
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


async def test_streamed_tool_calls_reassemble_by_index() -> None:
    reply = Message.assistant(
        "Checking both.",
        [
            ToolCall(id="call_1", name="get_weather", arguments={"city": "Oslo"}),
            ToolCall(
                id="call_2", name="get_weather", arguments={"city": "Lima", "unit": "celsius"}
            ),
        ],
    )
    async with served([reply, reply]) as (_, client, _server):
        stream = await client.chat.completions.create(
            model="scripted-model",
            messages=[{"role": "user", "content": "Oslo and Lima?"}],
            tools=[WEATHER_TOOL],
            stream=True,
        )
        calls: dict[int, dict[str, str]] = {}
        content, finish = "", None
        async for chunk in stream:
            delta = chunk.choices[0].delta
            content += delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
            for part in delta.tool_calls or []:
                entry = calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += part.id or ""
                if part.function is not None:
                    entry["name"] += part.function.name or ""
                    entry["arguments"] += part.function.arguments or ""
        # The SDK's own stream accumulator must arrive at the same message.
        async with client.chat.completions.stream(
            model="scripted-model",
            messages=[{"role": "user", "content": "Oslo and Lima?"}],
            tools=[WEATHER_TOOL],
        ) as helper:
            final = await helper.get_final_completion()
    assert content == "Checking both." and finish == "tool_calls"
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("call_1", "get_weather", {"city": "Oslo"}),
        ("call_2", "get_weather", {"city": "Lima", "unit": "celsius"}),
    ]
    sdk_calls = final.choices[0].message.tool_calls or []
    assert [(c.id, json.loads(c.function.arguments)) for c in sdk_calls] == [
        ("call_1", {"city": "Oslo"}),
        ("call_2", {"city": "Lima", "unit": "celsius"}),
    ]


async def test_models_list_and_retrieve_name_the_served_model() -> None:
    async with served([]) as (_, client, _server):
        listed = [m.id async for m in client.models.list()]
        retrieved = await client.models.retrieve("scripted-model")
        with pytest.raises(openai.NotFoundError, match="not served here"):
            await client.models.retrieve("gpt-4o")
    assert listed == ["scripted-model"]
    assert retrieved.id == "scripted-model"


# --- security and errors ---------------------------------------------------------------


async def test_wrong_token_is_refused_by_the_client() -> None:
    async with (
        served([]) as (_, _client, server),
        openai.AsyncOpenAI(base_url=server.url, api_key="wrong", max_retries=0) as bad,
    ):
        with pytest.raises(openai.AuthenticationError):
            await bad.chat.completions.create(model="m", messages=USER_X)
        with pytest.raises(openai.AuthenticationError):
            await bad.models.list()


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Basic " + TOKEN}, {"Authorization": "Bearer "}]
)
async def test_missing_or_malformed_authorization_gets_an_openai_style_401(
    headers: dict[str, str],
) -> None:
    async with (
        served([]) as (_, _client, server),
        aiohttp.ClientSession() as session,
        session.get(server.url + "/models", headers=headers) as response,
    ):
        status, body = response.status, await response.json()
        challenge = response.headers.get("WWW-Authenticate")
    assert status == 401 and challenge == "Bearer"
    assert body["error"]["code"] == "invalid_api_key"
    assert set(body["error"]) == {"message", "type", "param", "code"}


def _chat(**fields: Any) -> dict[str, Any]:
    return {"messages": USER_X, **fields}


NAMED_FLY = {"type": "function", "function": {"name": "fly"}}
INVALID: list[tuple[Any, str | None, str]] = [
    ({"model": "m"}, "messages", "Field required"),
    (_chat(messages=[]), "messages", "at least 1"),
    (_chat(messages=[{"role": "robot", "content": "x"}]), "messages[0].role", "system"),
    (_chat(messages=[{"role": "user"}]), "messages[0].content", "needs content"),
    (_chat(messages=[{"role": "user", "content": [{"type": "image_url"}]}]), "messages[0].content",
     "only text content parts"),
    (_chat(messages=[{"role": "tool", "tool_call_id": "nope", "content": "1"}]),
     "messages[0].tool_call_id", "answers no earlier tool call"),
    (_chat(tools=[WEATHER_TOOL], tool_choice=NAMED_FLY), "tool_choice", "unknown tool 'fly'"),
    (_chat(tool_choice="required"), "tool_choice", "requires tools"),
    (_chat(tool_choice="sometimes"), "tool_choice", "expected"),
    (_chat(temperature=5), "temperature", "less than or equal to 2"),
    (_chat(n=3), "n", "only n=1"),
    ([1, 2], None, "JSON object"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "param", "words"), INVALID)
async def test_invalid_request_is_a_400_naming_what_is_wrong(
    body: Any, param: str | None, words: str
) -> None:
    async with served([]) as (_, _client, server):
        status, reply = await raw_post(server, "/chat/completions", json.dumps(body).encode())
    assert status == 400
    error = reply["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert words in error["message"]
    if param:
        assert error["message"].startswith(param)


async def test_malformed_json_is_a_400_through_the_client_too() -> None:
    async with served([]) as (_, client, server):
        status, reply = await raw_post(server, "/chat/completions", b'{"messages": [')
        with pytest.raises(openai.BadRequestError, match=r"messages\[0\]\.role"):
            await client.chat.completions.create(
                model="m",
                messages=[{"role": "wizard", "content": "x"}],  # type: ignore[list-item]
            )
    assert status == 400
    assert reply["error"]["message"].startswith("request body is not valid JSON")


async def raw_http(server: OpenAIServer, head: bytes, body: bytes = b"") -> tuple[int, Any, str]:
    """Send bytes no HTTP client library would send; status, JSON body, content type."""
    host, port = server.url.removeprefix("http://").removesuffix("/v1").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
    length = f"Content-Length: {len(body)}\r\n".encode()
    writer.write(head + b"\r\nHost: x\r\nConnection: close\r\n" + length + b"\r\n" + body)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    header, _, payload = raw.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), json.loads(payload), fields["Content-Type"]


@pytest.mark.parametrize("credentials", [b"Bearer \xff\xfe", b"\xc3\x28 " + TOKEN.encode()])
async def test_authorization_that_is_not_utf8_is_a_401(
    credentials: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    async with served([]) as (_, _client, server):
        status, reply, kind = await raw_http(
            server, b"GET /v1/models HTTP/1.1\r\nAuthorization: " + credentials
        )
    assert (status, kind) == (401, "application/json")
    assert reply["error"]["code"] == "invalid_api_key"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.mark.parametrize("depth", [65, 2_000, 100_000])
async def test_deeply_nested_json_is_a_400(depth: int, caplog: pytest.LogCaptureFixture) -> None:
    body = b"[" * depth + b"]" * depth
    head = b"POST /v1/chat/completions HTTP/1.1\r\nAuthorization: Bearer " + TOKEN.encode()
    async with served([]) as (_, _client, server):
        status, reply, kind = await raw_http(server, head, body)
    assert (status, kind) == (400, "application/json")
    assert reply["error"]["message"] == "request body is nested more than 64 levels deep"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_a_deep_but_reasonable_tool_schema_is_served() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(28):  # 28 levels of {"type", "properties": {"x": ...}}: 58 JSON levels
        schema = {"type": "object", "properties": {"x": schema}}
    tool = {"type": "function", "function": {"name": "deep", "parameters": schema}}
    async with served([say("fine")]) as (model, client, _):
        reply = await client.chat.completions.create(model="m", messages=USER_X, tools=[tool])
    assert reply.choices[0].message.content == "fine"
    assert model.requests[0].tools[0].parameters == schema


async def test_oversized_body_and_unknown_endpoint_get_json_errors() -> None:
    async with served([], max_body_bytes=1_000) as (_, _client, server):
        big = json.dumps({"messages": [{"role": "user", "content": "x" * 5_000}]}).encode()
        too_large = await raw_post(server, "/chat/completions", big)
        unknown = await raw_post(server, "/completions", b"{}")
    assert too_large[0] == 413 and "1000 bytes" in too_large[1]["error"]["message"]
    assert unknown[0] == 404 and "unknown endpoint" in unknown[1]["error"]["message"]


def _raise(exc: Exception) -> Step:
    def step(request: ModelRequest) -> str:
        raise exc

    return step


MODEL_FAILURES = [
    (ModelError("upstream exploded\n  while decoding"), "model error: upstream exploded while decoding"),
    (RuntimeError("bug in provider"), "model failed: RuntimeError: bug in provider"),
]  # fmt: skip


@pytest.mark.parametrize(("exc", "expected"), MODEL_FAILURES)
async def test_model_failure_is_a_500_with_one_line(exc: Exception, expected: str) -> None:
    async with served([_raise(exc)]) as (_, client, _server):
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(model="m", messages=USER_X)
    assert caught.value.status_code == 500
    body: Any = caught.value.body
    assert body["message"] == expected and body["type"] == "server_error"


async def test_a_failing_model_gets_an_error_status_even_when_streaming() -> None:
    async with served([_raise(ModelError("no slot"))]) as (_, client, _server):
        with pytest.raises(openai.InternalServerError, match="model error: no slot"):
            await client.chat.completions.create(model="m", messages=USER_X, stream=True)


async def test_a_busy_model_is_a_503_with_retry_after() -> None:
    async with served([_raise(ModelBusyError("queue full"))]) as (_, client, _server):
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model="m", messages=USER_X)
    assert caught.value.status_code == 503
    assert caught.value.response.headers["Retry-After"] == "1"


async def test_slow_model_is_a_504_after_the_request_timeout() -> None:
    async def slow(request: ModelRequest) -> str:
        await asyncio.sleep(30)
        return "too late"

    async with served(slow, request_timeout_s=0.2) as (_, client, _server):
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model="m", messages=USER_X)
    assert caught.value.status_code == 504
    assert "timed out" in caught.value.message


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_non_loopback_host_is_refused_unless_allowed(host: str) -> None:
    model = ScriptedModel([])
    with pytest.raises(ValueError, match="not a loopback address"):
        OpenAIServer(model, host=host, token=TOKEN)
    OpenAIServer(model, host=host, token=TOKEN, allow_remote=True)  # explicit opt-in


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    OpenAIServer(ScriptedModel([]), host=host, token=TOKEN)


def test_a_token_is_required() -> None:
    with pytest.raises(ValueError, match="token"):
        OpenAIServer(ScriptedModel([]), token="")
