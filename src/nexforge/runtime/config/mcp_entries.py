"""``mcp_servers:`` declarations and ``- mcp:`` tool entries of agent files.

Tools are listed at load time, because an agent's ToolSpecs are part of its definition:
loading starts each referenced server once (in parallel across the whole hierarchy, see
``prefetch_mcp_servers``), lists its tools and stops it; listings are cached per process,
so loading the same hierarchy again starts nothing. Runs start their own processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from nexforge.core.errors import ConfigError, NexForgeError
from nexforge.runtime.config.paths import PathEscapeError, resolve_inside
from nexforge.runtime.config.schema import McpToolEntry
from nexforge.runtime.config.tool_entries import ToolBuildContext
from nexforge.runtime.config.yaml_lines import Loc, YamlDocument, load_yaml
from nexforge.tools.base import Tool
from nexforge.tools.mcp.config import (
    CommandNotFoundError,
    McpServerConfig,
    ServerLaunch,
    make_launch,
)


@dataclass(frozen=True)
class DeclaredServer:
    """A server declared in one agent file, resolved for launching and listing."""

    file: Path
    name: str
    launch: ServerLaunch
    list_workspace: Path | None


def build_mcp_tools(
    entry: McpToolEntry, loc: Loc, ctx: ToolBuildContext, servers: dict[str, McpServerConfig]
) -> list[Tool]:
    """The tools of ``- mcp: SERVER`` or ``- mcp: SERVER/TOOL``, listed from the server."""
    from nexforge.tools.mcp.listing import list_tools_sync
    from nexforge.tools.mcp.servers import make_mcp_tools

    server_name, _, tool_name = entry.mcp.partition("/")
    config = servers.get(server_name)
    if config is None:
        declared = ", ".join(servers) or "none"
        raise ctx.doc.error(
            (*loc, "mcp"),
            f"unknown MCP server {server_name!r} (declared in mcp_servers: {declared})",
        )
    server = declare_server(ctx.doc, ctx.root, server_name, config)
    try:
        listed = list_tools_sync(server.launch, server.list_workspace)
    except NexForgeError as exc:
        raise ctx.doc.error(("mcp_servers", server_name), f"cannot list tools: {exc}") from exc
    if tool_name:
        listed = [t for t in listed if t.name == tool_name]
        if not listed:
            names = ", ".join(t.name for t in list_tools_sync(server.launch, server.list_workspace))
            raise ctx.doc.error(
                (*loc, "mcp"), f"MCP server {server_name!r} has no tool {tool_name!r} ({names})"
            )
    return make_mcp_tools(server.launch, listed)


def declare_server(
    doc: YamlDocument, root: Path, name: str, config: McpServerConfig
) -> DeclaredServer:
    """Resolve one declaration; a missing command or list_workspace is a ConfigError."""
    base = doc.file.parent
    try:
        launch = make_launch(name, config, base)
    except CommandNotFoundError as exc:
        raise doc.error(("mcp_servers", name, "command"), str(exc)) from exc
    list_workspace = None
    if config.list_workspace is not None:
        loc = ("mcp_servers", name, "list_workspace")
        try:
            list_workspace = resolve_inside(root, base, config.list_workspace)
        except PathEscapeError as exc:
            raise doc.error(loc, str(exc)) from exc
        if not list_workspace.is_dir():
            raise doc.error(loc, f"folder not found: {config.list_workspace}")
    return DeclaredServer(doc.file, name, launch, list_workspace)


def declared_servers(config: Path, root: Path) -> Iterator[DeclaredServer]:
    """Every server declared in ``config`` and its sub-agents' files (each file once).

    Raises ConfigError for a file or declaration that is wrong.
    """
    seen: set[Path] = set()
    stack = [config.resolve()]
    while stack:
        path = stack.pop()
        if path in seen:
            continue
        seen.add(path)
        doc = load_yaml(path)
        data = doc.data if isinstance(doc.data, dict) else {}
        for name, raw in (data.get("mcp_servers") or {}).items():
            try:
                server_config = McpServerConfig.model_validate(raw)
            except ValidationError as exc:
                message = exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
                raise doc.error(("mcp_servers", name), message) from exc
            yield declare_server(doc, root, str(name), server_config)
        for i, sub in enumerate(data.get("sub_agents") or []):
            if isinstance(sub, dict) and isinstance(sub.get("config"), str):
                try:
                    stack.append(resolve_inside(root, path.parent, sub["config"]))
                except PathEscapeError as exc:
                    raise doc.error(("sub_agents", i, "config"), str(exc)) from exc


def prefetch_mcp_servers(config: Path, root: Path) -> None:
    """Start listing every server of the hierarchy at once, without waiting.

    Best effort: a problem found here is reported by the loader's own pass, with its file,
    line and key, when it reaches that file.
    """
    from nexforge.tools.mcp.listing import prefetch_tools

    try:
        for server in declared_servers(config, root):
            prefetch_tools(server.launch, server.list_workspace)
    except (ConfigError, OSError):
        return
