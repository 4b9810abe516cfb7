"""run_subprocess: a child process with limits, a clean env, a capped output and no escape.

Isolation, probed once per process:

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
  interface: no network at all). As root: ``unshare --net`` then ``setpriv`` drops to
  nobody; otherwise ``unshare --net --map-current-user``. Without it the child runs with
  the host network and a log line says so.

``isolated=False`` skips the last two (no user switch, no namespace) for trusted helper
programs such as ``grep`` that must read what the in-process file tools read; the
process group, limits, clean environment, timeout and output cap still apply.

What the unprivileged child can still do (tests/test_sandbox_escapes.py pins each):
read anything world-readable (not just the workspace); write to world-writable places
(/tmp, /var/tmp, /dev/shm), though the sticky bit keeps it off other users' files there;
and reach other children that share its uid (only those of user-supplied workspaces,
which all run as 65534). It cannot
write root's files, read another uid's ``/proc/<pid>/environ``, ptrace the parent, or
hard-link root-only files into the workspace (where ``fs.protected_hardlinks`` is 1).
``isolation_report`` says which of these protections this machine gives; ``nexforge
doctor`` prints it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import resource
import secrets
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SANDBOX_UID = 65534
SANDBOX_GID = 65534
# Workspaces NexForge makes get a uid of their own from this range (gid = uid), and their
# children run as it: one run's children cannot touch another run's workspace, and each
# run has its own process-count limit. Other workspaces' children run as SANDBOX_UID.
RUN_UID_BASE = 200_000
RUN_UID_SPAN = 60_000
_run_uids = itertools.count(secrets.randbelow(RUN_UID_SPAN))


def allocate_run_uid() -> int:
    """A uid for a new run workspace: unique within the process until the range wraps; a
    random start keeps separate processes apart."""
    return RUN_UID_BASE + next(_run_uids) % RUN_UID_SPAN


def child_uid_for(workspace: Path) -> int:
    """The uid a sandboxed child of ``workspace`` runs as (when privileges are dropped)."""
    try:
        owner = workspace.stat().st_uid
    except OSError:
        return SANDBOX_UID
    return owner if RUN_UID_BASE <= owner < RUN_UID_BASE + RUN_UID_SPAN else SANDBOX_UID


CHILD_PATH = "/usr/local/bin:/usr/bin:/bin"
_READ_CHUNK = 65536
_AS_BYTES = 2 * 1024**3
_FSIZE_BYTES = 64 * 1024**2
DEFAULT_MAX_PROCESSES = 256
_REPORT_TIMEOUT_S = 60.0  # the shell tools' default timeout, for the limits doctor shows
_PROTECTED_HARDLINKS = Path("/proc/sys/fs/protected_hardlinks")
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
    pid_isolated: bool = False

    def for_uid(self, uid: int) -> Isolation:
        """The same isolation, with children running as ``uid`` (gid = uid) instead."""
        if not self.drops_privileges or uid == SANDBOX_UID:
            return self
        swap = {
            f"--reuid={SANDBOX_UID}": f"--reuid={uid}",
            f"--regid={SANDBOX_GID}": f"--regid={uid}",
        }
        kwargs = dict(self.popen_kwargs)
        if "user" in kwargs:
            kwargs.update(user=uid, group=uid)
        return replace(self, prefix=tuple(swap.get(a, a) for a in self.prefix), popen_kwargs=kwargs)


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
    # Best first: a PID namespace as well (when its init, the unshare child, dies the kernel
    # kills everything in it, so even a process that left the group with setsid is gone).
    pid_ns = ("--pid", "--fork", "--kill-child")
    candidates: list[tuple[tuple[str, ...], bool]] = []
    if running_as_root() and unshare and setpriv:
        drop = (setpriv, f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups")
        candidates.append(((unshare, "--net", *pid_ns, "--", *drop, "--nnp", "--"), True))
        candidates.append(((unshare, "--net", "--", *drop, "--nnp", "--"), False))
    elif not running_as_root() and unshare:
        candidates.append(((unshare, "--net", *pid_ns, "--map-current-user", "--"), True))
        candidates.append(((unshare, "--net", "--map-current-user", "--"), False))
    for prefix, pid_isolated in candidates:
        if await _works(prefix):
            logger.debug("sandbox: children run via %s", " ".join(prefix))
            return Isolation(
                prefix,
                {},
                running_as_root(),
                network_isolated=True,
                pid_isolated=pid_isolated,
            )
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


def _limit_values(timeout_s: float, max_processes: int | None) -> dict[int, int]:
    """The rlimits a child gets, capped by our own hard limits (which it cannot exceed)."""
    wanted = {
        resource.RLIMIT_CPU: math.ceil(timeout_s) + 1,
        resource.RLIMIT_AS: _AS_BYTES,
        resource.RLIMIT_FSIZE: _FSIZE_BYTES,
        resource.RLIMIT_CORE: 0,
    }
    if max_processes is not None:
        wanted[resource.RLIMIT_NPROC] = max_processes
    values: dict[int, int] = {}
    for res, value in wanted.items():
        _, hard = resource.getrlimit(res)
        values[res] = value if hard == resource.RLIM_INFINITY else min(value, hard)
    return values


def _limits(timeout_s: float, max_processes: int | None) -> Callable[[], None]:
    """A preexec_fn that only calls setrlimit (values computed here, before the fork)."""
    settings = list(_limit_values(timeout_s, max_processes).items())

    def apply() -> None:
        for res, value in settings:
            resource.setrlimit(res, (value, value))

    return apply


@dataclass(frozen=True)
class IsolationReport:
    """What a sandboxed child gets on this machine, with the consequence of each gap."""

    running_as_root: bool
    drops_privileges: bool
    child_uid: int
    network_isolated: bool
    pid_isolated: bool
    max_processes: int | None
    limits: dict[str, int]
    protected_hardlinks: bool
    launcher: str
    consequences: tuple[str, ...]


def _protected_hardlinks() -> bool:
    try:
        return _PROTECTED_HARDLINKS.read_text().strip() == "1"
    except OSError:  # not Linux, or /proc hidden: assume the worse
        return False


async def isolation_report() -> IsolationReport:
    """The sandbox's own probe, described: ``nexforge doctor`` and the tests read this."""
    iso = await sandbox_isolation()
    nproc = DEFAULT_MAX_PROCESSES if iso.drops_privileges else None
    names = {
        resource.RLIMIT_CPU: "cpu_seconds",
        resource.RLIMIT_AS: "address_space_bytes",
        resource.RLIMIT_FSIZE: "file_size_bytes",
        resource.RLIMIT_CORE: "core_bytes",
        resource.RLIMIT_NPROC: "processes",
    }
    limits = {names[r]: v for r, v in _limit_values(_REPORT_TIMEOUT_S, nproc).items()}
    hardlinks = _protected_hardlinks()
    gaps: list[str] = []
    if not iso.network_isolated:
        gaps.append("no usable `unshare --net`: run_shell/run_python children keep network access")
    if not iso.pid_isolated:
        gaps.append(
            "no usable `unshare --pid`: a child that calls setsid can outlive its call "
            "(still bounded by the CPU limit)"
        )
    if not iso.drops_privileges:
        gaps.append(
            "children run as the current user: they can write wherever it can, and no "
            "process-count limit applies (only the timeout stops a fork bomb)"
        )
    if iso.drops_privileges and not hardlinks:
        gaps.append(
            "fs.protected_hardlinks is off: a child can hard-link files it cannot read into "
            "the workspace, where the root-run file tools read and write them"
        )
    launcher = " ".join(Path(a).name if a.startswith("/") else a for a in iso.prefix)
    return IsolationReport(
        running_as_root=running_as_root(),
        drops_privileges=iso.drops_privileges,
        child_uid=SANDBOX_UID if iso.drops_privileges else os.geteuid(),
        network_isolated=iso.network_isolated,
        pid_isolated=iso.pid_isolated,
        max_processes=limits.get("processes"),
        limits=limits,
        protected_hardlinks=hardlinks,
        launcher=launcher or ("Popen user switch" if iso.drops_privileges else "none"),
        consequences=tuple(gaps),
    )


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
) -> SubprocessResult:
    """Run ``argv`` in ``cwd`` inside the sandbox; never raises for what the child does.

    Output is read incrementally: each stream keeps ``max_output_chars``; once the two
    together exceed a drain budget the group is killed, so ``yes`` cannot exhaust memory
    or hold the call until its timeout. ``max_processes`` (RLIMIT_NPROC) binds only when
    the child runs as the sandbox user, where it counts that uid's processes machine-wide;
    for an ordinary user it would count all of that user's processes, so it is not set.
    """
    iso = (await sandbox_isolation()).for_uid(child_uid_for(cwd)) if isolated else Isolation()
    proc = await asyncio.create_subprocess_exec(
        *iso.prefix,
        *argv,
        cwd=cwd,
        env=child_env(cwd, env),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_limits(timeout_s, max_processes if iso.drops_privileges else None),
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
