"""List a server's tools from synchronous code (the config loader), cached per process.

Each listing runs on its own worker thread with its own event loop, so listings of every
server of a hierarchy run in parallel and work whether or not the caller is inside a loop.
A per_run server is listed in ``list_workspace`` or an empty scratch folder; the listing
process is stopped afterwards (runs start their own).
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from nexforge.tools.mcp.config import ServerLaunch
from nexforge.tools.mcp.connection import McpConnection, McpToolInfo
from nexforge.tools.workspace import make_run_workspace

_MAX_PARALLEL_LISTINGS = 16
_executor: ThreadPoolExecutor | None = None
_cache: dict[tuple[ServerLaunch, Path | None], Future[list[McpToolInfo]]] = {}
_lock = threading.Lock()


def prefetch_tools(
    launch: ServerLaunch, list_workspace: Path | None = None
) -> Future[list[McpToolInfo]]:
    """Start listing (once per process; a failed listing is retried on the next request)."""
    global _executor
    key = (launch, list_workspace)
    with _lock:
        future = _cache.get(key)
        if future is None or (future.done() and future.exception() is not None):
            if _executor is None:
                _executor = ThreadPoolExecutor(_MAX_PARALLEL_LISTINGS, "mcp-listing")
            future = _cache[key] = _executor.submit(_list_blocking, launch, list_workspace)
        return future


def list_tools_sync(launch: ServerLaunch, list_workspace: Path | None = None) -> list[McpToolInfo]:
    """The server's tools; raises McpServerError when it cannot be started or listed."""
    return prefetch_tools(launch, list_workspace).result()


def clear_listing_cache() -> None:
    with _lock:
        _cache.clear()


def _list_blocking(launch: ServerLaunch, list_workspace: Path | None) -> list[McpToolInfo]:
    if launch.scope == "shared" or launch.url is not None or list_workspace is not None:
        return asyncio.run(_list(launch, list_workspace))
    # A run workspace, so the sandboxed server may enter it (see ``mcp.sandboxed``).
    scratch = make_run_workspace(prefix="nexforge-mcp-list-")
    try:
        return asyncio.run(_list(launch, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


async def _list(launch: ServerLaunch, workspace: Path | None) -> list[McpToolInfo]:
    connection = McpConnection(launch, workspace)
    try:
        return await connection.start()
    finally:
        await connection.aclose()
