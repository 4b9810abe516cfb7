"""MCP client (official ``mcp`` SDK): stdio and streamable-HTTP servers as NexForge tools.

Only the declaration types are imported eagerly: the config schema uses them, and they
need neither the SDK nor anyio (both come with the ``mcp`` extra). The rest loads on use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nexforge.tools.mcp.config import (
    CommandNotFoundError,
    McpServerConfig,
    ServerLaunch,
    make_launch,
    npm_bin_dir,
    resolve_command,
)

if TYPE_CHECKING:
    from nexforge.tools.mcp.connection import (
        McpCallError,
        McpConnection,
        McpServerError,
        McpToolInfo,
    )
    from nexforge.tools.mcp.listing import clear_listing_cache, list_tools_sync, prefetch_tools
    from nexforge.tools.mcp.results import outcome_from_result
    from nexforge.tools.mcp.servers import (
        PerRunServer,
        call_tool,
        close_shared_servers,
        make_mcp_tools,
        per_run_server,
        shared_connection,
    )

_LAZY = {
    "McpCallError": "connection",
    "McpConnection": "connection",
    "McpServerError": "connection",
    "McpToolInfo": "connection",
    "clear_listing_cache": "listing",
    "list_tools_sync": "listing",
    "prefetch_tools": "listing",
    "outcome_from_result": "results",
    "PerRunServer": "servers",
    "call_tool": "servers",
    "close_shared_servers": "servers",
    "make_mcp_tools": "servers",
    "per_run_server": "servers",
    "shared_connection": "servers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "CommandNotFoundError",
    "McpCallError",
    "McpConnection",
    "McpServerConfig",
    "McpServerError",
    "McpToolInfo",
    "PerRunServer",
    "ServerLaunch",
    "call_tool",
    "clear_listing_cache",
    "close_shared_servers",
    "list_tools_sync",
    "make_launch",
    "make_mcp_tools",
    "npm_bin_dir",
    "outcome_from_result",
    "per_run_server",
    "prefetch_tools",
    "resolve_command",
    "shared_connection",
]
