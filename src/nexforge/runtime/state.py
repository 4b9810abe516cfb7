"""RunState: what every agent invocation of one run (one conversation turn) shares."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nexforge.core.trajectory import StopReason, Usage
from nexforge.models.resolve import ModelResolver
from nexforge.runtime.events import Event
from nexforge.runtime.middleware import Middleware
from nexforge.runtime.tracing import TraceRecorder


@dataclass
class RunState:
    trace: TraceRecorder
    workspace: Path
    resolver: ModelResolver
    deadline: float
    """``time.monotonic()`` value after which the run stops with ``timeout``."""
    token_budget: int | None = None
    middleware: list[Middleware] = field(default_factory=list)
    emit: Callable[[Event], None] | None = None
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)

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
        if self.token_budget is not None and self.usage.total_tokens >= self.token_budget:
            return "budget"
        return None
