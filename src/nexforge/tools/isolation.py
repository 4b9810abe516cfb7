"""How sandboxed children are isolated on this machine: the uid they run as, the
namespaces they get (probed once per process), their resource limits, and the report
``nexforge doctor`` prints. ``sandbox.run_subprocess`` applies it (see its docstring for
what is and is not contained).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import resource
import secrets
import shutil
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
_AS_BYTES = 2 * 1024**3
_FSIZE_BYTES = 64 * 1024**2
DEFAULT_MAX_PROCESSES = 256
_REPORT_TIMEOUT_S = 60.0  # the shell tools' default timeout, for the limits doctor shows
_PROTECTED_HARDLINKS = Path("/proc/sys/fs/protected_hardlinks")


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


def child_limits(timeout_s: float, max_processes: int | None) -> Callable[[], None]:
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
