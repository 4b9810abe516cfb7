"""Escape attempts through the real built-ins (make_builtin + execute_tool) on a real workspace.

Each test is one attack: together they pin what the sandbox guarantees and, as strict xfails,
the gaps it leaves (see ``nexforge.tools.sandbox``). Checks of the privilege drop need root.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from loopback import loopback_listener
from nexforge.tools import ToolContext, ToolOutcome, execute_tool, make_builtin, make_run_workspace
from nexforge.tools.sandbox import SANDBOX_UID, SHM_BYTES, child_uid_for, isolation_report
from procfs import marked, until

SECRETS = {"NEXFORGE_API_KEY": "nf-1", "OPENAI_API_KEY": "sk-2", "AWS_SECRET_ACCESS_KEY": "aws-3"}
SOURCE_ARG = {"run_shell": "command", "run_python": "code"}
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop applies only as root")


@pytest.fixture
def ctx() -> Iterator[ToolContext]:
    path = make_run_workspace()
    yield ToolContext(workspace=path, run_id="escape")
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def tmp_names() -> Iterator[tuple[str, str]]:
    """An empty root-owned 0644 file in /tmp, and a free name there; both removed after."""
    child = Path(f"/tmp/nexforge-escape-{os.getpid()}")
    with tempfile.NamedTemporaryFile("w", dir="/tmp", prefix="nexforge-root-") as fh:
        Path(fh.name).chmod(0o644)
        yield fh.name, str(child)
    child.unlink(missing_ok=True)


@pytest.fixture
def root_dir() -> Iterator[Path]:
    """A root-owned directory anyone may enter and read, but only its owner write."""
    path = Path(tempfile.mkdtemp(prefix="nexforge-rootonly-"))
    path.chmod(0o755)
    (path / "secret.txt").write_text("root only\n")
    (path / "secret.txt").chmod(0o600)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def call(
    name: str, ctx: ToolContext, options: dict[str, Any] | None = None, **args: Any
) -> ToolOutcome:
    return await execute_tool(make_builtin(name, options), args, ctx)


async def shell(ctx: ToolContext, command: str, **options: Any) -> ToolOutcome:
    return await call("run_shell", ctx, {"timeout_s": 20, **options}, command=command)


async def python(ctx: ToolContext, code: str, **options: Any) -> ToolOutcome:
    return await call("run_python", ctx, {"timeout_s": 20, **options}, code=code)


def stdout(outcome: ToolOutcome) -> str:
    _, _, rest = outcome.content.partition("--- stdout ---\n")
    return rest.partition("\n--- stderr ---")[0]


def processes() -> list[tuple[int, int, int, int, bool]]:
    """(pid, real uid, pgid, session, alive) per process in /proc; zombies are not alive."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, _, pgid, sid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:4]
            uid = (entry / "status").read_text().split("\nUid:", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # not a process, or it exited while we looked
        found.append((int(entry.name), int(uid), int(pgid), int(sid), state != "Z"))
    return found


def lstat(path: str) -> os.stat_result | None:
    with contextlib.suppress(FileNotFoundError):
        return Path(path).lstat()
    return None


def sandbox_pids(child_uid: int = SANDBOX_UID) -> list[int]:
    return [pid for pid, uid, *_, alive in processes() if alive and uid == child_uid]


# --- the file tools: confined to the workspace by real path ---------------------------


@pytest.mark.parametrize(
    "path", ["../escape.txt", "/etc/passwd", "a/../../escape.txt", "a/b/../../.."]
)
@pytest.mark.parametrize("tool", ["read_file", "write_file", "list_dir"])
async def test_traversal_is_refused(ctx: ToolContext, tool: str, path: str) -> None:
    (ctx.workspace / "a" / "b").mkdir(parents=True)
    args = {"path": path, "content": "x"} if tool == "write_file" else {"path": path}
    outcome = await call(tool, ctx, **args)
    assert outcome.is_error and "escapes the workspace" in outcome.content
    assert not (ctx.workspace.parent / "escape.txt").exists()


async def test_symlinks_pointing_outside_are_refused(ctx: ToolContext, root_dir: Path) -> None:
    (ctx.workspace / "file_link").symlink_to(root_dir / "secret.txt")
    (ctx.workspace / "dir_link").symlink_to(root_dir)
    for tool, args in [
        ("read_file", {"path": "file_link"}),
        ("write_file", {"path": "file_link", "content": "pwned"}),
        ("write_file", {"path": "dir_link/new.txt", "content": "pwned"}),
        ("list_dir", {"path": "dir_link"}),
    ]:
        outcome = await call(tool, ctx, **args)
        assert outcome.is_error and "escapes the workspace" in outcome.content, (tool, args)
    assert (root_dir / "secret.txt").read_text() == "root only\n"
    assert not (root_dir / "new.txt").exists()


@as_root
async def test_links_planted_by_the_child_do_not_lend_root_file_access(
    ctx: ToolContext, root_dir: Path
) -> None:
    # The file tools run as root; the child must not be able to point them at root's files.
    planted = await shell(
        ctx, f"ln -s {root_dir} tree; ln -s /root home; ln {root_dir}/secret.txt hard"
    )
    assert "Operation not permitted" in planted.content  # fs.protected_hardlinks
    assert not (ctx.workspace / "hard").exists()
    for tool, path in [("read_file", "tree/secret.txt"), ("list_dir", "home")]:
        outcome = await call(tool, ctx, path=path)
        assert outcome.is_error and "escapes the workspace" in outcome.content


# --- writing outside the workspace from the child -----------------------------------------


@as_root
@pytest.mark.parametrize("tool", ["run_shell", "run_python"])
async def test_child_cannot_write_outside_world_writable_places(
    ctx: ToolContext, root_dir: Path, tool: str
) -> None:
    for target in ["/etc/escape", "/root/escape", f"{root_dir}/escape", "/usr/bin/escape"]:
        if tool == "run_shell":
            outcome = await shell(ctx, f"echo pwned > {target}")
        else:
            outcome = await python(ctx, f"open({target!r}, 'w').write('pwned')")
        assert "exit code: 1" in outcome.content, target
        assert "Permission denied" in outcome.content, target
        assert not lstat(target), target
    # ...nor overwrite root's files, nor step out into a root-owned parent.
    overwrite = await shell(ctx, f"echo pwned > {root_dir}/secret.txt")
    assert "Permission denied" in overwrite.content
    assert (root_dir / "secret.txt").read_text() == "root only\n"


@as_root
async def test_world_writable_tmp_is_writable_but_roots_files_there_are_not(
    ctx: ToolContext, tmp_names: tuple[str, str]
) -> None:
    # Not contained: /tmp is world-writable. Guaranteed: what the child leaves there is
    # nobody's, and the sticky bit keeps it off root's files.
    victim, name = tmp_names
    outcome = await shell(ctx, f"echo x > {name}; echo y > {victim}; rm -f {victim}")
    assert "Permission denied" in outcome.content and "Operation not permitted" in outcome.content
    made, kept = lstat(name), lstat(victim)
    assert made is not None and made.st_uid == child_uid_for(ctx.workspace) != 0
    assert kept is not None and kept.st_size == 0


@as_root
async def test_child_cannot_write_into_another_runs_workspace(ctx: ToolContext) -> None:
    other = make_run_workspace()
    try:
        await shell(ctx, f"echo pwned > {other}/planted")
        assert not (other / "planted").exists()
    finally:
        shutil.rmtree(other, ignore_errors=True)


# --- secrets of the parent -----------------------------------------------------------------


async def test_child_environment_holds_no_secrets(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    via_shell = await shell(ctx, "env; cat /proc/self/environ")
    via_python = await python(
        ctx, "import os; print(os.environ, open('/proc/self/environ').read())"
    )
    for outcome in (via_shell, via_python):
        assert "exit code: 0" in outcome.content and "PATH=" in outcome.content
        assert not [v for v in SECRETS.values() if v in outcome.content], outcome.content


# Child-side: run each attempt, print its label and "ok" or the exception's name.
ATTEMPT = (
    "import ctypes, os\n"
    "def attempt(label, fn):\n"
    "    try:\n"
    "        print(label, fn() or 'ok')\n"
    "    except OSError as exc:\n"
    "        print(label, type(exc).__name__)\n"
)


@as_root
async def test_child_cannot_read_root_processes_environ(ctx: ToolContext) -> None:
    # /proc/<pid>/environ shows the exec-time environment, which monkeypatch does not
    # reach, so a root helper started with the secrets is attacked as well.
    helper = await asyncio.create_subprocess_exec("sleep", "60", env=SECRETS)
    pids = (os.getpid(), helper.pid, 1)
    try:
        environ = Path(f"/proc/{helper.pid}/environ")
        assert await until(lambda: "nf-1" in environ.read_text())  # so the test can fail
        probe = f"for p in {pids}:\n    attempt(p, lambda: open(f'/proc/{{p}}/environ').read())"
        outcome = await python(ctx, ATTEMPT + probe)
    finally:
        helper.kill()
        await helper.wait()
    assert stdout(outcome).splitlines() == [f"{pid} PermissionError" for pid in pids]


@as_root
async def test_child_cannot_ptrace_or_read_the_parent(ctx: ToolContext) -> None:
    # NexForge's own pid, as the host sees it (in a PID namespace the child's getppid() is 0).
    code = ATTEMPT + (
        f"libc, ppid = ctypes.CDLL(None, use_errno=True), {os.getpid()}\n"
        "print(libc.ptrace(16, ppid, None, None), os.strerror(ctypes.get_errno()))\n"  # ATTACH
        "attempt('mem', lambda: open(f'/proc/{ppid}/mem', 'rb').close())\n"
        "attempt('fd', lambda: os.listdir(f'/proc/{ppid}/fd'))\n"
    )
    outcome = await python(ctx, code)
    ptrace, mem, fd = stdout(outcome).splitlines()
    # Refused either way: not permitted, or (in a PID namespace) not even visible.
    assert ptrace in {"-1 Operation not permitted", "-1 No such process"}
    assert mem in {"mem PermissionError", "mem FileNotFoundError"}
    assert fd in {"fd PermissionError", "fd FileNotFoundError"}


async def test_child_inherits_no_open_file_of_the_parent(ctx: ToolContext, root_dir: Path) -> None:
    with (root_dir / "secret.txt").open() as fh:
        os.set_inheritable(fh.fileno(), True)  # even an inheritable fd stays behind
        outcome = await shell(ctx, f"cat <&{fh.fileno()}")
    assert "Bad file descriptor" in outcome.content and "root only" not in outcome.content


# --- /dev/shm: the child's own, bounded in total, gone with the call ------------------------


async def _private_shm_or_skip() -> None:
    if not (await isolation_report()).private_shm:
        pytest.skip("no mount namespace here: children share the host's /dev/shm (see doctor)")


async def test_dev_shm_writes_do_not_survive_the_call(ctx: ToolContext) -> None:
    await _private_shm_or_skip()
    name = f"nexforge-shm-{uuid.uuid4().hex}"
    wrote = await shell(ctx, f"head -c 1M /dev/zero > /dev/shm/{name} && ls /dev/shm")
    assert stdout(wrote).split() == [name]  # written, in a /dev/shm holding nothing else
    assert lstat(f"/dev/shm/{name}") is None  # not in the host's
    later = await shell(ctx, f"ls -A /dev/shm; test -e /dev/shm/{name} || echo gone")
    assert stdout(later).split() == ["gone"]


async def test_dev_shm_is_capped_in_total_not_just_per_file(ctx: ToolContext) -> None:
    await _private_shm_or_skip()
    # Each file stays under RLIMIT_FSIZE (64 MiB); together they would pass the total.
    files = SHM_BYTES // (48 * 1024**2) + 2
    script = "; ".join(f"head -c 48M /dev/zero > /dev/shm/f{n}" for n in range(files))
    outcome = await shell(ctx, f"{script}; cat /dev/shm/f* | wc -c")
    assert "No space left on device" in outcome.content
    used = int(stdout(outcome))
    assert used <= SHM_BYTES


# --- network ------------------------------------------------------------------------------


async def test_child_cannot_reach_a_loopback_server(ctx: ToolContext) -> None:
    if not (await isolation_report()).network_isolated:
        pytest.skip("unshare --net is not available here; children share the host network")
    async with loopback_listener() as (port, accepted):
        connect = f"import socket; socket.create_connection(('127.0.0.1', {port}), 2)"
        via_python = await python(ctx, connect)
        via_shell = await shell(ctx, f"exec 3<>/dev/tcp/127.0.0.1/{port}")
    assert "OSError" in via_python.content or "unreachable" in via_python.content
    assert "exit code: 1" in via_shell.content
    assert not accepted.is_set()


# --- resource exhaustion ------------------------------------------------------------------

BOMB_PROCESSES = 32  # well under the default, so concurrent sandbox children keep headroom


async def _bomb_preconditions(ctx: ToolContext) -> None:
    """Skip unless the bomb is provably bounded: an unprivileged uid of its own (the run
    workspace's), no capabilities, NPROC set."""
    report = await isolation_report()
    if not (report.drops_privileges and report.max_processes):
        pytest.skip("children do not run as an unprivileged user with RLIMIT_NPROC here")
    uid = child_uid_for(ctx.workspace)
    if uid == 0 or sandbox_pids(uid):  # NPROC counts the uid machine-wide
        pytest.skip(f"other processes run as uid {uid}; a fork bomb would affect them")
    probe = await shell(
        ctx, "id -u; ulimit -u; grep CapEff /proc/self/status", max_processes=BOMB_PROCESSES
    )
    assert stdout(probe).split() == [str(uid), str(BOMB_PROCESSES), "CapEff:", "0" * 16]


@as_root
@pytest.mark.parametrize(
    ("tool", "bomb"),
    [  # each forks until the limit, its leader still running
        ("run_shell", ":(){ :|:& };:; while true; do true; done"),
        ("run_python", "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass"),
    ],
)
async def test_fork_bomb_is_bounded_and_leaves_nothing_behind(
    ctx: ToolContext, tool: str, bomb: str
) -> None:
    await _bomb_preconditions(ctx)
    bomb_uid = child_uid_for(ctx.workspace)
    peak, done = 0, asyncio.Event()

    async def count_sandbox_processes() -> None:
        nonlocal peak
        while not done.is_set():  # zombies too: they hold their NPROC slot until reaped
            peak = max(peak, sum(uid == bomb_uid for _, uid, *_ in processes()))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(count_sandbox_processes())
    options = {"timeout_s": 3, "max_processes": BOMB_PROCESSES, "max_output_chars": 2000}
    started = time.monotonic()
    try:
        outcome = await call(tool, ctx, options, **{SOURCE_ARG[tool]: bomb})
    finally:
        done.set()
        await sampler
    assert time.monotonic() - started < 3 + 5
    assert 1 < peak <= BOMB_PROCESSES  # it did fork, and never past the limit
    assert "exit code: 0" not in outcome.content
    # No process of that uid ran before, so any alive now would have come from the bomb.
    assert await until(lambda: not sandbox_pids(bomb_uid), within_s=10), sandbox_pids(bomb_uid)


@pytest.fixture
def detach(ctx: ToolContext) -> Iterator[Callable[[str], Awaitable[str]]]:
    """Runs ``setsid COMMAND MARKER &`` from run_shell (the leader lingers so setsid surely
    runs) and returns the marker, which finds the process from the host whatever the
    PID namespace says its pid is."""
    markers: list[str] = []

    async def start(command: str) -> str:
        marker = f"nexforge-detached-{uuid.uuid4().hex}"
        await shell(ctx, f"setsid {command} {marker} >/dev/null 2>&1 & sleep .5", timeout_s=1)
        markers.append(marker)
        return marker

    yield start
    for marker in markers:
        for pid in marked(marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def test_a_detached_process_does_not_outlive_its_call(
    detach: Callable[[str], Awaitable[str]],
) -> None:
    report = await isolation_report()
    marker = await detach("python3 -c 'while True: pass'")
    if report.pid_isolated:  # the PID namespace ended with the call: everything in it died
        assert await until(lambda: not marked(marker), within_s=5), marked(marker)
    else:  # it left the process group; RLIMIT_CPU (timeout + 1 s) still stops a spinner
        assert await until(lambda: not marked(marker), within_s=20), marked(marker)


async def test_a_detached_sleeper_is_gone_with_a_pid_namespace(
    detach: Callable[[str], Awaitable[str]],
) -> None:
    if not (await isolation_report()).pid_isolated:
        pytest.skip("no PID namespace here: a detached sleeper outlives its call (see doctor)")
    marker = await detach("sleep 300")
    assert await until(lambda: not marked(marker), within_s=5), marked(marker)


@pytest.mark.parametrize(
    ("tool", "source", "stopped_by"),
    [
        ("run_python", "b = bytearray(4 * 1024**3)", "MemoryError"),  # RLIMIT_AS
        ("run_python", "while True:\n    pass", "timed out after 3s"),
        ("run_shell", "head -c 100M /dev/zero > big", "File size limit exceeded"),  # RLIMIT_FSIZE
        ("run_python", "open('big', 'wb').write(bytes(100 * 1024**2))", "File too large"),
    ],
)
async def test_hogs_are_stopped_by_limits(
    ctx: ToolContext, tool: str, source: str, stopped_by: str
) -> None:
    outcome = await call(tool, ctx, {"timeout_s": 3}, **{SOURCE_ARG[tool]: source})
    assert stopped_by in outcome.content and "exit code: 0" not in outcome.content
    big = ctx.workspace / "big"
    assert not big.exists() or big.stat().st_size <= 64 * 1024**2
