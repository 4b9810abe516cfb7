"""Per-run resources: state a tool needs that belongs to one run (one rollout).

A ``Resource`` opens a handle for a run (a copied database, an MCP server process started
in the run's workspace...) and closes it. ``RunResources`` opens each resource lazily, at
most once per run, even when parallel calls ask at the same moment, and closes them all,
newest first, when the run's conversation closes. Concurrent runs never share a handle.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)
H = TypeVar("H")
H_co = TypeVar("H_co", covariant=True)


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    workspace: Path


class Resource(Protocol[H]):
    """Something a run opens on first use and closes at its end."""

    @property
    def name(self) -> str: ...

    async def open(self, run: RunInfo) -> H: ...

    async def close(self, handle: H) -> None: ...


@dataclass
class _Opened(Generic[H]):
    resource: Resource[H]
    handle: H


class RunResources:
    """The handles of one run, keyed by resource identity."""

    def __init__(self, run: RunInfo) -> None:
        self.run = run
        self._opened: dict[int, _Opened[Any]] = {}
        self._opening: dict[int, asyncio.Task[Any]] = {}
        self._closed = False

    async def get(self, resource: Resource[H]) -> H:
        key = id(resource)
        opened = self._opened.get(key)
        if opened is not None:
            handle: H = opened.handle
            return handle
        if self._closed:
            raise RuntimeError(f"run {self.run.run_id} is closed; cannot open {resource.name}")
        task = self._opening.get(key)
        if task is None:
            # One task opens it; concurrent callers await the same task, and a caller that
            # is cancelled does not cancel the opening for the others.
            task = self._opening[key] = asyncio.ensure_future(resource.open(self.run))
            task.add_done_callback(lambda t: self._record(key, resource, t))
        result: H = await asyncio.shield(task)
        return result

    def _record(self, key: int, resource: Resource[Any], task: asyncio.Task[Any]) -> None:
        self._opening.pop(key, None)
        if not task.cancelled() and task.exception() is None:
            self._opened[key] = _Opened(resource, task.result())

    async def aclose(self) -> None:
        """Close every opened handle, newest first; a failing close is logged, not raised."""
        self._closed = True
        for task in list(self._opening.values()):
            task.cancel()
        await asyncio.gather(*self._opening.values(), return_exceptions=True)
        for opened in reversed(list(self._opened.values())):
            try:
                await opened.resource.close(opened.handle)
            except Exception:
                log.exception("closing %s for run %s failed", opened.resource.name, self.run.run_id)
        self._opened.clear()
