"""MCP server declarations: the YAML shape (``McpServerConfig``) and how to launch one.

This module does not import the ``mcp`` SDK, so the config schema can use it cheaply.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nexforge.core.durations import Seconds

Scope = Literal["shared", "per_run"]
WORKSPACE_VAR = "${workspace}"
DEFAULT_CALL_TIMEOUT_S = 30.0
DEFAULT_START_TIMEOUT_S = 30.0
DEFAULT_MAX_CONCURRENT = 8
_TOOL_NAME_BAD_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class McpServerConfig(BaseModel):
    """One entry of ``mcp_servers:``: a stdio command or a streamable-HTTP url."""

    model_config = ConfigDict(extra="forbid")

    command: str | None = Field(
        default=None,
        description="Executable of a stdio server: a name looked up in the venv, in "
        "<NEXFORGE_HOME>/mcp/npm/node_modules/.bin and on PATH, or a path from the config.",
    )
    args: list[str] = Field(
        default_factory=list,
        description="Arguments. Relative paths resolve in the server's working directory "
        "(the run's workspace for per_run servers); ${workspace} is replaced by it.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Extra environment (only HOME, PATH, USER... are inherited); "
        "${workspace} is replaced by the server's working directory.",
    )
    url: str | None = Field(default=None, description="Streamable-HTTP endpoint.")
    headers: dict[str, str] = Field(default_factory=dict)
    scope: Scope = Field(
        default="per_run",
        description="shared: one process for all runs (stateless servers); per_run: one "
        "process per run, started in the run's workspace and sandbox (its uid, limits, no "
        "network unless network is true).",
    )
    network: bool = Field(
        default=False,
        description="per_run commands: keep the host network (by default the server gets a "
        "network namespace of its own, with no network, like run_shell's children).",
    )
    timeout_s: Seconds = Field(default=DEFAULT_CALL_TIMEOUT_S, description="Per call.")
    max_concurrent: int = Field(
        default=DEFAULT_MAX_CONCURRENT,
        ge=1,
        description="per_run: at most this many processes of this server at once (per "
        "process); further runs wait for a slot.",
    )
    list_workspace: str | None = Field(
        default=None,
        description="per_run: folder (from the config's folder) the server is started in "
        "to list its tools at load time; default an empty scratch folder.",
    )

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of command (stdio) or url (streamable HTTP)")
        if self.url is not None and (self.args or self.env):
            raise ValueError("args and env apply to a command, not to a url")
        if self.command is not None and self.headers:
            raise ValueError("headers apply to a url, not to a command")
        if self.network and (self.url is not None or self.scope != "per_run"):
            raise ValueError("network applies to per_run commands (only they are sandboxed)")
        return self


@dataclass(frozen=True)
class ServerLaunch:
    """Everything needed to start one server; equal launches share processes and listings.

    ``cwd`` is ``None`` for per_run servers: each run supplies its workspace, and the
    server runs in the run's sandbox (``tools.mcp.sandboxed``).
    """

    command: str | None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    cwd: Path | None = None
    scope: Scope = "per_run"
    network: bool = False
    timeout_s: float = DEFAULT_CALL_TIMEOUT_S
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S
    name: str = field(default="mcp", compare=False)

    def at(self, workspace: Path) -> tuple[list[str], dict[str, str]]:
        """Arguments and environment with ``${workspace}`` replaced by ``workspace``."""
        ws = str(workspace)
        args = [a.replace(WORKSPACE_VAR, ws) for a in self.args]
        env = {k: v.replace(WORKSPACE_VAR, ws) for k, v in self.env}
        return args, env

    def describe(self) -> str:
        return self.url if self.url is not None else " ".join([str(self.command), *self.args])


class CommandNotFoundError(LookupError):
    """A server's command is neither a file nor found in the search folders."""


def npm_bin_dir() -> Path:
    """Where ``scripts/install_mcp_servers.py`` puts the npm servers' executables."""
    from nexforge.models.install import nexforge_home

    return nexforge_home() / "mcp" / "npm" / "node_modules" / ".bin"


def resolve_command(command: str, base_dir: Path) -> str:
    """An absolute executable path for ``command``.

    A bare name is looked up in the venv's own scripts first (so ``mcp-server-git`` is the
    one installed with NexForge even when the venv is not activated), then in NexForge's
    npm folder, then on PATH. A name with a slash resolves from ``base_dir``.
    """
    if os.sep in command or (os.altsep and os.altsep in command):
        path = (base_dir / Path(command).expanduser()).resolve()
        if not path.is_file():
            raise CommandNotFoundError(f"command not found: {command} (looked at {path})")
        return str(path)
    folders = [Path(sys.executable).parent, npm_bin_dir()]
    for folder in folders:
        found = shutil.which(command, path=str(folder))
        if found is not None:
            return found
    found = shutil.which(command)
    if found is None:
        where = ", ".join(str(f) for f in folders)
        raise CommandNotFoundError(
            f"command {command!r} not found in {where} or on PATH "
            "(install the servers with scripts/install_mcp_servers.py)"
        )
    return found


def make_launch(name: str, config: McpServerConfig, base_dir: Path) -> ServerLaunch:
    """Resolve a declaration found in a config file in ``base_dir``.

    Shared stdio servers run in ``base_dir``, so their relative paths mean the config's
    folder; per_run servers run in each run's workspace. Raises CommandNotFoundError.
    """
    command = resolve_command(config.command, base_dir) if config.command is not None else None
    return ServerLaunch(
        command=command,
        args=tuple(config.args),
        env=tuple(sorted(config.env.items())),
        url=config.url,
        headers=tuple(sorted(config.headers.items())),
        cwd=base_dir if config.scope == "shared" else None,
        scope=config.scope,
        network=config.network,
        timeout_s=config.timeout_s,
        max_concurrent=config.max_concurrent,
        name=name,
    )


def tool_name_for(mcp_name: str) -> str:
    """A provider-safe tool name (letters, digits, ``_``, ``-``; at most 64) for an MCP tool."""
    return _TOOL_NAME_BAD_CHARS.sub("_", mcp_name)[:64] or "tool"
