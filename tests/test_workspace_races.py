"""The file tools against the run's own sandboxed child, racing them with FIFOs and link swaps.

The file tools run in this process (as root in CI) while the child of the same run changes
the workspace under them. Each attack here is the real thing: a real sandboxed child (via
run_python / run_shell) and the real built-ins through execute_tool, many times over. The
secret is a root-only file the child may link to but never read.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nexforge.testing import MockOpenAIServer, MockReply
from nexforge.tools import ToolContext, ToolOutcome, execute_tool, make_builtin, make_run_workspace
from nexforge.tools import workspace as workspace_module
from procfs import until
from run_cli import nexforge

SECRET = "root only: the child must never see this"
VICTIM = "root's file, never to be written by a tool\n"
MARKER = "only-in-roots-folder"  # a name list_dir must never show
FIFO_ATTACKS = 10


@pytest.fixture(params=["openat2", "per-component"])
def ctx(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[ToolContext]:
    """A run workspace; its file tools confined by openat2, or (as on kernels without it)
    by one O_NOFOLLOW open per component."""
    if request.param == "per-component":
        monkeypatch.setattr(workspace_module, "_openat2_syscall", lambda: None)
    elif workspace_module._openat2_syscall() is None:
        pytest.skip("this kernel has no openat2 (the per-component variant still runs)")
    path = make_run_workspace()
    yield ToolContext(workspace=path, run_id="race")
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def root_dir() -> Iterator[Path]:
    """A root-owned folder anyone may enter: a 0600 secret, a 0644 victim and a marker."""
    path = Path(tempfile.mkdtemp(prefix="nexforge-rootonly-"))
    path.chmod(0o755)
    (path / MARKER).touch()
    (path / "secret.txt").write_text(SECRET + "\n")
    (path / "secret.txt").chmod(0o600)
    (path / "victim.txt").write_text(VICTIM)
    (path / "victim.txt").chmod(0o644)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def call(name: str, ctx: ToolContext, **args: Any) -> ToolOutcome:
    return await execute_tool(make_builtin(name, {"timeout_s": 30}), args, ctx)


def untouched(root_dir: Path) -> bool:
    """Root's files kept their owner and content, and nothing was added beside them."""
    names = sorted(p.name for p in root_dir.iterdir())
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in root_dir.iterdir()}
    return (
        names == sorted(["secret.txt", "victim.txt", MARKER])
        and owners == {(0, 0)}
        and (root_dir / "secret.txt").read_text() == SECRET + "\n"
        and (root_dir / "victim.txt").read_text() == VICTIM
        and (root_dir / MARKER).read_text() == ""
    )


# The child's half of the reported read attack: once read_file has the FIFO open (a reader
# lets our non-blocking open for writing succeed), write harmless text, put the link to the
# secret in the FIFO's place, and close, so a tool that now reopens "a" by name reads it.
FIFO_READ_SWAP = """
import errno, os, time
deadline = time.monotonic() + 1
while True:
    try:
        fd = os.open("a", os.O_WRONLY | os.O_NONBLOCK)
        break
    except OSError as exc:
        if exc.errno != errno.ENXIO or time.monotonic() > deadline:
            raise SystemExit("read_file never opened the FIFO")
        time.sleep(0.001)
os.write(fd, b"harmless text\\n")
os.rename("l", "a")
os.close(fd)
print("swapped")
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="the file tools only hold more rights as root")
async def test_fifo_then_link_swap_does_not_lead_read_file_outside(
    ctx: ToolContext, root_dir: Path
) -> None:
    leaks = 0
    for _ in range(FIFO_ATTACKS):
        setup = f"rm -f a l; mkfifo a && ln -s {root_dir}/secret.txt l"
        assert (await call("run_shell", ctx, command=setup)).content == "exit code: 0\n(no output)"
        read, _ = await asyncio.gather(
            call("read_file", ctx, path="a"), call("run_python", ctx, code=FIFO_READ_SWAP)
        )
        leaks += SECRET in read.content
        assert read.is_error and "not a regular file" in read.content, read.content
    assert leaks == 0
    assert untouched(root_dir)


# The write attack: write_file waits on a FIFO "d/secret.txt"; meanwhile the child moves
# "d" away, links "d" to root's folder, then opens the FIFO (so the write goes through).
# A tool that then hands "d/secret.txt" to the workspace owner by name hands root's file.
FIFO_WRITE_SWAP = """
import os, time
time.sleep(0.3)  # write_file is now blocked opening the FIFO (or has refused it)
os.rename("d", "d_old")
os.symlink("ROOT_DIR", "d")
fd = os.open("d_old/secret.txt", os.O_RDONLY | os.O_NONBLOCK)
time.sleep(0.3)
os.close(fd)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="ownership hand-over applies only as root")
async def test_fifo_then_parent_swap_does_not_hand_roots_file_to_the_child(
    ctx: ToolContext, root_dir: Path
) -> None:
    swap = FIFO_WRITE_SWAP.replace("ROOT_DIR", str(root_dir))
    for _ in range(FIFO_ATTACKS):
        setup = "rm -rf d d_old; mkdir d && mkfifo d/secret.txt"
        assert (await call("run_shell", ctx, command=setup)).content == "exit code: 0\n(no output)"
        wrote, _ = await asyncio.gather(
            call("write_file", ctx, path="d/secret.txt", content="pwned\n"),
            call("run_python", ctx, code=swap),
        )
        assert wrote.is_error and "not a regular file" in wrote.content, wrote.content
        assert untouched(root_dir)
    # What the next run_shell would do with a file handed over: it must fail.
    overwrite = await call("run_shell", ctx, command=f"echo pwned > {root_dir}/secret.txt")
    assert "Permission denied" in overwrite.content
    assert untouched(root_dir)


