"""run_in_thread: blocking work off the event loop, on a thread of its own per call.

``asyncio.to_thread`` borrows a worker of the loop's default executor, which has a few:
a call that never returns keeps its worker for good, so a handful of hung tools stall the
sync tools of every run in the process, and ``asyncio.run`` waits for them at exit. Here
each call gets a new daemon thread; when the caller stops waiting (its timeout, a
cancellation) the thread is abandoned: it holds no shared worker and does not keep the
process alive. Python cannot kill a thread, so tools are still written not to block.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


async def run_in_thread(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` on a new daemon thread, with this task's context variables."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # the caller stopped waiting
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result = context.run(fn, *args, **kwargs)
        except BaseException as exc:  # handed to the awaiting task, as to_thread does
            outcome: tuple[T | None, BaseException | None] = (None, exc)
        else:
            outcome = (result, None)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, *outcome)

    name = getattr(fn, "__name__", "call")
    threading.Thread(target=work, name=f"nexforge:{name}", daemon=True).start()
    return await future
