"""McpConnection: one MCP server connection, owned by one task.

The SDK's transports and ``ClientSession`` are anyio contexts that must be entered and
exited in the same task, so a single owner task opens them, lists the tools once, and
serves call requests from a queue; callers only await futures. The owner restarts a
server that crashes once; a second crash, or a failed start, marks the connection failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, TextIO, cast

import anyio

from nexforge.core.errors import NexForgeError
from nexforge.tools.mcp.config import ServerLaunch
from nexforge.tools.mcp.sandboxed import per_run_command
from nexforge.tools.mcp.streams import EofWatch

if TYPE_CHECKING:
    from mcp import ClientSession
    from mcp_types import CallToolResult
    from mcp_types import Tool as WireTool

log = logging.getLogger(__name__)

# The SDK needs this long at most to stop a stdio server (stdin close, SIGTERM, SIGKILL).
_CLOSE_TIMEOUT_S = 10.0
_STDERR_TAIL_CHARS = 300


class McpServerError(NexForgeError):
    """A server could not be started or listed, or has failed for good."""


class McpCallError(NexForgeError):
    """A call did not produce a result (timeout, crash, failed server); one line for the model."""


@dataclass(frozen=True)
class McpToolInfo:
    """A tool as the server lists it. ``read_only`` is the ``readOnlyHint`` when given."""

    name: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool | None = None

    @classmethod
    def from_wire(cls, tool: WireTool) -> McpToolInfo:
        hints = tool.annotations
        return cls(
            name=tool.name,
            description=tool.description or tool.title or "",
            input_schema=dict(tool.input_schema),
            read_only=hints.read_only_hint if hints is not None else None,
        )


@dataclass(eq=False)
class _Call:
    tool: str
    arguments: dict[str, Any]
    future: asyncio.Future[CallToolResult]
    scope: anyio.CancelScope | None = field(default=None)


Outcome = Literal["closed", "crashed"]


class McpConnection:
    """A connection to one server, started in ``workspace`` (or ``launch.cwd``).

    ``start()`` returns the tools (listed once); ``call()`` may be awaited concurrently from
    any task of the same event loop; ``aclose()`` stops the server and its child processes.
    """

    def __init__(self, launch: ServerLaunch, workspace: Path | None = None) -> None:
        self.launch = launch
        self.workspace = workspace if workspace is not None else launch.cwd
        self.name = launch.name
        self.tools: list[McpToolInfo] = []
        self.restarts = 0
        self._queue: asyncio.Queue[_Call | None] = asyncio.Queue()
        self._inflight: set[_Call] = set()
        self._owner: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[list[McpToolInfo]] | None = None
        self._failure: str | None = None
        self._closing = False

    @property
    def failure(self) -> str | None:
        """Why the connection is unusable, or ``None`` while it works."""
        return self._failure

    async def start(self) -> list[McpToolInfo]:
        """Start the server (once) and return its tools; raises McpServerError."""
        if self._owner is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._owner = asyncio.create_task(self._own(), name=f"mcp-server:{self.name}")
        assert self._ready is not None
        return await asyncio.shield(self._ready)

    async def call(
        self, tool: str, arguments: dict[str, Any], timeout_s: float | None = None
    ) -> CallToolResult:
        """Call ``tool``; raises McpCallError with a one-line reason when there is no result."""
        await self.start_or_raise()
        limit = self.launch.timeout_s if timeout_s is None else timeout_s
        call = _Call(tool, arguments, asyncio.get_running_loop().create_future())
        call.future.add_done_callback(lambda f: _cancel_scope_if_cancelled(f, call))
        self._queue.put_nowait(call)
        try:
            async with asyncio.timeout(limit):
                return await call.future
        except TimeoutError:
            raise McpCallError(
                f"mcp server {self.name!r} did not answer {tool} within {limit:g}s"
            ) from None

    async def start_or_raise(self) -> None:
        if self._closing:
            raise McpCallError(f"mcp server {self.name!r} is closed")
        try:
            await self.start()
        except McpServerError as exc:
            raise McpCallError(str(exc)) from None
        if self._failure is not None:
            raise McpCallError(self._failure)

    async def aclose(self) -> None:
        """Stop the server; waits (bounded) until its process tree is gone."""
        self._closing = True
        owner = self._owner
        if owner is None or owner.done():
            return
        self._queue.put_nowait(None)  # asks the owner to stop
        try:
            await asyncio.wait_for(asyncio.shield(owner), _CLOSE_TIMEOUT_S)
        except TimeoutError:
            log.warning(
                "mcp server %r did not stop in %gs; cancelling", self.name, _CLOSE_TIMEOUT_S
            )
            owner.cancel()
            await asyncio.gather(owner, return_exceptions=True)

    # -- the owner task -------------------------------------------------------------

    async def _own(self) -> None:
        crashes = 0
        try:
            while not self._closing:
                try:
                    outcome = await self._lifetime()
                except Exception as exc:
                    reason = describe_error(exc)
                    self._fail(
                        f"mcp server {self.name!r} ({self.launch.describe()}) failed: {reason}"
                    )
                    return
                if outcome == "closed" or self._closing:
                    return
                crashes += 1
                if crashes > 1:
                    self._fail(f"mcp server {self.name!r} crashed twice and was not restarted")
                    return
                self.restarts += 1
                log.warning("mcp server %r crashed; restarting it once", self.name)
        finally:
            if self._failure is None:
                self._failure = f"mcp server {self.name!r} is closed"
            self._resolve_all(McpCallError(self._failure))

    async def _lifetime(self) -> Outcome:
        """One server process: start, list, serve until closed or until it dies."""
        from mcp import ClientSession

        # The server's stderr goes to a file: quiet in normal use, quoted when it fails.
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errfile:
            errlog = cast(TextIO, errfile)
            try:
                async with self._transport(errlog) as (read, write):
                    eof = EofWatch(read)
                    async with ClientSession(eof, write) as session:
                        with anyio.fail_after(self.launch.start_timeout_s):
                            await session.initialize()
                            tools = await _list_tools(session)
                        self.tools = tools
                        if self._ready is not None and not self._ready.done():
                            self._ready.set_result(tools)
                        return await self._serve(session, eof.closed)
            except Exception as exc:
                if self._ready is not None and self._ready.done():
                    # Already serving: a transport error is a crash, not a failed start.
                    log.warning("mcp server %r: %s", self.name, describe_error(exc))
                    self._crash_inflight()
                    return "crashed"
                raise McpServerError(f"{describe_error(exc)}{_stderr_tail(errlog)}") from exc

    @contextlib.asynccontextmanager
    async def _transport(self, errlog: TextIO) -> AsyncIterator[Any]:
        launch = self.launch
        if launch.url is not None:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            async with (
                httpx2.AsyncClient(headers=dict(launch.headers)) as http,
                streamable_http_client(launch.url, http_client=http) as streams,
            ):
                yield streams
            return
        from mcp import StdioServerParameters, stdio_client

        assert launch.command is not None
        cwd = self.workspace if self.workspace is not None else Path.cwd()
        if launch.scope == "per_run":
            sandboxed = await per_run_command(launch, cwd)
            command, args, env = sandboxed.command, sandboxed.args, sandboxed.env
        else:
            command = launch.command
            args, env = launch.at(cwd)
        params = StdioServerParameters(command=command, args=args, env=env, cwd=cwd)
        async with stdio_client(params, errlog=errlog) as streams:
            yield streams

    async def _serve(self, session: ClientSession, eof: anyio.Event) -> Outcome:
        outcome: Outcome = "crashed"
        async with anyio.create_task_group() as tg:

            async def watch_eof() -> None:
                await eof.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(watch_eof)
            while True:
                call = await self._queue.get()
                if call is None:
                    outcome = "closed"
                    tg.cancel_scope.cancel()
                    break
                if not call.future.done():
                    self._inflight.add(call)
                    tg.start_soon(self._run_call, session, call)
        if outcome == "crashed":
            self._crash_inflight()
        return outcome

    async def _run_call(self, session: ClientSession, call: _Call) -> None:
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED

        with anyio.CancelScope() as scope:
            call.scope = scope
            try:
                result = await session.call_tool(call.tool, call.arguments)
            except MCPError as exc:
                if exc.error.code == CONNECTION_CLOSED:
                    return  # the server died: _serve fails it as a crash
                self._settle(call, exc=McpCallError(f"mcp error: {_one_line(exc.error.message)}"))
            except Exception as exc:
                self._settle(call, exc=McpCallError(f"mcp call failed: {describe_error(exc)}"))
            else:
                self._settle(call, result=result)

    def _settle(
        self, call: _Call, *, result: CallToolResult | None = None, exc: Exception | None = None
    ) -> None:
        self._inflight.discard(call)
        if call.future.done():
            return
        if exc is not None:
            call.future.set_exception(exc)
        else:
            assert result is not None
            call.future.set_result(result)

    def _crash_inflight(self) -> None:
        message = f"mcp server {self.name!r} crashed during the call"
        for call in list(self._inflight):
            self._settle(call, exc=McpCallError(message))

    def _fail(self, reason: str) -> None:
        self._failure = reason
        log.warning("%s", reason)
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(McpServerError(reason))

    def _resolve_all(self, exc: McpCallError) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(McpServerError(str(exc)))
        for call in list(self._inflight):
            self._settle(call, exc=exc)
        while not self._queue.empty():
            queued = self._queue.get_nowait()
            if queued is not None and not queued.future.done():
                queued.future.set_exception(exc)


def _cancel_scope_if_cancelled(future: asyncio.Future[Any], call: _Call) -> None:
    # A caller that timed out or was cancelled stops the request (the SDK tells the server).
    if future.cancelled() and call.scope is not None:
        call.scope.cancel()


async def _list_tools(session: ClientSession) -> list[McpToolInfo]:
    from mcp_types import PaginatedRequestParams

    tools: list[McpToolInfo] = []
    cursor: str | None = None
    while True:
        params = PaginatedRequestParams(cursor=cursor) if cursor is not None else None
        page = await session.list_tools(params=params)
        tools.extend(McpToolInfo.from_wire(t) for t in page.tools)
        cursor = page.next_cursor
        if cursor is None:
            return tools


def _stderr_tail(errlog: IO[str]) -> str:
    try:
        errlog.seek(0)
        text = errlog.read()
    except (OSError, ValueError):
        return ""
    tail = _one_line(text)[-_STDERR_TAIL_CHARS:]
    return f" (stderr: {tail})" if tail else ""


def describe_error(exc: BaseException) -> str:
    """One line for an exception, looking inside anyio's exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return "timed out"
    return _one_line(str(exc)) or type(exc).__name__


def _one_line(text: str) -> str:
    return " ".join(text.split())
