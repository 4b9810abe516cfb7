"""Transport read streams with a NexForge twist, on one delegating base.

``EofWatch`` (client side) signals when the server side has gone away: the SDK fails
in-flight requests when a stdio server dies, but says nothing while the connection is
idle; the owner task watches this event to restart a crashed server before the next call
instead of failing that call too. ``serve.py`` answers undecodable lines with its own.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from typing import Self


class ReadStreamWrapper:
    """A ``ReadStream`` (the SDK's protocol) that delegates to ``inner``; subclasses
    override ``receive``."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @property
    def last_context(self) -> Any:
        # The dispatcher reads the sender's contextvars snapshot through this attribute.
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        return await self._inner.receive()

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        await self.aclose()
        return None


class EofWatch(ReadStreamWrapper):
    """Wraps a ``ReadStream``; ``closed`` is set at end of stream."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.closed = anyio.Event()

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.closed.set()
            raise
