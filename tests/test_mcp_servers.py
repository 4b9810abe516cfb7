"""Each real MCP server through McpConnection: list, call, error, timeout, crash, shutdown."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nexforge.tools import make_run_workspace
from nexforge.tools.mcp import McpConnection, McpServerConfig, ServerLaunch, call_tool, make_launch
from test_mcp_support import (
    alive,
    descendants,
    give_tree_to_owner,
    make_repo,
    requires,
    server_pids,
    wait_until,
)


@dataclass
class Case:
    """How to run one server, one call that works and one that fails."""

    command: str
    make: Callable[[Path], tuple[McpServerConfig, Path]]
    tools: set[str]
    good: tuple[str, dict[str, Any], str]
    bad: tuple[str, dict[str, Any], str]


def _time(tmp: Path) -> tuple[McpServerConfig, Path]:
    return McpServerConfig(command="mcp-server-time", scope="shared"), tmp


def _git(tmp: Path) -> tuple[McpServerConfig, Path]:
    repo = make_repo(tmp / "repo", "first commit")
    return McpServerConfig(command="mcp-server-git", args=["--repository", "."]), repo


def _filesystem(tmp: Path) -> tuple[McpServerConfig, Path]:
    root = tmp / "files"
    root.mkdir()
    (root / "hello.txt").write_text("hello from the filesystem server")
    return McpServerConfig(command="mcp-server-filesystem", args=["${workspace}"]), root


def _memory(tmp: Path) -> tuple[McpServerConfig, Path]:
    env = {"MEMORY_FILE_PATH": "${workspace}/memory.jsonl"}
    return McpServerConfig(command="mcp-server-memory", env=env), tmp


ALICE = [{"name": "alice", "entityType": "person", "observations": ["likes tea"]}]
CASES = {
    "time": Case(
        "mcp-server-time",
        _time,
        {"get_current_time", "convert_time"},
        ("get_current_time", {"timezone": "UTC"}, '"timezone": "UTC"'),
        ("get_current_time", {"timezone": "Nowhere/Atlantis"}, "Invalid timezone"),
    ),
    "git": Case(
        "mcp-server-git",
        _git,
        {"git_status", "git_log", "git_commit", "git_add"},
        ("git_log", {"repo_path": "."}, "first commit"),
        ("git_log", {"repo_path": "/"}, "outside the allowed repository"),
    ),
    "filesystem": Case(
        "mcp-server-filesystem",
        _filesystem,
        {"read_text_file", "write_file", "list_directory"},
        ("read_text_file", {"path": "hello.txt"}, "hello from the filesystem server"),
        ("read_text_file", {"path": "/etc/hostname"}, "Access denied"),
    ),
    "memory": Case(
        "mcp-server-memory",
        _memory,
        {"create_entities", "read_graph", "search_nodes"},
        ("create_entities", {"entities": ALICE}, "alice"),
        ("create_entities", {"entities": "not a list"}, "entities"),
    ),
}


def _params() -> list[Any]:
    return [pytest.param(name, marks=requires(c.command), id=name) for name, c in CASES.items()]


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """A run workspace: per_run servers run sandboxed as its uid, so it must be theirs."""
    path = make_run_workspace()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _connect(case: Case, run_dir: Path, **overrides: Any) -> McpConnection:
    config, workspace = case.make(run_dir)
    give_tree_to_owner(run_dir)
    launch: ServerLaunch = make_launch(case.command, config.model_copy(update=overrides), run_dir)
    return McpConnection(launch, workspace=workspace)


@pytest.mark.parametrize("name", _params())
async def test_list_call_error_timeout(name: str, run_dir: Path) -> None:
    case = CASES[name]
    connection = _connect(case, run_dir)
    try:
        tools = await connection.start()
        assert case.tools <= {t.name for t in tools}
        assert all(t.input_schema.get("type") == "object" for t in tools)

        tool, args, expected = case.good
        outcome = await call_tool(connection, tool, args)
        assert not outcome.is_error, outcome.content
        assert expected in outcome.content

        tool, args, expected = case.bad
        outcome = await call_tool(connection, tool, args)
        assert outcome.is_error
        assert expected in outcome.content

        # A call that cannot finish in time fails alone; the connection keeps working.
        tool, args, _ = case.good
        with pytest.raises(Exception, match="did not answer"):
            await connection.call(tool, args, timeout_s=0.0001)
        assert not (await call_tool(connection, tool, args)).is_error
    finally:
        await connection.aclose()


@pytest.mark.parametrize("name", _params())
async def test_crash_is_restarted_once_then_fails(name: str, run_dir: Path) -> None:
    case = CASES[name]
    connection = _connect(case, run_dir)
    tool, args, _ = case.good
    try:
        await connection.start()
        (pid,) = server_pids(case.command)

        # Freeze the server so the call is surely in flight when it dies.
        os.kill(pid, signal.SIGSTOP)
        in_flight = asyncio.create_task(call_tool(connection, tool, args))
        await asyncio.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        outcome = await in_flight
        assert outcome.is_error
        assert "crashed during the call" in outcome.content

        # The next call runs on a restarted server.
        outcome = await call_tool(connection, tool, args)
        assert not outcome.is_error, outcome.content
        assert connection.restarts == 1
        (new_pid,) = server_pids(case.command)
        assert new_pid != pid

        # A second crash marks the server failed, with a clear reason.
        os.kill(new_pid, signal.SIGKILL)
        await asyncio.to_thread(wait_until, lambda: connection.failure is not None)
        outcome = await call_tool(connection, tool, args)
        assert outcome.is_error
        assert "crashed twice" in outcome.content
    finally:
        await connection.aclose()


@pytest.mark.parametrize("name", _params())
async def test_close_leaves_no_processes(name: str, run_dir: Path) -> None:
    case = CASES[name]
    connection = _connect(case, run_dir)
    await connection.start()
    pids = server_pids(case.command)
    assert len(pids) == 1
    tree = [*pids, *descendants(pids[0])]

    await connection.aclose()

    assert await asyncio.to_thread(wait_until, lambda: not any(alive(p) for p in tree))
    assert server_pids(case.command) == []
    outcome = await call_tool(connection, *case.good[:2])
    assert outcome.is_error
    assert "closed" in outcome.content


@requires("mcp-server-git")
async def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    config = McpServerConfig(command="mcp-server-git", args=["--repository", "."])
    connection = McpConnection(make_launch("git", config, tmp_path), workspace=tmp_path)
    with pytest.raises(Exception, match="not a valid Git repository"):
        await connection.start()
    outcome = await call_tool(connection, "git_log", {"repo_path": "."})
    assert outcome.is_error
    assert "not a valid Git repository" in outcome.content
