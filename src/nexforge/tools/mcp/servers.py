"""Where a server's process lives, by scope, and the NexForge Tools that call it.

``shared``: one connection per event loop for every agent and run (stateless servers).
``per_run``: a ``Resource`` whose handle is a connection to a process started for one run
in the run's workspace, at most ``max_concurrent`` at once per process, closed with the run.
Equal launches (same command, args, env...) share one registry entry, so agents of one
hierarchy that declare the same server use one process per run.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from typing import Any

from nexforge.core.slots import ProcessSlots
from nexforge.core.tools import ToolSpec
from nexforge.tools.base import Tool, ToolOutcome
from nexforge.tools.mcp.config import ServerLaunch, tool_name_for
from nexforge.tools.mcp.connection import McpCallError, McpConnection, McpToolInfo
from nexforge.tools.mcp.results import outcome_from_result
from nexforge.tools.resources import RunInfo

log = logging.getLogger(__name__)

# The executor's deadline covers starting a per_run server and waiting for a slot too;
# the call itself is bounded by the server's own ``timeout_s``.
SLOT_WAIT_S = 600.0
CONNECTION_PARAM = "nexforge_mcp_connection"

_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[ServerLaunch, McpConnection]]
_shared = weakref.WeakKeyDictionary()
_per_run: dict[ServerLaunch, PerRunServer] = {}
_per_run_lock = threading.Lock()


def shared_connection(launch: ServerLaunch) -> McpConnection:
    """This loop's connection to a shared server (started by its first call)."""
    connections = _shared.setdefault(asyncio.get_running_loop(), {})
    connection = connections.get(launch)
    if connection is None:
        connection = connections[launch] = McpConnection(launch)
    return connection


async def close_shared_servers() -> None:
    """Stop this loop's shared servers (in parallel); later calls start them again."""
    connections = _shared.pop(asyncio.get_running_loop(), {})
    await asyncio.gather(*(c.aclose() for c in connections.values()))


class PerRunServer:
    """A per-run ``Resource``: one server process per run, started in its workspace."""

    def __init__(self, launch: ServerLaunch) -> None:
        self.launch = launch
        self.slots = ProcessSlots(launch.max_concurrent)

    @property
    def name(self) -> str:
        return f"mcp server {self.launch.name!r}"

    async def open(self, run: RunInfo) -> McpConnection:
        await self.slots.acquire()
        connection = McpConnection(self.launch, workspace=run.workspace)
        try:
            await connection.start()
        except BaseException:
            await self._close(connection)
            raise
        return connection

    async def close(self, handle: McpConnection) -> None:
        await self._close(handle)

    async def _close(self, connection: McpConnection) -> None:
        try:
            await connection.aclose()
        finally:
            self.slots.release()


def per_run_server(launch: ServerLaunch) -> PerRunServer:
    """The process-wide resource for ``launch`` (one slot pool per distinct launch)."""
    with _per_run_lock:
        server = _per_run.get(launch)
        if server is None:
            server = _per_run[launch] = PerRunServer(launch)
        return server


def make_mcp_tools(launch: ServerLaunch, tools: list[McpToolInfo]) -> list[Tool]:
    """One NexForge Tool per listed MCP tool, calling it on the right connection."""
    return [_make_tool(launch, info) for info in tools]


def _make_tool(launch: ServerLaunch, info: McpToolInfo) -> Tool:
    parameters = dict(info.input_schema) or {"type": "object", "properties": {}}
    spec = ToolSpec(
        name=tool_name_for(info.name),
        description=info.description,
        parameters=parameters,
        read_only=bool(info.read_only),
    )
    timeout_s = launch.timeout_s + launch.start_timeout_s + SLOT_WAIT_S
    if launch.scope == "shared":

        async def call_shared(**arguments: Any) -> ToolOutcome:
            return await call_tool(shared_connection(launch), info.name, arguments)

        return Tool(spec=spec, fn=call_shared, timeout_s=timeout_s)

    async def call_per_run(**arguments: Any) -> ToolOutcome:
        connection: McpConnection = arguments.pop(CONNECTION_PARAM)
        return await call_tool(connection, info.name, arguments)

    return Tool(
        spec=spec,
        fn=call_per_run,
        timeout_s=timeout_s,
        resources={CONNECTION_PARAM: per_run_server(launch)},
    )


async def call_tool(connection: McpConnection, tool: str, arguments: dict[str, Any]) -> ToolOutcome:
    """Call ``tool`` and map the result; every failure is a one-line error outcome."""
    try:
        await connection.start_or_raise()
        if all(t.name != tool for t in connection.tools):
            # The server listed other tools at load time than it has now.
            names = ", ".join(t.name for t in connection.tools)
            return ToolOutcome(
                f"mcp server {connection.name!r} has no tool {tool!r} ({names})", True
            )
        result = await connection.call(tool, arguments)
    except McpCallError as exc:
        return ToolOutcome(str(exc), is_error=True)
    return outcome_from_result(result)
