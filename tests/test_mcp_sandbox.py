"""per_run MCP servers attacked through the files the model controls in the run's workspace.

A per_run server works in the run's workspace, which the model writes. Each test plants what
the red team planted, with the real server, and checks that nothing runs or leaks beyond
what the model's own sandboxed children may do. Checks of the user switch need root.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopback import loopback_listener
from nexforge.tools import ToolOutcome, make_run_workspace
from nexforge.tools.mcp import McpConnection, McpServerConfig, call_tool, make_launch
from nexforge.tools.sandbox import child_uid_for, isolation_report
from test_mcp_support import give_tree_to_owner, make_repo, requires

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the user switch applies only as root")
SECRET = '{"type":"entity","name":"root only secret","entityType":"x","observations":[]}\n'


@pytest.fixture
def workspace() -> Iterator[Path]:
    path = make_run_workspace()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def marks() -> Iterator[Path]:
    """A folder anyone may write, outside the workspace: where planted commands leave marks."""
    path = Path(tempfile.mkdtemp(prefix="nexforge-marks-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def secret() -> Iterator[Path]:
    """A root-only file in a folder anyone may enter."""
    folder = Path(tempfile.mkdtemp(prefix="nexforge-rootonly-"))
    folder.chmod(0o755)
    path = folder / "secret.jsonl"
    path.write_text(SECRET)
    path.chmod(0o600)
    yield path
    shutil.rmtree(folder, ignore_errors=True)


def found(path: Path) -> tuple[str, int] | None:
    """A file's text and owner, or None when there is no such file (files, or a folder's
    names, one per line)."""
    if path.is_dir():
        return "\n".join(sorted(p.name for p in path.iterdir())), path.stat().st_uid
    return (path.read_text(), path.stat().st_uid) if path.exists() else None


async def calls(
    server: McpServerConfig, workspace: Path, *steps: tuple[str, dict[str, Any]]
) -> list[ToolOutcome]:
    """Start ``server`` per_run in ``workspace`` and make the calls in order."""
    assert server.command is not None
    connection = McpConnection(make_launch(server.command, server, workspace), workspace)
    try:
        await connection.start()
        return [await call_tool(connection, tool, args) for tool, args in steps]
    finally:
        await connection.aclose()


def planted_repo(workspace: Path, config: str) -> None:
    """A repository the model made (its uid owns it), with ``config`` added to .git/config,
    an executable pre-commit hook and a file to commit."""
    with tempfile.TemporaryDirectory() as scratch:  # git as root refuses the uid's folder
        shutil.copytree(make_repo(Path(scratch) / "repo", "first"), workspace, dirs_exist_ok=True)
    with (workspace / ".git" / "config").open("a") as fh:
        fh.write(config)
    hook = workspace / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nid -u > MARKS/hook\n")
    hook.chmod(0o755)
    (workspace / "new.txt").write_text("new\n")
    give_tree_to_owner(workspace)


GIT = McpServerConfig(command="mcp-server-git", args=["--repository", "."])
GIT_STEPS: list[tuple[str, dict[str, Any]]] = [
    ("git_status", {"repo_path": "."}),
    ("git_add", {"repo_path": ".", "files": ["new.txt"]}),
    ("git_commit", {"repo_path": ".", "message": "second"}),
    ("git_status", {"repo_path": "."}),
]


@requires("mcp-server-git")
async def test_planted_fsmonitor_and_hooks_do_not_run(workspace: Path, marks: Path) -> None:
    fsmonitor = f"sh -c 'id -u > {marks}/fsmonitor'"
    # core.fsmonitor runs on git status; the hooks on git_commit (GitPython runs them too).
    planted_repo(workspace, f'[core]\n\tfsmonitor = "{fsmonitor}"\n')
    hook = workspace / ".git" / "hooks" / "pre-commit"
    hook.write_text(hook.read_text().replace("MARKS", str(marks)))
    status, added, committed, after = await calls(GIT, workspace, *GIT_STEPS)
    assert not status.is_error and "new.txt" in status.content, status.content
    assert not added.is_error and not committed.is_error, (added, committed)
    assert "working tree clean" in after.content or "nothing to commit" in after.content
    assert found(marks) == ("", 0)  # nothing left a mark


@as_root
@requires("mcp-server-git")
async def test_what_repository_config_still_runs_runs_as_the_sandbox_uid(
    workspace: Path, marks: Path
) -> None:
    # A clean filter is a command git add runs (the CLI's): not disabled, but it is the model's
    # own uid that runs it, without network, unable to write root's files.
    probe = f"id -u > {marks}/filter; echo x > /etc/nexforge-pwned; cat"
    planted_repo(workspace, f'[filter "probe"]\n\tclean = "sh -c \'{probe}\'"\n')
    (workspace / ".gitattributes").write_text("*.txt filter=probe\n")
    give_tree_to_owner(workspace)
    await calls(GIT, workspace, ("git_add", {"repo_path": ".", "files": ["."]}))
    ran_as = found(marks / "filter")
    assert ran_as is not None and ran_as[0].split() == [str(child_uid_for(workspace))]
    assert ran_as[0].split() != ["0"] and found(Path("/etc/nexforge-pwned")) is None


@as_root
@requires("mcp-server-memory")
async def test_memory_server_does_not_follow_a_planted_link_to_roots_file(
    workspace: Path, secret: Path
) -> None:
    (workspace / "memory.jsonl").symlink_to(secret)
    os.lchown(workspace / "memory.jsonl", *(2 * [child_uid_for(workspace)]))
    memory = McpServerConfig(
        command="mcp-server-memory", env={"MEMORY_FILE_PATH": "${workspace}/memory.jsonl"}
    )
    entity = {"name": "bob", "entityType": "person", "observations": ["x"]}
    read, created = await calls(
        memory, workspace, ("read_graph", {}), ("create_entities", {"entities": [entity]})
    )
    for outcome in (read, created):
        assert "root only secret" not in outcome.content and '"type"' not in outcome.content
    assert read.is_error and "permission denied" in read.content.lower(), read.content
    assert found(secret) == (SECRET, 0)


PROBE_SERVER = """#!PYTHON
import asyncio, json, os, socket
from mcp.server.mcpserver import MCPServer

