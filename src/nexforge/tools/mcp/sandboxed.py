"""How a per_run server's process starts: in the run's sandbox, like run_shell's children.

A per_run server works in the run's workspace, which the model writes (through write_file
and its own sandboxed children), so whatever it can make the server do must be no more
than the model may do itself: the server runs as the workspace's sandbox uid, in new
namespaces (no network unless its entry says ``network: true``; a private /dev/shm; a PID
namespace that ends with it), under the sandbox's limits, with a clean environment, and
it cannot execute any file in the workspace (mounted noexec for it: no planted hook or
script runs). Its own installation (this interpreter, NexForge's npm folder, the command's folder) is made
visible read-only when it lies behind a folder that uid may not enter (e.g. /root).

Git reads configuration from the repository, which the model controls: servers start
with no system or global config, no hooks and no fsmonitor (command-line scope, which the
repository cannot override; GitPython, which reads hooks itself, finds none executable in
the noexec workspace), and every repository owner accepted, since the server no longer
runs as the owner. Whatever else such config can run (filters, diff drivers: commands
from the system, not the workspace) runs as the sandbox uid, like anything the model runs.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from nexforge.core.errors import NexForgeError
from nexforge.tools.isolation import (
    DEFAULT_MAX_PROCESSES,
    child_limit_values,
    child_uid_for,
    sandbox_isolation,
)
from nexforge.tools.mcp.config import ServerLaunch, npm_bin_dir
from nexforge.tools.sandbox import child_env

# A server lives as long as its run; CPU time over that whole life.
SERVER_CPU_S = 3600.0
# Sandbox uids have no passwd entry; tools that name the user (GitPython's default commit
# author) read these first.
IDENTITY_ENV = {"USER": "sandbox", "LOGNAME": "sandbox"}
GIT_SAFETY_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_COUNT": "3",
    "GIT_CONFIG_KEY_0": "core.fsmonitor",
    "GIT_CONFIG_VALUE_0": "false",
    "GIT_CONFIG_KEY_1": "core.hooksPath",
    "GIT_CONFIG_VALUE_1": "/dev/null",
    "GIT_CONFIG_KEY_2": "safe.directory",
    "GIT_CONFIG_VALUE_2": "*",
}


class SandboxUnavailableError(NexForgeError):
    """As root, a per_run server cannot be sandboxed here (no usable unshare)."""


@dataclass(frozen=True)
class ServerCommand:
    """What the MCP SDK starts: command, arguments, environment."""

    command: str
    args: list[str]
    env: dict[str, str]


async def per_run_command(launch: ServerLaunch, workspace: Path) -> ServerCommand:
    """The sandboxed command line for ``launch`` started in ``workspace``."""
    assert launch.command is not None
    args, extra_env = launch.at(workspace)
    isolation = await sandbox_isolation()
    nproc = DEFAULT_MAX_PROCESSES if isolation.drops_privileges else None
    started = isolation.launch(
        [launch.command, *args],
        cwd=workspace,
        uid=child_uid_for(workspace),
        limits=child_limit_values(SERVER_CPU_S, nproc),
        network=launch.network,
        expose=_installation(launch.command),
        noexec_cwd=True,
    )
    if "user" in started.popen_kwargs:
        raise SandboxUnavailableError(
            f"mcp server {launch.name!r} is per_run and cannot be sandboxed here (no usable "
            "unshare, see nexforge doctor); refusing to run it as root"
        )
    env = child_env(workspace, {**IDENTITY_ENV, **extra_env, **GIT_SAFETY_ENV})
    return ServerCommand(started.argv[0], started.argv[1:], env)


def _installation(command: str) -> list[Path]:
    """Folders a server may need to read: this interpreter's (console-script servers), the
    npm servers' folder, the command's own."""
    npm_folder = npm_bin_dir().parent.parent
    own = Path(os.path.realpath(command)).parent
    return [Path(sys.prefix), Path(sys.base_prefix), npm_folder, own]
