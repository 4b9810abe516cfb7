"""The ReAct loop: one agent invocation, step by step, until it stops.

This is the only copy of the loop. A step is one model call; the calls it asks for run
(in parallel, bounded) and their results go back as tool messages. Sub-agents run the
same loop in their own episode (see ``dispatch``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from nexforge.core.errors import ModelError, ToolCallFormatError, describe_error
from nexforge.core.messages import Message, ToolCall
from nexforge.core.trajectory import StopReason
from nexforge.models.base import ModelRequest, ModelResponse, Sampling
from nexforge.models.settings import DEFAULT_CONTEXT_LENGTH, ModelSettings
from nexforge.runtime import compaction
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
    if inv.over_budget():
        return "budget"
    if inv.steps >= limits.max_steps:
        return "max_steps"
    return None


def _account(inv: Invocation, state: RunState, response: ModelResponse) -> None:
    usage = state.usage
    usage.model_calls += 1
    usage.prompt_tokens += response.usage.prompt_tokens
    usage.completion_tokens += response.usage.completion_tokens
    inv.add_tokens(response.usage.prompt_tokens + response.usage.completion_tokens)


async def _complete(
    inv: Invocation, state: RunState, request: ModelRequest, span_input: dict[str, Any]
) -> ModelResponse:
    """One model call within the invocation's deadline, traced and accounted."""
    span = state.trace.start_span("llm", inv.model.name, inv.span.span_id, span_input)
    try:
        async with asyncio.timeout_at(inv.deadline):
            response = await inv.model.complete(request)
    except BaseException as exc:
        state.trace.end_span(span, error=describe_error(exc))
        raise
    _account(inv, state, response)
    usage = response.usage
    output = {
        "finish_reason": response.finish_reason,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
    }
    state.trace.end_span(span, output)
    return response


async def _model_view(
    inv: Invocation, state: RunState
) -> tuple[list[Message], dict[str, Any] | None]:
    """The messages to send this step: the history, compacted when it outgrows the context."""
    history = inv.episode.messages
    # Episodes only grow, so the estimate is kept incrementally instead of re-read each step.
    inv.history_tokens += compaction.estimate_tokens(history[inv.history_counted :])
    inv.history_counted = len(history)
    policy = inv.agent.compaction
    budget = int(_context_length(inv) * policy.trigger_ratio)
    if not policy.enabled or inv.history_tokens <= budget:
        return history, None
    base = history
    if inv.summary_prefix is not None:
        base = [*inv.summary_prefix, *history[inv.summary_upto :]]
    view, truncated = compaction.truncate_tool_results(
        base, policy.keep_recent, policy.truncated_chars
    )
    note: dict[str, Any] = {"truncated_tool_results": truncated}
    head = compaction.head_length(view)
    start = compaction.recent_start(view, policy.keep_recent)
    if policy.summarize and start > head and compaction.estimate_tokens(view) > budget:
        request = ModelRequest(
            messages=compaction.summary_request(view[head:start]),
            tool_choice="none",
            sampling=Sampling(temperature=0.0),
            agent=inv.agent.name,
            timeout_s=max(0.001, inv.deadline - state.now()),
        )
        response = await _complete(inv, state, request, {"purpose": "summary"})
        summary = response.message.content or ""
        inv.summary_prefix = [*view[:head], compaction.summary_message(summary)]
        inv.summary_upto = len(history) - (len(view) - start)
        view = [*inv.summary_prefix, *view[start:]]
        note["summary"] = summary
    return view, note


async def _step(inv: Invocation, state: RunState, hook: HookContext) -> ModelResponse:
    view, note = await _model_view(inv, state)
    codec = inv.codec
    request = ModelRequest(
        messages=codec.to_wire(view) if codec is not None else view,
        tools=[] if codec is not None else inv.toolbox.specs,
        agent=inv.agent.name,
        timeout_s=max(0.001, inv.deadline - state.now()),
    )
    for mw in state.middleware:
        request = await apply_hook(mw, mw.before_model(hook, request)) or request
    span_input = {"step": inv.steps, "messages": len(request.messages), "compaction": note}
    response = await _complete(inv, state, request, span_input)
    for mw in state.middleware:
        response = await apply_hook(mw, mw.after_model(hook, request, response)) or response
    return response


def _assistant_message(inv: Invocation, response: ModelResponse) -> Message:
    """In text modes the calls are parsed from the text; in structured mode never."""
    message = response.message
    if inv.codec is None:
        return message
    raw = message.content or ""
    parsed = inv.codec.parse(raw, inv.toolbox.specs)
    return Message.assistant(parsed.content, parsed.calls, reasoning=message.reasoning, raw=raw)


def _results(calls: list[ToolCall], slots: list[Message | None], reason: str) -> list[Message]:
    """Every call gets a result, so the history stays valid if the conversation continues."""
    return [
        slot
        if slot is not None
        else Message.tool(call.id, call.name, f"not run: the run stopped ({reason})", is_error=True)
        for call, slot in zip(calls, slots, strict=True)
    ]


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
            response = await _step(inv, state, hook)
        except TimeoutError:
            return EpisodeOutcome(None, "timeout", inv.steps)
        except ModelError as exc:
            log.warning("agent %s: model call failed: %s", agent.name, exc)
            return EpisodeOutcome(None, "error", inv.steps, error=str(exc))
        try:
            message = _assistant_message(inv, response)
        except ToolCallFormatError as exc:
            raw = response.message.content or ""
            message = Message.assistant(raw, raw=raw, reasoning=response.message.reasoning)
            messages.append(message)
            messages.append(Message.user(FORMAT_ERROR_FEEDBACK.format(error=exc)))
            if emit is not None:
                emit(
                    ModelCallFinished(
                        agent.name, inv.episode.episode_id, inv.depth, inv.steps, message
                    )
                )
            continue
        messages.append(message)
        if emit is not None:
            emit(
                ModelCallFinished(agent.name, inv.episode.episode_id, inv.depth, inv.steps, message)
            )
        calls = message.tool_calls
        if not calls:
            return EpisodeOutcome(message.content or "", "completed", inv.steps)
        slots: list[Message | None] = [None] * len(calls)
        if (reason := state.global_stop()) is not None:
            messages.extend(_results(calls, slots, reason))
            return EpisodeOutcome(None, reason, inv.steps)
        try:
            async with asyncio.timeout_at(inv.deadline):
                finished = await dispatch_calls(inv, calls, state, hook, run_child, slots)
        except TimeoutError:
            messages.extend(_results(calls, slots, "timeout"))
            return EpisodeOutcome(None, "timeout", inv.steps)
        except asyncio.CancelledError:
            messages.extend(_results(calls, slots, "cancelled"))
            raise
        messages.extend(_results(calls, slots, "error"))
        if finished is not None:
            return EpisodeOutcome(finished, "completed", inv.steps)


async def run_child(inv: Invocation, state: RunState) -> EpisodeOutcome:
    """Run a sub-agent's invocation and close its agent span."""
    try:
        outcome = await run_episode(inv, state)
    except BaseException as exc:
        state.trace.end_span(inv.span, error=describe_error(exc))
        raise
    inv.episode.final = outcome.final_output
    state.trace.end_span(
        inv.span,
        {"stop_reason": outcome.stop_reason, "steps": outcome.steps},
        outcome.error,
    )
    return outcome
