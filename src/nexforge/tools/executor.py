"""execute_tool: validate, call with a timeout, and turn any result or error into one string."""

from __future__ import annotations

import asyncio
import enum
import inspect
import json
import logging
from typing import Any

from pydantic import BaseModel

from nexforge.tools.base import Tool, ToolContext, ToolOutcome
from nexforge.tools.errors import ToolInputError
from nexforge.tools.threads import run_in_thread
from nexforge.tools.validation import validate_arguments

logger = logging.getLogger(__name__)

NO_OUTPUT = "(no output)"


async def execute_tool(tool: Tool, arguments: dict[str, Any], ctx: ToolContext) -> ToolOutcome:
    """Run one tool call; every failure becomes an error outcome except cancellation.

    Async functions run on the loop (the fast path: write cheap tools as ``async def``);
    sync functions run on a thread of their own (``run_in_thread``), so a blocking tool
    never stalls other runs. A sync tool that times out is abandoned, not killed: its
    daemon thread runs on, holding no shared worker and not keeping the process alive.
    """
    problem = validate_arguments(tool.spec, arguments)
    if problem is not None:
        return ToolOutcome(problem, is_error=True)
    kwargs = dict(arguments)
    if tool.context_param is not None:
        kwargs[tool.context_param] = ctx
    try:
        async with asyncio.timeout(tool.timeout_s) as deadline:
            for param, resource in tool.resources.items():
                if ctx.resources is None:
                    raise ToolInputError(f"tool '{tool.name}' needs a run ({resource.name})")
                kwargs[param] = await ctx.resources.get(resource)
            if inspect.iscoroutinefunction(tool.fn):
                result = await tool.fn(**kwargs)
            else:
                result = await run_in_thread(tool.fn, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
    except ToolInputError as exc:
        return ToolOutcome(_cap(_one_line(str(exc)) or "invalid input", tool), is_error=True)
    except TimeoutError as exc:
        if not deadline.expired():
            return _failure(tool, exc)
        return ToolOutcome(f"tool '{tool.name}' timed out after {tool.timeout_s:g}s", is_error=True)
    except Exception as exc:
        return _failure(tool, exc)
    if isinstance(result, ToolOutcome):
        return ToolOutcome(_cap(result.content, tool), is_error=result.is_error)
    return ToolOutcome(_cap(render_result(result), tool))


def render_result(value: Any) -> str:
    """The text the model sees for a tool's return value."""
    if value is None:
        return NO_OUTPUT
    if isinstance(value, str):
        return value or NO_OUTPUT
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, ensure_ascii=False, default=_json_fallback)
    except (TypeError, ValueError):
        return str(value)


def _json_fallback(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _failure(tool: Tool, exc: Exception) -> ToolOutcome:
    # The model gets one line; the traceback is for whoever reads the logs.
    logger.debug("tool %r raised", tool.name, exc_info=exc)
    message = _one_line(str(exc))
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return ToolOutcome(_cap(text, tool), is_error=True)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cap(text: str, tool: Tool) -> str:
    limit = tool.max_output_chars
    if len(text) <= limit:
        return text
    dropped = len(text) - limit
    return f"{text[:limit]}\n[... truncated: {dropped} more chars not shown]"
