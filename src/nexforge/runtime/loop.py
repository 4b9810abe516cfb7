"""The ReAct loop: one agent invocation, step by step, until it stops.

This is the only copy of the loop. A step is one model call; the calls it asks for run
(in parallel, bounded) and their results go back as tool messages. Sub-agents run the
same loop in their own episode (see ``dispatch``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from nexforge.core.errors import ModelError, ToolCallFormatError
from nexforge.core.messages import Message
from nexforge.core.trajectory import StopReason
from nexforge.models.base import ModelRequest, ModelResponse
from nexforge.models.settings import DEFAULT_CONTEXT_LENGTH, ModelSettings
from nexforge.runtime.compaction import compact, estimate_tokens
from nexforge.runtime.dispatch import dispatch_calls
from nexforge.runtime.events import ModelCallFinished, ModelCallStarted
from nexforge.runtime.invocation import Invocation
from nexforge.runtime.middleware import HookContext, apply_hook
from nexforge.runtime.state import RunState

log = logging.getLogger(__name__)

FORMAT_ERROR_FEEDBACK = (
    "Your reply contained a malformed tool call ({error}). Write tool calls exactly as "
    "the system prompt describes, or answer in plain text."
)


@dataclass
class EpisodeOutcome:
    final_output: str | None
    stop_reason: StopReason
    steps: int
    error: str | None = None


def _context_length(inv: Invocation) -> int:
    if isinstance(inv.agent.model, ModelSettings):
        return inv.agent.model.context_length
    length = getattr(inv.model, "context_length", None)
    return length if isinstance(length, int) else DEFAULT_CONTEXT_LENGTH


def _limit_reached(inv: Invocation, state: RunState) -> StopReason | None:
    reason = state.global_stop()
    if reason is not None:
        return reason
    limits = inv.agent.limits
    if state.now() >= inv.deadline:
        return "timeout"
    if limits.max_total_tokens is not None and inv.tokens_used >= limits.max_total_tokens:
        return "budget"
    if inv.steps >= limits.max_steps:
        return "max_steps"
    return None


async def _call_model(inv: Invocation, state: RunState, hook: HookContext) -> ModelResponse:
    history = inv.episode.messages
    # Episodes only grow, so the estimate is kept incrementally instead of re-read each step.
    inv.history_tokens += estimate_tokens(history[inv.history_counted :])
    inv.history_counted = len(history)
    view, note = await compact(
        history,
        inv.agent.compaction,
        _context_length(inv),
        inv.model,
        inv.agent.name,
        estimate=inv.history_tokens,
    )
    codec = inv.codec
    request = ModelRequest(
        messages=codec.to_wire(view) if codec is not None else view,
        tools=[] if codec is not None else inv.toolbox.specs,
        agent=inv.agent.name,
        timeout_s=max(0.001, inv.deadline - state.now()),
    )
    for mw in state.middleware:
        request = await apply_hook(mw, mw.before_model(hook, request)) or request
    span = state.trace.start_span(
        "llm",
        inv.model.name,
        inv.span.span_id,
        {"step": inv.steps, "messages": len(request.messages), "compaction": note},
    )
    try:
        async with asyncio.timeout_at(inv.deadline):
            response = await inv.model.complete(request)
    except (ModelError, TimeoutError) as exc:
        state.trace.end_span(span, error=f"{type(exc).__name__}: {exc}")
        raise
    for mw in state.middleware:
        response = await apply_hook(mw, mw.after_model(hook, request, response)) or response
    state.trace.end_span(
        span,
        {
            "finish_reason": response.finish_reason,
            "prompt_tokens": response.usage.prompt_tokens,
            "completion_tokens": response.usage.completion_tokens,
        },
    )
    return response


def _account(inv: Invocation, state: RunState, response: ModelResponse) -> None:
    usage = state.usage
    usage.model_calls += 1
    usage.prompt_tokens += response.usage.prompt_tokens
    usage.completion_tokens += response.usage.completion_tokens
    inv.tokens_used += response.usage.prompt_tokens + response.usage.completion_tokens


def _assistant_message(inv: Invocation, response: ModelResponse) -> Message:
    """In text modes the calls are parsed from the text; in structured mode never."""
    message = response.message
    if inv.codec is None:
        return message
    raw = message.content or ""
    parsed = inv.codec.parse(raw, inv.toolbox.specs)
    return Message.assistant(parsed.content, parsed.calls, reasoning=message.reasoning, raw=raw)


async def run_episode(inv: Invocation, state: RunState) -> EpisodeOutcome:
    """Run the invocation's loop on its episode's messages until a stop reason."""
    messages = inv.episode.messages
    agent, emit = inv.agent, state.emit
    while True:
        reason = _limit_reached(inv, state)
        if reason is not None:
            return EpisodeOutcome(None, reason, inv.steps)
        inv.steps += 1
        hook = HookContext(
            state.trace.run_id, agent.name, inv.episode.episode_id, inv.depth, inv.steps
        )
        if emit is not None:
            emit(ModelCallStarted(agent.name, inv.episode.episode_id, inv.depth, inv.steps))
        try:
            response = await _call_model(inv, state, hook)
        except TimeoutError:
            return EpisodeOutcome(None, "timeout", inv.steps)
        except ModelError as exc:
            log.warning("agent %s: model call failed: %s", agent.name, exc)
            return EpisodeOutcome(None, "error", inv.steps, error=str(exc))
        _account(inv, state, response)
        try:
            message = _assistant_message(inv, response)
        except ToolCallFormatError as exc:
            raw = response.message.content or ""
            messages.append(Message.assistant(raw, raw=raw, reasoning=response.message.reasoning))
            messages.append(Message.user(FORMAT_ERROR_FEEDBACK.format(error=exc)))
            continue
        messages.append(message)
        if emit is not None:
            emit(
                ModelCallFinished(agent.name, inv.episode.episode_id, inv.depth, inv.steps, message)
            )
        if not message.tool_calls:
            return EpisodeOutcome(message.content or "", "completed", inv.steps)
        if (reason := state.global_stop()) is not None:
            return EpisodeOutcome(None, reason, inv.steps)
        try:
            async with asyncio.timeout_at(inv.deadline):
                results, finished = await dispatch_calls(
                    inv, message.tool_calls, state, hook, run_child
                )
        except TimeoutError:
            return EpisodeOutcome(None, "timeout", inv.steps)
        messages.extend(results)
        if finished is not None:
            return EpisodeOutcome(finished, "completed", inv.steps)


async def run_child(inv: Invocation, state: RunState) -> EpisodeOutcome:
    """Run a sub-agent's invocation and close its agent span."""
    try:
        outcome = await run_episode(inv, state)
    except BaseException as exc:
        state.trace.end_span(inv.span, error=f"{type(exc).__name__}: {exc}")
        raise
    inv.episode.final = outcome.final_output
    state.trace.end_span(
        inv.span,
        {"stop_reason": outcome.stop_reason, "steps": outcome.steps},
        outcome.error,
    )
    return outcome
