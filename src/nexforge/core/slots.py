"""ProcessSlots: a counting semaphore shared by every event loop and thread of a process.

``asyncio.Semaphore`` binds to one loop, but a loaded model's slots and a server's process
cap are per process (rollout engines may run one loop per worker thread), so each waiter
is woken on its own loop. Waiters are served in FIFO order. A synchronisation primitive:
no I/O, which is why it may live in ``core``.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

from nexforge.core.errors import NexForgeError


class SlotsExhaustedError(NexForgeError):
    """More callers were already waiting than the slots allow."""


class ProcessSlots:
    """``capacity`` permits; at most ``max_waiting`` callers wait (``None``: no bound)."""

    def __init__(self, capacity: int, *, max_waiting: int | None = None) -> None:
        self.capacity = capacity
        self.max_waiting = max_waiting
        self._free = capacity
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    @property
    def in_use(self) -> int:
        return self.capacity - self._free

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            if self.max_waiting is not None and len(self._waiters) >= self.max_waiting:
                raise SlotsExhaustedError(f"{self.max_waiting} callers already waiting")
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, future))
        try:
            await future
        except asyncio.CancelledError:
            with self._lock:
                waiting = (loop, future) in self._waiters
                if waiting:
                    self._waiters.remove((loop, future))
            if not waiting and future.done() and not future.cancelled():
                self.release()  # granted just as we were cancelled: hand the slot on
            raise

    def release(self) -> None:
        """Return a permit; callable from any thread (e.g. a worker finishing its job)."""
        with self._lock:
            while self._waiters:
                loop, future = self._waiters.popleft()
                try:
                    # The permit passes straight to the waiter; _free is unchanged.
                    loop.call_soon_threadsafe(self._grant, future)
                    return
                except RuntimeError:  # that waiter's loop is closed: try the next one
                    continue
            self._free += 1

    def _grant(self, future: asyncio.Future[None]) -> None:
        if future.cancelled():
            self.release()  # its waiter was cancelled before the grant ran: pass it on
        else:
            future.set_result(None)
