"""Middleware: async hooks around every model call and tool call.

Override any hook; returning ``None`` keeps the value unchanged. A hook's exception
propagates to the caller of the run unless the middleware sets ``swallow_errors``, in
which case it is logged and the run goes on as if the hook had returned ``None``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from nexforge.core.messages import ToolCall
from nexforge.models.base import ModelRequest, ModelResponse
from nexforge.tools.base import ToolOutcome

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class HookContext:
    run_id: str
    agent: str
    episode_id: str
    depth: int
    step: int


class Middleware:
    swallow_errors: bool = False

    async def before_model(self, ctx: HookContext, request: ModelRequest) -> ModelRequest | None:
        return None

    async def after_model(
        self, ctx: HookContext, request: ModelRequest, response: ModelResponse
    ) -> ModelResponse | None:
        return None

    async def before_tool(self, ctx: HookContext, call: ToolCall) -> ToolCall | ToolOutcome | None:
        """Return a changed call, or a ToolOutcome to answer the call without running it."""
        return None

    async def after_tool(
        self, ctx: HookContext, call: ToolCall, outcome: ToolOutcome
    ) -> ToolOutcome | None:
        return None


async def apply_hook(middleware: Middleware, hook: Awaitable[T | None]) -> T | None:
    """Await one hook's result, honouring the middleware's ``swallow_errors``."""
    try:
        return await hook
    except Exception:
        if not middleware.swallow_errors:
            raise
        log.exception("middleware %s failed; continuing", type(middleware).__name__)
        return None
