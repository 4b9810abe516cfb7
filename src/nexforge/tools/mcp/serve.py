"""Expose task-taking callables (NexForge agents) as an MCP server over stdio.

Kept free of the runtime (tools sit below it): the CLI passes one ``ServedTool`` per
entry agent, each taking a ``task`` string and returning the final output. A line that is
not a JSON-RPC message gets a JSON-RPC error reply (-32700 for invalid JSON, -32600 for
JSON that is no message); the SDK alone drops it silently, leaving the client waiting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nexforge.tools.mcp.streams import ReadStreamWrapper

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from mcp.shared._stream_protocols import ReadStream, WriteStream
    from mcp.shared.message import SessionMessage


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
    from mcp.server.stdio import stdio_server

    # MCPServer.run_stdio_async with the read stream wrapped; MCPServer offers no public
    # way to run its low-level server on given streams.
    server = build_server(name, tools)._lowlevel_server
    async with stdio_server() as (read_stream, write_stream):
        await server.run(
            _AnswerUnreadableLines(read_stream, write_stream),
            write_stream,
            server.create_initialization_options(),
        )


class _AnswerUnreadableLines(ReadStreamWrapper):
    """The transport's read stream minus the lines it could not decode: each of those is
    answered on ``write`` with a JSON-RPC error instead."""

    def __init__(
        self, inner: ReadStream[SessionMessage | Exception], write: WriteStream[SessionMessage]
    ) -> None:
        super().__init__(inner)
        self._write = write

    async def receive(self) -> SessionMessage | Exception:
        while True:
            item = await self._inner.receive()
            if not isinstance(item, Exception):
                return item  # type: ignore[no-any-return]
            reply = _error_reply(item)
            if reply is not None:
                await self._write.send(reply)


def _error_reply(exc: Exception) -> SessionMessage | None:
    """The JSON-RPC error answering a line the transport could not decode (None: a blank
    line, which is no message at all)."""
    from mcp.shared.message import SessionMessage
    from mcp_types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError
    from pydantic import ValidationError

    request_id: int | str | None = None
    errors = exc.errors(include_url=False) if isinstance(exc, ValidationError) else []
    if errors and errors[0]["type"] == "json_invalid":
        line = errors[0].get("input")
        if isinstance(line, str) and not line.strip():
            return None
        error = ErrorData(code=PARSE_ERROR, message="Parse error: the line is not valid JSON")
    else:
        for err in errors:
            found = err.get("input")
            if isinstance(found, dict) and type(found.get("id")) in (int, str):
                request_id = found["id"]
                break
        error = ErrorData(code=INVALID_REQUEST, message="Invalid Request: not a JSON-RPC message")
    return SessionMessage(JSONRPCError(jsonrpc="2.0", id=request_id, error=error))
