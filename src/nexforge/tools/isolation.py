"""How sandboxed children are isolated on this machine: the uid they run as, the
namespaces they get (probed once per process), their private /dev/shm, their resource
limits, and the report ``nexforge doctor`` prints. ``sandbox.run_subprocess`` and per_run
MCP servers (``tools.mcp.connection``) start children through ``Isolation.launch`` (see
``sandbox`` for what is and is not contained).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import resource
import secrets
import shlex
import shutil
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
SHM_BYTES = 64 * 1024**2
"""The size of a child's own /dev/shm: all its files there together (RLIMIT_FSIZE is per file)."""
DEFAULT_MAX_PROCESSES = 256
_REPORT_TIMEOUT_S = 60.0  # the shell tools' default timeout, for the limits doctor shows
_PROTECTED_HARDLINKS = Path("/proc/sys/fs/protected_hardlinks")
_PRLIMIT_NAMES = {
    resource.RLIMIT_CPU: "cpu",
    resource.RLIMIT_AS: "as",
    resource.RLIMIT_FSIZE: "fsize",
    resource.RLIMIT_CORE: "core",
    resource.RLIMIT_NPROC: "nproc",
}
_STAGING = "/dev/shm/.nexforge-expose-"  # in the child's own /dev/shm, emptied before it runs
_TOOLS = ("unshare", "setpriv", "prlimit", "sh", "mount")