def probe(port: int) -> str:
    try:
        socket.create_connection(("127.0.0.1", port), 2).close()
        reached = True
    except OSError:
        reached = False
    return json.dumps({"uid": os.getuid(), "reached": reached, "shm": os.listdir("/dev/shm")})

server = MCPServer(name="probe")
server.add_tool(probe, name="probe", description="probe", structured_output=False)
asyncio.run(server.run_stdio_async())
"""


@pytest.fixture
def probe_server(tmp_path: Path) -> str:
    """An MCP server reporting its uid, whether it reaches a loopback port, and /dev/shm.
    In pytest's own folder, which the sandbox uid may not enter."""
    tmp_path.chmod(0o755)  # the server's own folder must be readable; the ones above need not
    path = tmp_path / "probe_server.py"
    path.write_text(PROBE_SERVER.replace("PYTHON", sys.executable))
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("network", [False, True])
async def test_a_per_run_server_runs_in_the_runs_sandbox(
    workspace: Path, probe_server: str, network: bool
) -> None:
    report = await isolation_report()
    if not (report.network_isolated and report.private_shm):
        pytest.skip("no network and mount namespaces here (see nexforge doctor)")
    async with loopback_listener() as (port, accepted):
        server = McpServerConfig(command=probe_server, network=network)
        (outcome,) = await calls(server, workspace, ("probe", {"port": port}))
    found = json.loads(outcome.content)
    assert found["reached"] is network and accepted.is_set() is network
    assert found["shm"] == []  # its own /dev/shm
    if os.geteuid() == 0:
        assert found["uid"] == child_uid_for(workspace) != 0
