"""`nexforge serve-model`: the command in a real subprocess (proxying a mock endpoint), its
argument errors, and the real embedded model behind the server (slow)."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest
import typer
from typer.testing import CliRunner

from nexforge.cli import serve_cmd
from nexforge.core.errors import ModelNotConfiguredError
from nexforge.testing import MockOpenAIServer, MockReply, ScriptedModel

TOKEN = "test-token-0123456789"
SERVE_MODEL = "import typer; from nexforge.cli.serve_cmd import serve_model; typer.run(serve_model)"


async def _read_until_exports(stream: asyncio.StreamReader) -> list[str]:
    lines: list[str] = []
    while not lines or not lines[-1].startswith("export "):
        line = await stream.readline()
        if not line:
            raise AssertionError("serve-model exited early:\n" + "\n".join(lines))
        lines.append(line.decode().rstrip("\n"))
    return lines


async def test_serve_model_prints_a_fresh_token_and_proxies_an_openai_endpoint() -> None:
    async with MockOpenAIServer([MockReply(content="proxied hello")], model="mock-model") as mock:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEXFORGE_")}
        env["NEXFORGE_BASE_URL"] = mock.url
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SERVE_MODEL, "--model", "openai:mock-model", "--port", "0",
            env=env, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            assert process.stderr is not None
            lines = await asyncio.wait_for(_read_until_exports(process.stderr), 30)
            exports = dict(item.split("=", 1) for item in shlex.split(lines[-1])[1:])
            token = exports["NEXFORGE_API_KEY"]
            assert f"token: {token}" in lines and len(token) >= 24
            assert exports["NEXFORGE_MODEL"] == "mock-model"
            url = exports["NEXFORGE_BASE_URL"]
            assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
            async with openai.AsyncOpenAI(base_url=url, api_key=token, max_retries=0) as client:
                reply = await client.chat.completions.create(
                    model="mock-model", messages=[{"role": "user", "content": "hi"}]
                )
                with pytest.raises(openai.AuthenticationError):
                    await client.models.list(extra_headers={"Authorization": "Bearer wrong"})
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), 30)
            rest = (await process.stderr.read()).decode()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert reply.choices[0].message.content == "proxied hello"
    assert mock.requests[0]["messages"] == [{"role": "user", "content": "hi"}]
    assert code == 0, rest
    assert "stopping" in rest and "Traceback" not in rest


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(serve_cmd.serve_model)
    return app


def test_serve_model_rejects_a_bad_spec_and_a_public_host(monkeypatch: pytest.MonkeyPatch) -> None:
    bad_spec = CliRunner().invoke(_cli(), ["--model", "remote:thing"])
    assert bad_spec.exit_code == 2 and "invalid --model 'remote:thing'" in bad_spec.output
    monkeypatch.setattr(serve_cmd, "build_model", lambda spec, **_: ScriptedModel([]))
    public = CliRunner().invoke(_cli(), ["--host", "0.0.0.0"], env={"COLUMNS": "300"})
    assert public.exit_code == 2 and "not a loopback address" in public.output


def test_serve_model_reports_an_unbuildable_model_in_one_line() -> None:
    result = CliRunner().invoke(_cli(), ["--model", "/nonexistent/model.gguf"])
    assert result.exit_code == 1
    assert "no model file at /nonexistent/model.gguf" in result.output
    assert "Traceback" not in result.output


def test_build_model_proxies_openai_specs_to_the_env_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ModelNotConfiguredError, match="NEXFORGE_BASE_URL"):
        serve_cmd.build_model("openai:gpt-x")
    monkeypatch.setenv("NEXFORGE_BASE_URL", "http://127.0.0.1:9/v1")
    model = serve_cmd.build_model("openai:gpt-x")
    assert model.name == "gpt-x"


ADD_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}


@pytest.mark.slow
async def test_serve_model_command_on_the_tiny_model_with_the_openai_client(
    tiny_model_path: Path,
) -> None:
    """`nexforge serve-model --model tiny` as a real process: a schema-valid tool call, the
    tool result answered in plain text, and the same call streamed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXFORGE_")}
    env["NEXFORGE_SERVER_TOKEN"] = TOKEN
    env["NEXFORGE_HOME"] = os.environ.get("NEXFORGE_HOME", "")  # where make setup put tiny
    if not env["NEXFORGE_HOME"]:
        del env["NEXFORGE_HOME"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexforge", "serve-model", "--model", "tiny", "--port", "0",
        env=env, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    add: Any = {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two integers exactly.",
            "parameters": ADD_PARAMS,
        },
    }
    messages: list[Any] = [
        {"role": "system", "content": "You are a calculator. Use the add tool for sums."},
        {"role": "user", "content": "What is 48213 + 91772? Use the add tool."},
    ]
    try:
        assert process.stderr is not None
        lines = await asyncio.wait_for(_read_until_exports(process.stderr), 120)
        assert TOKEN not in "\n".join(lines)  # a token the user supplied is never echoed
        url = dict(item.split("=", 1) for item in shlex.split(lines[-1])[1:])["NEXFORGE_BASE_URL"]
        async with openai.AsyncOpenAI(
            base_url=url, api_key=TOKEN, max_retries=0, timeout=300
        ) as client:
            reply = await client.chat.completions.create(
                model="tiny", messages=messages, tools=[add], temperature=0, max_tokens=128
            )
            choice = reply.choices[0]
            assert choice.finish_reason == "tool_calls", choice.message
            [tool_call] = choice.message.tool_calls or []
            assert tool_call.function.name == "add"
            jsonschema.validate(json.loads(tool_call.function.arguments), ADD_PARAMS)
            followed = [
                *messages,
                choice.message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": tool_call.id, "content": "139985"},
            ]
            answer = await client.chat.completions.create(
                model="tiny", messages=followed, tools=[add], temperature=0, max_tokens=128
            )
            assert answer.choices[0].finish_reason == "stop"
            assert (answer.choices[0].message.content or "").strip()
            streamed: dict[str, str] = {"name": "", "arguments": ""}
            stream = await client.chat.completions.create(
                model="tiny",
                messages=messages,
                tools=[add],
                temperature=0,
                max_tokens=128,
                stream=True,
            )
            async for chunk in stream:
                for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                    if delta.function is not None:
                        streamed["name"] += delta.function.name or ""
                        streamed["arguments"] += delta.function.arguments or ""
        assert streamed["name"] == "add"
        jsonschema.validate(json.loads(streamed["arguments"]), ADD_PARAMS)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 60) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
