"""Expose task-taking callables (NexForge agents) as an MCP server over stdio.

Kept free of the runtime (tools sit below it): the CLI passes one ``ServedTool`` per
entry agent, each taking a ``task`` string and returning the final output.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer


class TaskFailed(Exception):
    """Raised by a served tool's ``run`` when the task did not complete; the message is
    returned to the MCP client as a tool error."""


@dataclass(frozen=True)
class ServedTool:
    name: str
    description: str
    run: Callable[[str], Awaitable[str]]


def build_server(name: str, tools: Sequence[ServedTool]) -> MCPServer:
    """An MCP server with one ``NAME(task: string) -> text`` tool per ``ServedTool``."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name=name)
    for tool in tools:
        server.add_tool(
            _task_function(tool),
            name=tool.name,
            description=tool.description,
            structured_output=False,
        )
    return server


def _task_function(tool: ServedTool) -> Callable[[str], Awaitable[str]]:
    from mcp.server.mcpserver.exceptions import ToolError

    async def run_task(task: str) -> str:
        try:
            return await tool.run(task)
        except TaskFailed as exc:
            # ToolError reaches the client as an error result carrying this message.
            raise ToolError(str(exc)) from exc

    run_task.__doc__ = tool.description
    return run_task


async def serve_stdio(name: str, tools: Sequence[ServedTool]) -> None:
    """Serve on this process's stdin/stdout until the client disconnects."""
    await build_server(name, tools).run_stdio_async()
