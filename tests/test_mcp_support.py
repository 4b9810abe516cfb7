"""Helpers for the MCP tests: server availability, process inspection, cleanup.

Not a test module by content; named ``test_mcp_*`` so it sits with the tests it serves.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nexforge.tools.mcp import CommandNotFoundError, resolve_command

INSTALL_HINT = "run scripts/install_mcp_servers.py"


def installed(command: str) -> bool:
    try:
        resolve_command(command, Path.cwd())
    except CommandNotFoundError:
        return False
    return True


def requires(*commands: str) -> pytest.MarkDecorator:
    missing = [c for c in commands if not installed(c)]
    return pytest.mark.skipif(
        bool(missing), reason=f"MCP server not installed: {', '.join(missing)} ({INSTALL_HINT})"
    )


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def descendants(root: int) -> list[int]:
    """Live processes below ``root`` (children, grandchildren...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        kids = [pid for pid, ppid in parents.items() if ppid == parent]
        found.extend(kids)
        frontier.extend(kids)
    return found


def server_pids(fragment: str) -> list[int]:
    """Our live child processes whose command line contains ``fragment``; for a sandboxed
    server, the server itself, not the ``unshare`` that launched it."""
    return [
        pid
        for pid in descendants(os.getpid())
        if fragment in _cmdline(pid) and Path(_cmdline(pid).split(" ", 1)[0]).name != "unshare"
    ]


def give_tree_to_owner(folder: Path) -> None:
    """Everything below ``folder`` owned by ``folder``'s owner (a run workspace's uid)."""
    owner = folder.stat()
    for path in folder.rglob("*"):
        os.lchown(path, owner.st_uid, owner.st_gid)


def wait_until(condition: object, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


def make_repo(folder: Path, message: str) -> Path:
    """A git repository in ``folder`` with one commit."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    (folder / "README.md").write_text(f"{message}\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "README.md"],
        ["commit", "-q", "-m", message],
    ):
        subprocess.run(["git", *args], cwd=folder, env=env, check=True)
    return folder


@pytest.fixture
async def close_shared() -> AsyncIterator[None]:
    """Stop this test loop's shared servers at the end, and check nothing is left running."""
    from nexforge.tools.mcp import close_shared_servers

    yield
    await close_shared_servers()
    leftovers = [p for p in descendants(os.getpid()) if "mcp-server" in _cmdline(p)]
    assert wait_until(lambda: not any(alive(p) for p in leftovers)), leftovers
