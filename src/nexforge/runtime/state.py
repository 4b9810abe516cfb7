"""RunState: what every agent invocation of one run (one conversation turn) shares."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nexforge.core.trajectory import StopReason, Usage
from nexforge.models.resolve import ModelResolver
from nexforge.runtime.events import Event
from nexforge.runtime.middleware import Middleware
from nexforge.runtime.tracing import TraceRecorder
from nexforge.tools.resources import RunResources

if TYPE_CHECKING:
    from nexforge.runtime.invocation import Toolbox


@dataclass
class RunState:
    trace: TraceRecorder
    workspace: Path
    resolver: ModelResolver
    resources: RunResources
    deadline: float
    """``time.monotonic()`` value after which the run stops with ``timeout``."""
    max_depth: int
    """The root agent's ``max_depth``: no sub-agent runs deeper, whatever its own limits."""
    middleware: list[Middleware] = field(default_factory=list)
    emit: Callable[[Event], None] | None = None
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    toolboxes: dict[int, Toolbox] = field(default_factory=dict)
    """Per-run cache: an agent's toolbox is built once per run, so edits between runs count."""

    @property
    def usage(self) -> Usage:
        return self.trace.trajectory.usage

    @staticmethod
    def now() -> float:
        return time.monotonic()

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()

    def global_stop(self) -> StopReason | None:
        """A reason every agent of the run must stop for, if any."""
        if self.cancel_requested.is_set():
            return "cancelled"
        if self.remaining_s() <= 0:
            return "timeout"
        return None
