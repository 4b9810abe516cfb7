"""Running the calls of one model reply: tools, sub-agents and ``finish``, in parallel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from nexforge.core.errors import describe_error
from nexforge.core.messages import Message, ToolCall
from nexforge.runtime.events import (
    SubAgentFinished,
    SubAgentStarted,
    ToolCallFinished,
    ToolCallStarted,
)
from nexforge.runtime.invocation import Invocation, start_invocation
from nexforge.runtime.middleware import HookContext, apply_hook
from nexforge.runtime.state import RunState
from nexforge.tools import (
    FINISH_TOOL_NAME,
    ToolContext,
    ToolOutcome,
    execute_tool,
    validate_arguments,
)

if TYPE_CHECKING:
    from nexforge.runtime.loop import EpisodeOutcome

RunChild = Callable[[Invocation, RunState], Awaitable["EpisodeOutcome"]]


async def dispatch_calls(
    inv: Invocation,
    calls: list[ToolCall],
    state: RunState,
    hook: HookContext,
    run_child: RunChild,
    slots: list[Message | None],
) -> str | None:
    """Run ``calls`` (at most ``max_parallel_tools`` at once), writing each result into
    ``slots`` (call order) as it arrives, so a caller that is interrupted keeps what
    finished. Returns the final answer if a ``finish`` call succeeded.

    If one call raises, the others are cancelled before the error propagates: nothing
    keeps running, or writing into the trajectory, after the run has ended.
    """
    state.usage.tool_calls += len(calls)
    if len(calls) == 1:
        slots[0] = await _run_call(inv, calls[0], state, hook, run_child)
    else:
        gate = asyncio.Semaphore(inv.agent.limits.max_parallel_tools)

        async def bounded(index: int, call: ToolCall) -> None:
            async with gate:
                slots[index] = await _run_call(inv, call, state, hook, run_child)

        tasks = [asyncio.ensure_future(bounded(i, c)) for i, c in enumerate(calls)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    for call, result in zip(calls, slots, strict=True):
        if call.name == FINISH_TOOL_NAME and result is not None and not result.is_error:
            answer = call.arguments.get("answer")
            return answer if isinstance(answer, str) else result.content
    return None


async def _run_call(
    inv: Invocation, call: ToolCall, state: RunState, hook: HookContext, run_child: RunChild
) -> Message:
    emit = state.emit
    if emit is not None:
        emit(ToolCallStarted(inv.agent.name, inv.episode.episode_id, inv.depth, call))
    span = state.trace.start_span("tool", call.name, inv.span.span_id, call.arguments)
    try:
        outcome: ToolOutcome | None = None
        for mw in state.middleware:
            changed = await apply_hook(mw, mw.before_tool(hook, call))
            if isinstance(changed, ToolOutcome):
                outcome = changed
                break
            if isinstance(changed, ToolCall):
                call = changed
        if outcome is None:
            outcome = await _execute(inv, call, state, span.span_id, run_child)
        for mw in state.middleware:
            outcome = await apply_hook(mw, mw.after_tool(hook, call, outcome)) or outcome
    except BaseException as exc:
        state.trace.end_span(span, error=describe_error(exc))
        raise
    state.trace.end_span(span, outcome.content, outcome.content if outcome.is_error else None)
    if emit is not None:
        emit(
            ToolCallFinished(
                inv.agent.name,
                inv.episode.episode_id,
                inv.depth,
                call,
                outcome.content,
                outcome.is_error,
            )
        )
    return Message.tool(call.id, call.name, outcome.content, is_error=outcome.is_error)


async def _execute(
    inv: Invocation, call: ToolCall, state: RunState, span_id: str, run_child: RunChild
) -> ToolOutcome:
    box = inv.toolbox
    if call.invalid_arguments is not None:
        return ToolOutcome(
            f"arguments of '{call.name}' are not valid JSON: {call.invalid_arguments[:200]}",
            is_error=True,
        )
    tool = box.tools.get(call.name)
    if tool is not None:
        ctx = ToolContext(
            workspace=state.workspace,
            run_id=state.trace.run_id,
            agent=inv.agent.name,
            resources=state.resources,
        )
        return await execute_tool(tool, call.arguments, ctx)
    if call.name in box.sub_agents:
        return await _call_sub_agent(inv, call, state, span_id, run_child)
    available = ", ".join(s.name for s in box.specs) or "none"
    return ToolOutcome(f"unknown tool '{call.name}'; available tools: {available}", is_error=True)


async def _call_sub_agent(
    inv: Invocation, call: ToolCall, state: RunState, span_id: str, run_child: RunChild
) -> ToolOutcome:
    child = inv.toolbox.sub_agents[call.name]
    max_depth = min(state.max_depth, inv.agent.limits.max_depth)
    if inv.depth + 1 > max_depth:
        return ToolOutcome(
            f"sub-agent '{child.name}' refused: the hierarchy is limited to depth {max_depth}",
            is_error=True,
        )
    spec = next(s for s in inv.toolbox.specs if s.name == call.name)
    problem = validate_arguments(spec, call.arguments)
    if problem is not None:
        return ToolOutcome(problem, is_error=True)
    task = str(call.arguments["task"])
    model = state.resolver.resolve(child.name, child.model, inv.model)
    sub = start_invocation(
        child,
        model,
        state,
        depth=inv.depth + 1,
        parent=inv,
        parent_tool_call_id=call.id,
        parent_span_id=span_id,
    )
    sub.episode.messages.append(
        Message.user(with_request(task, inv) if child.sees_request else task)
    )
    if state.emit is not None:
        state.emit(
            SubAgentStarted(
                child.name, sub.episode.episode_id, sub.depth, inv.episode.episode_id, task
            )
        )
    outcome = await run_child(sub, state)
    if state.emit is not None:
        state.emit(
            SubAgentFinished(
                child.name,
                sub.episode.episode_id,
                sub.depth,
                outcome.final_output,
                outcome.stop_reason,
            )
        )
    if outcome.stop_reason == "completed":
        return ToolOutcome(outcome.final_output or "")
    detail = f": {outcome.error}" if outcome.error else ""
    return ToolOutcome(
        f"sub-agent '{child.name}' stopped ({outcome.stop_reason}) without a final answer{detail}",
        is_error=True,
    )


def with_request(task: str, parent: Invocation) -> str:
    """``task``, followed by the user's latest message to the run's entry agent, unless the
    task already holds it. A small model delegating "get_order_status" drops the order
    number the user gave; a child that sees the message can still act on the right record.
    The child's context stays its own: it sees one message, never the parent's history."""
    root = parent
    while root.parent is not None:
        root = root.parent
    said = [m.content for m in root.episode.messages if m.role == "user" and m.content]
    if not said or " ".join(said[-1].split()) in " ".join(task.split()):
        return task
    return f"{task}\n\n{REQUEST_HEADER}\n{said[-1]}"


REQUEST_HEADER = "The user's message this task comes from (for reference; do only your task):"
