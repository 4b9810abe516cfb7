"""A streamable-HTTP server (the SDK's own, on loopback) as shared and per_run tools;
images described, structured content as JSON, headers sent; the per_run process cap."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nexforge.core.slots import ProcessSlots
from nexforge.runtime.config import load_agent
from nexforge.testing import ScriptedModel, call, say
from test_mcp_support import close_shared

__all__ = ["close_shared"]
# Module level: the SDK's server evaluates the tools' annotations in this module's globals.
mcp_types = pytest.importorskip("mcp_types")
PIXEL = base64.b64encode(b"\x89PNG" + bytes(96)).decode()


def _app() -> Any:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name="loopback")
    seen_headers: list[str] = []

    @server.tool(description="Add two numbers.", structured_output=True)
    def add(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    @server.tool(description="A tiny picture and a caption.")
    def picture() -> mcp_types.CallToolResult:
        return mcp_types.CallToolResult(
            content=[
                mcp_types.TextContent(type="text", text="a pixel"),
                mcp_types.ImageContent(type="image", data=PIXEL, mime_type="image/png"),
            ]
        )

    app = server.streamable_http_app()

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            seen_headers.append(headers.get(b"x-team", b"").decode())
        await app(scope, receive, send)

    recording.seen_headers = seen_headers  # type: ignore[attr-defined]
    recording.app = app  # type: ignore[attr-defined]
    return recording


@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[str, list[str]]]:
    pytest.importorskip("uvicorn")
    import uvicorn

    app = _app()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)

    async def serve() -> None:
        # The SDK's app runs its session manager in the app's lifespan; uvicorn with
        # lifespan="off" would skip it, so run it around the server here.
        async with app.app.router.lifespan_context(app.app):
            await server.serve(sockets=[sock])

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.02)
    yield f"http://127.0.0.1:{port}/mcp", app.seen_headers
    server.should_exit = True
    thread.join(5)


async def test_http_server_tools_in_an_agent(
    http_server: tuple[str, list[str]], tmp_path: Path, close_shared: None
) -> None:
    url, seen_headers = http_server
    config = tmp_path / "calc.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            name: calc
            system_prompt: You add.
            mcp_servers:
              web: {{url: "{url}", headers: {{X-Team: forge}}, scope: shared}}
            tools:
              - mcp: web
            """
        )
    )
    agent = load_agent(config)
    assert {t.name for t in agent.tools} == {"add", "picture"}

    model = ScriptedModel([call("add", a=2, b=3), call("picture"), say("5, and a picture")])
    with model:
        result = await agent.arun("add and draw", model=model)

    added, picture = [m.content for m in result.trajectory.episodes[0].messages if m.role == "tool"]
    assert json.loads(added or "") == {"sum": 5}
    assert picture == "a pixel\n[image: image/png, 100 bytes]"
    assert "forge" in seen_headers


async def test_process_slots_make_extra_runs_wait() -> None:
    slots = ProcessSlots(2)
    await slots.acquire()
    await slots.acquire()
    third = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0.05)
    assert not third.done()
    slots.release()
    await asyncio.wait_for(third, 1)
    assert slots.in_use == 2

    cancelled = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0.01)
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    slots.release()
    slots.release()
    assert slots.in_use == 0