@dataclass(frozen=True)
class Launch:
    """How to start one sandboxed child: its argv, plus Popen arguments where no launcher
    works here (then the user switch and the limits are Popen's, and there are no
    namespaces)."""

    argv: list[str]
    popen_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Isolation:
    """How children are started on this machine, probed once.

    With ``namespaces`` (some of ``net``, ``mount``, ``pid``), ``unshare`` starts a child in
    new namespaces of those kinds; a shell there, still root, gives it a private /dev/shm
    (``mount``) and makes the folders it must reach visible, then ``prlimit`` sets its
    limits and (as root) ``setpriv`` drops it to its uid. Without namespaces, Popen switches
    the user and a preexec function sets the limits.
    """

    tools: tuple[tuple[str, str], ...] = ()
    namespaces: tuple[str, ...] = ()
    drops_privileges: bool = False

    @property
    def network_isolated(self) -> bool:
        return "net" in self.namespaces

    @property
    def pid_isolated(self) -> bool:
        return "pid" in self.namespaces

    @property
    def private_shm(self) -> bool:
        return "mount" in self.namespaces

    def launch(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        uid: int,
        limits: dict[int, int],
        network: bool = False,
        expose: Sequence[Path] = (),
        noexec_cwd: bool = False,
    ) -> Launch:
        """Start ``argv`` in ``cwd`` as ``uid`` (when privileges are dropped) under
        ``limits``. ``network`` keeps the host network; ``expose`` lists folders the child
        must read (an interpreter, a server's install) although they lie in folders its uid
        may not enter: with a mount namespace they are made visible read-only, as is
        ``cwd`` (writable, as its permissions say); nothing else of those folders is.
        ``noexec_cwd`` mounts ``cwd`` noexec for the child (with a mount namespace): it
        can execute nothing found there."""
        if not self.namespaces:
            kwargs: dict[str, Any] = {"preexec_fn": _setrlimits(limits)}
            if self.drops_privileges:
                kwargs.update(user=uid, group=uid, extra_groups=[])
            return Launch(list(argv), kwargs)
        tool = dict(self.tools)
        flags = [f"--{ns}" for ns in self.namespaces if not (network and ns == "net")]
        if self.pid_isolated:
            flags += ["--fork", "--kill-child"]
        if not self.drops_privileges:
            flags.append("--map-current-user")  # a user namespace, where mounting is allowed
        steps = ["set -e"]
        if self.private_shm:
            mount = tool["mount"]
            steps.append(_mount_shm(mount))
            if self.drops_privileges:
                steps += _expose(mount, uid, [(cwd, True), *((p, False) for p in expose)])
            if noexec_cwd:
                real = os.path.realpath(cwd)
                steps.append(shlex.join([mount, "--bind", real, real]))
                steps.append(shlex.join([mount, "-o", "remount,bind,noexec,nosuid,nodev", real]))
            # Onto what was just mounted there; cd leaves OLDPWD behind, nothing of ours.
            steps += [shlex.join(["cd", str(cwd)]), "unset OLDPWD"]
        run = [tool["prlimit"], *(f"--{_PRLIMIT_NAMES[r]}={v}:{v}" for r, v in limits.items())]
        if self.drops_privileges:
            run += ["--", tool["setpriv"], f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
            run.append("--nnp")
        steps.append(f'exec {shlex.join(run)} -- "$@"')
        script = "\n".join(steps)
        return Launch([tool["unshare"], *flags, "--", tool["sh"], "-c", script, "sandbox", *argv])

    def describe(self) -> str:
        """The launcher in a few words, for ``nexforge doctor``."""
        if not self.namespaces:
            return "Popen user switch" if self.drops_privileges else "none"
        kinds = "+".join(self.namespaces)
        drop = " + setpriv" if self.drops_privileges else " (user namespace)"
        return f"unshare {kinds}{drop} + prlimit"


def _mount_shm(mount: str) -> str:
    options = f"size={SHM_BYTES},mode=1777,nosuid,nodev"
    return shlex.join([mount, "-t", "tmpfs", "-o", options, "nexforge-shm", "/dev/shm"])


def _expose(mount: str, uid: int, paths: list[tuple[Path, bool]]) -> list[str]:
    """Shell steps that make each path visible to ``uid`` at its own name: it is bound
    aside, the highest folder above it that ``uid`` may not enter is hidden under an empty
    tmpfs, and the path is moved back in place (read-only unless writable)."""
    found: dict[str, bool] = {}
    covers: set[str] = set()
    for path, writable in paths:
        real = os.path.realpath(path)
        closed = _closed_ancestor(real, uid)
        if closed is not None and Path(real).is_dir():
            found[real] = found.get(real, False) or writable
            covers.add(closed)
    if not found:
        return []
    steps: list[str] = []
    order = sorted(found, key=len)  # outer paths first: inner ones then exist inside them
    for n, real in enumerate(order):
        steps.append(f"mkdir {_STAGING}{n}")
        steps.append(shlex.join([mount, "--bind", real, f"{_STAGING}{n}"]))
    hidden = "mode=0755,size=65536,nosuid,nodev"
    steps += [
        shlex.join([mount, "-t", "tmpfs", "-o", hidden, "nexforge-hidden", c]) for c in covers
    ]
    for n, real in enumerate(order):
        steps.append(shlex.join(["mkdir", "-p", real]))
        steps.append(shlex.join([mount, "--move", f"{_STAGING}{n}", real]))
        options = "remount,bind,nosuid,nodev" + ("" if found[real] else ",ro")
        steps.append(shlex.join([mount, "-o", options, real]))
        steps.append(f"rmdir {_STAGING}{n}")
    return steps


def _closed_ancestor(real: str, uid: int) -> str | None:
    """The highest folder above ``real`` that ``uid`` (gid = uid, no other groups) may not
    pass through; never ``/``."""
    for folder in reversed(Path(real).parents):
        try:
            info = folder.stat()
        except OSError:
            return None
        if info.st_uid == uid:
            bit = stat.S_IXUSR
        elif info.st_gid == uid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return None if str(folder) == "/" else str(folder)
    return None


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
    found = {name: shutil.which(name, path=CHILD_PATH) for name in _TOOLS}
    tools = tuple((name, path) for name, path in found.items() if path is not None)
    present = {name for name, _ in tools}
    root = running_as_root()
    if {"unshare", "prlimit", "sh"} | ({"setpriv"} if root else set()) <= present:
        # Best first. A PID namespace ends with its init (the unshare child), and the
        # kernel then kills everything in it, even a process that left the group.
        for namespaces in (("net", "mount", "pid"), ("net", "pid"), ("net",)):
            if "mount" in namespaces and "mount" not in present:
                continue
            candidate = Isolation(tools, namespaces, drops_privileges=root)
            if await _works(candidate):
                logger.debug("sandbox: children run via %s", candidate.describe())
                return candidate
    logger.warning("sandbox: no usable unshare here; children share the host's namespaces")
    return Isolation(tools, (), drops_privileges=root)


async def _works(isolation: Isolation) -> bool:
    limits = child_limit_values(10, None)
    launch = isolation.launch(["true"], cwd=Path("/"), uid=SANDBOX_UID, limits=limits)
    try:
        proc = await asyncio.create_subprocess_exec(
            *launch.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            cwd="/",
            env={"PATH": CHILD_PATH},
        )
        return await asyncio.wait_for(proc.wait(), timeout=10) == 0
    except (OSError, TimeoutError):
        return False


def child_limit_values(timeout_s: float, max_processes: int | None) -> dict[int, int]:
    """The rlimits a child gets, capped by our own hard limits (which it cannot exceed).
    ``max_processes`` is set only for children that run as a uid of their own."""
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


def _setrlimits(limits: dict[int, int]) -> Callable[[], None]:
    """A preexec_fn that only calls setrlimit (values computed before the fork)."""
    settings = list(limits.items())

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
    private_shm: bool
    shm_bytes: int | None
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
    limits = {names[r]: v for r, v in child_limit_values(_REPORT_TIMEOUT_S, nproc).items()}
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
    if not iso.private_shm:
        gaps.append(
            "no usable `unshare --mount`: children share the host's /dev/shm, where what "
            "they write outlives their call and escapes their memory limit; a per_run MCP "
            "server installed in a folder the sandbox user may not enter cannot start"
        )
    if iso.drops_privileges and not hardlinks:
        gaps.append(
            "fs.protected_hardlinks is off: a child can hard-link files it cannot read into "
            "the workspace, where the root-run file tools read and write them"
        )
    return IsolationReport(
        running_as_root=running_as_root(),
        drops_privileges=iso.drops_privileges,
        child_uid=SANDBOX_UID if iso.drops_privileges else os.geteuid(),
        network_isolated=iso.network_isolated,
        pid_isolated=iso.pid_isolated,
        private_shm=iso.private_shm,
        shm_bytes=SHM_BYTES if iso.private_shm else None,
        max_processes=limits.get("processes"),
        limits=limits,
        protected_hardlinks=hardlinks,
        launcher=iso.describe(),
        consequences=tuple(gaps),
    )
