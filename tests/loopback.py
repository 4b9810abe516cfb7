"""A loopback TCP listener that records whether anyone connected, for the network tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def loopback_listener() -> AsyncIterator[tuple[int, asyncio.Event]]:
    """Listens on 127.0.0.1 while open: its port, and an event set on the first connection."""
    accepted = asyncio.Event()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], accepted
