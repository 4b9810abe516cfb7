"""run_subprocess: a child process with limits, a clean env, a capped output and no escape.

Isolation, probed once per process (``tools.isolation``):

- Every child leads its own session/process group; the whole group is SIGKILLed on
  timeout, on output flood, on cancellation and when the leader exits, so background
  grandchildren never outlive the call. Where ``unshare --pid`` works the child also runs
  in a PID namespace whose end kills everything in it, so even a grandchild that left
  the group with ``setsid`` is gone; without it, RLIMIT_CPU still bounds what it burns.
- As root, the child drops to an unprivileged uid with no supplementary groups, because
  RLIMIT_NPROC does not bind root. A workspace made by ``make_run_workspace`` gets a uid
  of its own (``RUN_UID_BASE`` + n, gid = uid), and its children run as that uid, so one
  run's children cannot touch another run's workspace or processes and each run has its
  own process limit; ``write_file`` gives new files the workspace owner. Children of any
  other workspace run as uid/gid 65534 (nobody); a user-supplied workspace owned by root
  stays read-only to them unless its owner makes it writable for that uid.
- Where ``unshare`` works, the child gets a fresh network namespace (only a down loopback
  interface: no network at all) and, where ``unshare --mount`` works, a mount namespace
  with a /dev/shm of its own (a tmpfs of ``SHM_BYTES`` in all, gone with the call). As
  root: ``unshare``, then ``prlimit``, then ``setpriv`` drops to the uid; otherwise
  ``unshare --map-current-user``. Without it the child runs with the host network and
  /dev/shm, and a log line says so.

``isolated=False`` skips the user switch and the namespaces, for trusted programs that
touch nothing a child can write; the process group, limits, clean environment, timeout and
output cap still apply.

What the unprivileged child can still do (tests/test_sandbox_escapes.py pins each):
read anything world-readable (not just the workspace); write to world-writable places
(/tmp, /var/tmp), though the sticky bit keeps it off other users' files there; and reach
other children that share its uid (only those of user-supplied workspaces, which all run
as 65534). It cannot write root's files, read another uid's ``/proc/<pid>/environ``,
ptrace the parent, or hard-link root-only files into the workspace (where
``fs.protected_hardlinks`` is 1). ``isolation_report`` says which of these protections
this machine gives; ``nexforge doctor`` prints it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nexforge.tools.isolation import (
    CHILD_PATH,
    DEFAULT_MAX_PROCESSES,
    RUN_UID_BASE,
    RUN_UID_SPAN,
    SANDBOX_GID,
    SANDBOX_UID,
    SHM_BYTES,
    Isolation,
    IsolationReport,
    Launch,
    allocate_run_uid,
    child_limit_values,
    child_uid_for,
    isolation_report,
    running_as_root,
    sandbox_isolation,
)

__all__ = [
    "CHILD_PATH",
    "DEFAULT_MAX_PROCESSES",
    "RUN_UID_BASE",
    "RUN_UID_SPAN",
    "SANDBOX_GID",
    "SANDBOX_UID",
    "SHM_BYTES",
    "Isolation",
    "IsolationReport",
    "Launch",
    "SubprocessResult",
    "allocate_run_uid",
    "child_env",
    "child_limit_values",
    "child_uid_for",
    "isolation_report",
    "run_subprocess",
    "running_as_root",
    "sandbox_isolation",
]

_READ_CHUNK = 65536
_READER_GRACE_S = 2.0


@dataclass(frozen=True)
class SubprocessResult:
    """What a child did. Streams end with a marker when output was cut."""

    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    truncated: bool = False
    killed_for_output: bool = False


def child_env(cwd: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: nothing of the parent's (API keys!) leaks into children."""
    env = {"PATH": CHILD_PATH, "HOME": str(cwd), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    env.update(extra or {})
    return env


class _CappedReader:
    """Keeps the first ``max_chars`` of a stream; counts and discards the rest."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.kept = bytearray()
        self.total = 0

    async def pump(self, stream: asyncio.StreamReader, on_chunk: Callable[[int], None]) -> None:
        while chunk := await stream.read(_READ_CHUNK):
            self.total += len(chunk)
            room = self.max_chars * 4 - len(self.kept)  # 4 bytes: the longest UTF-8 char
            if room > 0:
                self.kept += chunk[:room]
            on_chunk(len(chunk))

    def text(self, *, killed_for_output: bool) -> tuple[str, bool]:
        text = self.kept.decode("utf-8", errors="replace")
        if len(text) <= self.max_chars and self.total == len(self.kept):
            return text, False
        text = text[: self.max_chars]
        dropped = self.total - len(text.encode("utf-8", errors="replace"))
        why = "; process killed for flooding output" if killed_for_output else ""
        return f"{text}\n[... truncated: {dropped} more bytes not shown{why}]", True


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def _feed(stdin: asyncio.StreamWriter, data: str) -> None:
    # A child that exits without reading its input is not an error.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stdin.write(data.encode("utf-8"))
        await stdin.drain()
    stdin.close()


async def run_subprocess(
    argv: list[str],
    *,
    cwd: Path,
    timeout_s: float,
    max_output_chars: int,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    isolated: bool = True,
    max_processes: int = DEFAULT_MAX_PROCESSES,
    expose: Sequence[Path] = (),
) -> SubprocessResult:
    """Run ``argv`` in ``cwd`` inside the sandbox; never raises for what the child does.

    Output is read incrementally: each stream keeps ``max_output_chars``; once the two
    together exceed a drain budget the group is killed, so ``yes`` cannot exhaust memory
    or hold the call until its timeout. ``max_processes`` (RLIMIT_NPROC) binds only when
    the child runs as the sandbox user, where it counts that uid's processes machine-wide;
    for an ordinary user it would count all of that user's processes, so it is not set.
    ``expose`` lists folders the child must read although its uid may not enter the
    folders above them (see ``Isolation.launch``).
    """
    iso = await sandbox_isolation() if isolated else Isolation()
    nproc = max_processes if iso.drops_privileges else None
    launch = iso.launch(
        argv,
        cwd=cwd,
        uid=child_uid_for(cwd),
        limits=child_limit_values(timeout_s, nproc),
        expose=expose,
    )
    proc = await asyncio.create_subprocess_exec(
        *launch.argv,
        cwd=cwd,
        env=child_env(cwd, env),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        **launch.popen_kwargs,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out, err = _CappedReader(max_output_chars), _CappedReader(max_output_chars)
    budget = max(8 * 4 * max_output_chars, 1024**2)
    flooded = asyncio.Event()

    def on_chunk(_: int) -> None:
        if out.total + err.total > budget and not flooded.is_set():
            flooded.set()
            _kill_group(proc.pid)

    tasks = [
        asyncio.create_task(out.pump(proc.stdout, on_chunk)),
        asyncio.create_task(err.pump(proc.stderr, on_chunk)),
    ]
    if stdin is not None and proc.stdin is not None:
        tasks.append(asyncio.create_task(_feed(proc.stdin, stdin)))
    timed_out = False
    try:
        async with asyncio.timeout(timeout_s):
            await proc.wait()
    except TimeoutError:
        timed_out = True
    finally:
        # Also on success and on cancellation: nothing the command started survives it.
        # Reaping after SIGKILL is quick, so it is awaited even while being cancelled.
        _kill_group(proc.pid)
        exit_code = await proc.wait()
        _, pending = await asyncio.wait(tasks, timeout=_READER_GRACE_S)
        for task in pending:  # a setsid'd grandchild may still hold a pipe open
            task.cancel()
    killed = flooded.is_set()
    stdout, cut_out = out.text(killed_for_output=killed)
    stderr, cut_err = err.text(killed_for_output=killed)
    return SubprocessResult(
        exit_code=exit_code,
        stdout=stdout,
        stderr=stderr,
        timed_out=timed_out and not killed,
        truncated=cut_out or cut_err,
        killed_for_output=killed,
    )
