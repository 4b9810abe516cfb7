"""run_subprocess: a child process with limits, a clean env, a capped output and no escape.

Isolation, probed once per process:

- Every child leads its own session/process group; the whole group is SIGKILLed on
  timeout, on output flood, on cancellation and when the leader exits, so background
  grandchildren never outlive the call. (A grandchild that calls ``setsid`` itself leaves
  the group; RLIMIT_CPU still bounds the CPU it can burn.)
- As root, the child runs as uid/gid 65534 (nobody) with no supplementary groups, because
  RLIMIT_NPROC does not bind root. The workspace must be writable by that uid:
  ``make_run_workspace`` chowns the directories it creates, and ``write_file`` gives new
  files the workspace owner. A user-supplied workspace owned by root stays read-only to
  the child unless its owner makes it writable for uid 65534.
- Where ``unshare`` works, the child gets a fresh network namespace (only a down loopback
  interface: no network at all). As root: ``unshare --net`` then ``setpriv`` drops to
  nobody; otherwise ``unshare --net --map-current-user``. Without it the child runs with
  the host network and a log line says so.

``isolated=False`` skips the last two (no user switch, no namespace) for trusted helper
programs such as ``grep`` that must read what the in-process file tools read; the
process group, limits, clean environment, timeout and output cap still apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import resource
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SANDBOX_UID = 65534
SANDBOX_GID = 65534
CHILD_PATH = "/usr/local/bin:/usr/bin:/bin"
_READ_CHUNK = 65536
_AS_BYTES = 2 * 1024**3
_FSIZE_BYTES = 64 * 1024**2
_NPROC = 256
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


@dataclass(frozen=True)
class Isolation:
    """How children are started here: an argv prefix plus extra Popen arguments."""

    prefix: tuple[str, ...] = ()
    popen_kwargs: dict[str, Any] = field(default_factory=dict)
    drops_privileges: bool = False
    network_isolated: bool = False


_isolation: Isolation | None = None


def running_as_root() -> bool:
    return os.geteuid() == 0


async def sandbox_isolation() -> Isolation:
    """The isolation children get on this machine; probed on first use, then cached."""
    global _isolation
    if _isolation is None:
        _isolation = await _probe_isolation()
    return _isolation


async def _probe_isolation() -> Isolation:
    unshare, setpriv = (
        shutil.which("unshare", path=CHILD_PATH),
        shutil.which("setpriv", path=CHILD_PATH),
    )
    candidates: list[tuple[str, ...]] = []
    if running_as_root() and unshare and setpriv:
        drop = (setpriv, f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups")
        candidates.append((unshare, "--net", "--", *drop, "--nnp", "--"))
    elif not running_as_root() and unshare:
        candidates.append((unshare, "--net", "--map-current-user", "--"))
    for prefix in candidates:
        if await _works(prefix):
            logger.debug("sandbox: children run via %s", " ".join(prefix))
            return Isolation(prefix, {}, running_as_root(), network_isolated=True)
    logger.warning("sandbox: no network namespace available; children share the host network")
    if running_as_root():
        kwargs = {"user": SANDBOX_UID, "group": SANDBOX_GID, "extra_groups": []}
        return Isolation((), kwargs, drops_privileges=True)
    return Isolation()


async def _works(prefix: tuple[str, ...]) -> bool:
    try:
        proc = await asyncio.create_subprocess_exec(
            *prefix,
            "true",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            cwd="/",
            env={"PATH": CHILD_PATH},
        )
        return await asyncio.wait_for(proc.wait(), timeout=10) == 0
    except (OSError, TimeoutError):
        return False


def child_env(cwd: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: nothing of the parent's (API keys!) leaks into children."""
    env = {"PATH": CHILD_PATH, "HOME": str(cwd), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    env.update(extra or {})
    return env


def _limits(timeout_s: float, nproc: bool) -> Callable[[], None]:
    """A preexec_fn that only calls setrlimit (values computed here, before the fork)."""
    wanted = {
        resource.RLIMIT_CPU: math.ceil(timeout_s) + 1,
        resource.RLIMIT_AS: _AS_BYTES,
        resource.RLIMIT_FSIZE: _FSIZE_BYTES,
        resource.RLIMIT_CORE: 0,
    }
    if nproc:
        # For an ordinary user NPROC would count all of that user's processes and threads.
        wanted[resource.RLIMIT_NPROC] = _NPROC
    settings: list[tuple[int, tuple[int, int]]] = []
    for res, value in wanted.items():
        _, hard = resource.getrlimit(res)
        capped = value if hard == resource.RLIM_INFINITY else min(value, hard)
        settings.append((res, (capped, capped)))

    def apply() -> None:
        for res, pair in settings:
            resource.setrlimit(res, pair)

    return apply


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
) -> SubprocessResult:
    """Run ``argv`` in ``cwd`` inside the sandbox; never raises for what the child does.

    Output is read incrementally: each stream keeps ``max_output_chars``; once the two
    together exceed a drain budget the group is killed, so ``yes`` cannot exhaust memory
    or hold the call until its timeout.
    """
    iso = await sandbox_isolation() if isolated else Isolation()
    proc = await asyncio.create_subprocess_exec(
        *iso.prefix,
        *argv,
        cwd=cwd,
        env=child_env(cwd, env),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_limits(timeout_s, iso.drops_privileges),
        **iso.popen_kwargs,
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
