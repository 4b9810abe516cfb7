"""``mcp list`` and ``serve-mcp`` (driven by an MCP client over stdio), and process cleanup
when a program ends its event loop without closing its servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from nexforge.cli.mcp_cmd import mcp_app
from nexforge.testing import MockOpenAIServer, MockReply
from test_mcp_support import alive, requires, wait_until

TIME_AGENT = """
name: clock
description: Tells the time anywhere.
system_prompt: You tell the time.
mcp_servers:
  time: {command: mcp-server-time, scope: shared}
tools:
  - mcp: time
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@requires("mcp-server-time")
def test_mcp_list_prints_tools_with_schemas(tmp_path: Path) -> None:
    config = write(tmp_path / "clock.yaml", TIME_AGENT)

    shown = CliRunner().invoke(mcp_app, ["list", str(config)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "get_current_time" in shown.output
    assert '"timezone"' in shown.output

    as_json = CliRunner().invoke(mcp_app, ["list", str(config), "--json"])
    assert as_json.exit_code == 0, as_json.output
    (server,) = json.loads(as_json.stdout)["servers"]
    assert server["server"] == "time"
    assert server["scope"] == "shared"
    tools = {t["name"]: t for t in server["tools"]}
    assert tools["convert_time"]["input_schema"]["required"] == [
        "source_timezone",
        "time",
        "target_timezone",
    ]
    assert tools["get_current_time"]["read_only"] is True


@requires("mcp-server-time")
def test_mcp_list_reports_an_unknown_tool(tmp_path: Path) -> None:
    config = write(tmp_path / "clock.yaml", TIME_AGENT.replace("- mcp: time", "- mcp: time/nope"))
    shown = CliRunner().invoke(mcp_app, ["list", str(config), "--json"])
    assert shown.exit_code == 1
    report = json.loads(shown.stdout)
    assert "no tool 'nope'" in report["error"]
    assert "clock.yaml:7" in report["error"]


@requires("mcp-server-time")
async def test_serve_mcp_exposes_the_agent_to_an_mcp_client(tmp_path: Path) -> None:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    config = write(tmp_path / "clock.yaml", TIME_AGENT)
    strict = write(
        tmp_path / "hasty.yaml",
        TIME_AGENT.replace("name: clock", "name: hasty") + "limits: {max_steps: 1}\n",
    )
    replies = [
        MockReply(tool_calls=[{"name": "get_current_time", "arguments": {"timezone": "UTC"}}]),
        MockReply(content="It is late in UTC."),
        MockReply(tool_calls=[{"name": "get_current_time", "arguments": {"timezone": "UTC"}}]),
    ]
    async with MockOpenAIServer(replies) as mock:
        env = {
            "NEXFORGE_BASE_URL": mock.url,
            "NEXFORGE_MODEL": "mock-model",
            "NEXFORGE_API_KEY": "test-key",
            **{k: v for k, v in os.environ.items() if k == "NEXFORGE_HOME"},
        }
        args = ["-m", "nexforge.cli.mcp_cmd", "serve-mcp", str(config), str(strict)]
        params = StdioServerParameters(command=sys.executable, args=args, env=env)
        # errlog given explicitly: the SDK's default is the sys.stderr of its import time,
        # which may be a CliRunner capture when another test imported it first.
        errlog = (tmp_path / "serve-mcp.stderr").open("w+")
        async with (
            stdio_client(params, errlog=errlog) as (read, write_),
            ClientSession(read, write_) as session,
        ):
            await session.initialize()
            listed = {t.name: t for t in (await session.list_tools()).tools}
            assert set(listed) == {"clock", "hasty"}
            assert listed["clock"].description == "Tells the time anywhere."
            assert listed["clock"].input_schema["required"] == ["task"]

            answer = await session.call_tool("clock", {"task": "What time is it in UTC?"})
            assert not answer.is_error
            assert answer.content[0].text == "It is late in UTC."

            failed = await session.call_tool("hasty", {"task": "What time is it?"})
            assert failed.is_error
            assert "stopped (max_steps)" in failed.content[0].text
        # The agent's model call carried the time server's tool result.
        tool_messages = [m for m in mock.requests[1]["messages"] if m["role"] == "tool"]
        assert '"timezone": "UTC"' in tool_messages[0]["content"]


@requires("mcp-server-time")
def test_servers_end_with_a_program_that_never_closes_them(tmp_path: Path) -> None:
    # asyncio.run cancels the owner tasks at the end; the SDK's shielded shutdown must still
    # stop the server processes.
    config = write(tmp_path / "clock.yaml", TIME_AGENT)
    script = f"""
import asyncio, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_mcp_support import server_pids
from nexforge.runtime.config import load_agent
from nexforge.testing import ScriptedModel, call, say

async def main():
    agent = load_agent({str(config)!r})
    model = ScriptedModel([call("get_current_time", timezone="UTC"), say("ok")])
    result = await agent.arun("time?", model=model)
    assert result.final_output == "ok", result
    print(*server_pids("mcp-server-time"))

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    pids = [int(p) for p in done.stdout.split()]
    assert len(pids) == 1
    assert wait_until(lambda: not any(alive(p) for p in pids))


def test_serve_mcp_answers_unreadable_lines_with_json_rpc_errors(tmp_path: Path) -> None:
    config = write(tmp_path / "helper.yaml", "name: helper\nsystem_prompt: You help.\n")
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    sent = [
        "this is not json",
        "",  # a blank line is no message: no reply
        '{"jsonrpc": "2.0", "id": 7, "method": 3}',
        "[" * 100_000,
        "\udcff{ garbage",
        json.dumps(initialize),
    ]
    server = subprocess.Popen(
        [sys.executable, "-m", "nexforge", "serve-mcp", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        stdin = "".join(line + "\n" for line in sent).encode("utf-8", "surrogateescape")
        stdout, stderr = server.communicate(stdin, timeout=60)
    finally:
        server.kill()
    replies = [json.loads(line) for line in stdout.decode().splitlines()]

    parse_error = {"code": -32700, "message": "Parse error: the line is not valid JSON"}
    invalid = {"code": -32600, "message": "Invalid Request: not a JSON-RPC message"}
    assert replies[:4] == [
        {"jsonrpc": "2.0", "id": None, "error": parse_error},
        {"jsonrpc": "2.0", "id": 7, "error": invalid},
        {"jsonrpc": "2.0", "id": None, "error": parse_error},
        {"jsonrpc": "2.0", "id": None, "error": parse_error},
    ]
    assert replies[4]["id"] == 1 and replies[4]["result"]["serverInfo"]["name"] == "nexforge"
    assert len(replies) == 5
    assert server.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