# The flip-flop: for SECONDS the child swaps, atomically and as fast as it can, "f" between
# a harmless file and a link to the secret, and "d" between a harmless folder and a link to
# root's folder. Every answer the tools give meanwhile is checked.
FLIP_FLOP = """
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
def exchange(a, b):  # renameat2(RENAME_EXCHANGE): both names always exist
    if libc.renameat2(-100, a.encode(), -100, b.encode(), 2) != 0:
        raise OSError(ctypes.get_errno(), "renameat2")
with open("f", "w") as fh:
    fh.write("harmless text\\n")
os.symlink("ROOT_DIR/secret.txt", "f_swap")
os.mkdir("d")
with open("d/harmless.txt", "w") as fh:
    fh.write("harmless text\\n")
os.symlink("ROOT_DIR", "d_swap")
with open("ready", "w"):
    pass
swaps, end = 0, time.monotonic() + SECONDS
while time.monotonic() < end:
    exchange("f", "f_swap")
    exchange("d", "d_swap")
    swaps += 1
print(swaps)
"""
ATTEMPTS: list[tuple[str, dict[str, str]]] = [
    ("read_file", {"path": "f"}),
    ("read_file", {"path": "d/secret.txt"}),
    ("read_file", {"path": "d/harmless.txt"}),
    ("list_dir", {"path": "d"}),
    ("search_files", {"pattern": "root only", "path": "."}),
    ("search_files", {"pattern": "root only", "path": "d"}),
    ("write_file", {"path": "f", "content": "pwned\n"}),
    ("write_file", {"path": "d/victim.txt", "content": "pwned\n"}),
    ("write_file", {"path": "d/new.txt", "content": "pwned\n"}),
]


@pytest.mark.skipif(os.geteuid() != 0, reason="the file tools only hold more rights as root")
async def test_link_swaps_racing_every_file_tool_never_lead_outside(
    ctx: ToolContext, root_dir: Path
) -> None:
    flip_flop = FLIP_FLOP.replace("ROOT_DIR", str(root_dir)).replace("SECONDS", "8")
    child = asyncio.create_task(call("run_python", ctx, code=flip_flop))
    ready = ctx.workspace / "ready"
    assert await until(lambda: ready.exists() or child.done())
    tries: Counter[str] = Counter()
    leaks: Counter[str] = Counter()
    while not child.done():
        for tool, args in ATTEMPTS:
            outcome = await call(tool, ctx, **args)
            tries[tool] += 1
            # The secret's text, or a name only root's folder holds.
            leaks[tool] += SECRET in outcome.content or MARKER in outcome.content
    swaps = (await child).content
    assert swaps.startswith("exit code: 0"), swaps
    assert sum(tries.values()) > 100 and int(swaps.split()[-1]) > 100  # both really raced
    assert sum(leaks.values()) == 0, (leaks, tries)
    assert untouched(root_dir)


# --- the same attacks through `nexforge run` (a run workspace of its own, no --workspace) ---

ATTACKER = """
name: attacker
system_prompt: You do what you are asked.
tools:
  - builtin: read_file
  - builtin: run_shell
  - builtin: run_python
limits: {max_steps: 6, max_parallel_tools: 8}
"""


def scripted(steps: list[list[dict[str, Any]]]) -> MockOpenAIServer:
    """A model server answering the n-th request with the n-th list of calls, then "done"."""

    def respond(request: dict[str, Any]) -> MockReply:
        done = sum(m["role"] == "assistant" for m in request["messages"])
        return MockReply(tool_calls=steps[done]) if done < len(steps) else MockReply("done")

    return MockOpenAIServer(responder=respond)


def run_attack(tmp_path: Path, steps: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """``nexforge run`` of the attacker on a scripted model; the tool messages it got."""
    agent = tmp_path / "attacker.yaml"
    agent.write_text(ATTACKER)
    with scripted(steps) as model:
        env = {"NEXFORGE_BASE_URL": model.url, "NEXFORGE_MODEL": "mock-model"}
        proc = nexforge("run", str(agent), "go", "--json", env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["stop_reason"] == "completed", payload["stop_reason"]
    (episode,) = payload["trajectory"]["episodes"]
    return [m for m in episode["messages"] if m["role"] == "tool"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the file tools only hold more rights as root")
def test_the_reported_race_through_nexforge_run(tmp_path: Path, root_dir: Path) -> None:
    setup = f"mkfifo a && ln -s {root_dir}/secret.txt l"
    steps = [
        [{"name": "run_shell", "arguments": {"command": setup}}],
        [
            {"name": "run_python", "arguments": {"code": FIFO_READ_SWAP}},
            {"name": "read_file", "arguments": {"path": "a"}},
        ],
    ]
    for _ in range(3):  # as often as the red team ran it
        results = run_attack(tmp_path, steps)
        read = next(m for m in results if m["name"] == "read_file")
        assert read["is_error"] and "not a regular file" in read["content"], read
        assert not [m for m in results if SECRET in m["content"]]


def test_read_file_on_fifos_does_not_hang_the_run(tmp_path: Path) -> None:
    # Eight reads of a FIFO nobody writes used to take every worker of the default
    # executor and keep `nexforge run` from exiting.
    reads = [{"name": "read_file", "arguments": {"path": "f"}}] * 8
    steps = [[{"name": "run_shell", "arguments": {"command": "mkfifo f"}}], reads]
    results = run_attack(tmp_path, steps)
    refused = [m for m in results if m["name"] == "read_file"]
    assert len(refused) == 8
    assert all(m["is_error"] and "not a regular file" in m["content"] for m in refused)
