"""Multi-turn rollouts (``--user-sim``): a simulated user talks to the agent until done.

The query text opens the conversation; after each agent turn the simulated user
(``simulated_user``) answers, until it says its goal is met or abandoned, the turns run
out, or the agent stops abnormally. Every turn continues the same root episode, so the
trajectory holds the whole dialogue; ``query_meta["user_sim"]`` records how it ended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from nexforge.architect.ask import AskSettings, StageFailed, StageUsage
from nexforge.core.trajectory import RunResult, StopReason, Trajectory, Usage
from nexforge.models.base import Model
from nexforge.models.settings import ModelSettings
from nexforge.runtime.agent import Agent
from nexforge.runtime.conversation import Conversation
from nexforge.synthesis.records import QueryRecord
from nexforge.synthesis.simulated_user import UserSimulator, UserTurn

UserSimStatus = Literal["goal_met", "abandoned", "max_turns", "agent_stopped", "user_sim_failed"]
INTERRUPTED = "interrupted"
"""The status recorded in ``query_meta`` when the conversation was cut short by an
exception (cancellation, a rollout timeout, a model error of the simulator)."""


@dataclass
class UserSimResult:
    """The whole conversation: the last agent turn's outcome and the user side's story.

    ``usage`` and ``steps`` sum the agent's turns; ``user_usage`` is the simulator's own
    model calls. ``reason`` says why it ended abnormally (agent stop, simulator failure).
    """

    final_output: str | None
    stop_reason: StopReason
    status: UserSimStatus
    turns: int
    steps: int
    usage: Usage
    user_usage: Usage
    trajectory: Trajectory
    user_turns: list[UserTurn] = field(default_factory=list)
    reason: str | None = None
    error: str | None = None

    def run_result(self) -> RunResult:
        """The conversation as one run: the last turn's stop, the summed agent usage."""
        return RunResult(
            final_output=self.final_output,
            stop_reason=self.stop_reason,
            steps=self.steps,
            usage=self.usage,
            trajectory=self.trajectory,
            error=self.error,
        )


async def run_with_user(
    agent: Agent,
    query: QueryRecord,
    *,
    model: Model | ModelSettings | None = None,
    user_model: Model,
    max_turns: int = 6,
    run_id: str | None = None,
    framework: str | None = None,
    query_meta: dict[str, Any] | None = None,
    wrap_model: Callable[[Model], Model] | None = None,
    settings: AskSettings | None = None,
) -> UserSimResult:
    """Run ``agent`` on ``query`` with a simulated user answering it, up to ``max_turns``.

    The query text is the first user message. After each agent turn the simulator
    answers; the conversation ends when it says the goal is met or abandoned, after
    ``max_turns`` agent turns, when an agent turn stops other than ``completed``, or when
    the simulator fails (``StageFailed``; the trajectory so far is kept). Model errors of
    the simulator propagate. ``model`` and ``wrap_model`` are ``Conversation``'s. The
    outcome is recorded in ``trajectory.query_meta["user_sim"]``; the conversation is
    closed however it ends.
    """
    conversation = Conversation(
        agent,
        model=model,
        run_id=run_id,
        framework=framework,
        query_meta=query_meta,
        wrap_model=wrap_model,
    )
    try:
        return await _converse(conversation, query, user_model, max_turns, settings)
    finally:
        await conversation.aclose()


async def continue_with_user(
    conversation: Conversation,
    query: QueryRecord,
    *,
    user_model: Model,
    max_turns: int = 6,
    settings: AskSettings | None = None,
) -> RunResult:
    """``run_with_user`` on a fresh conversation the caller opened and will close (the
    rollout runner's). The user side's outcome is in ``query_meta["user_sim"]``."""
    outcome = await _converse(conversation, query, user_model, max_turns, settings)
    return outcome.run_result()


async def _converse(
    conversation: Conversation,
    query: QueryRecord,
    user_model: Model,
    max_turns: int,
    settings: AskSettings | None,
) -> UserSimResult:
    if max_turns < 1:
        raise ValueError(f"max_turns must be at least 1, got {max_turns}")
    user = UserSimulator(query, user_model, settings=settings)
    usage, steps, turns, message = Usage(), 0, 0, query.text
    user_turns: list[UserTurn] = []
    status: UserSimStatus | None = None
    reason: str | None = None
    try:
        while True:
            result = await conversation.send(message)
            turns += 1
            usage, steps = _plus(usage, result.usage), steps + result.steps
            if result.stop_reason != "completed":
                status = "agent_stopped"
                reason = f"agent stopped: {result.stop_reason}" + (
                    f" ({result.error})" if result.error else ""
                )
                break
            try:
                turn = await user.reply(result.final_output or "")
            except StageFailed as exc:
                status, reason = "user_sim_failed", str(exc)
                break
            user_turns.append(turn)
            if turn.status != "continue":
                status = turn.status
                break
            if turns >= max_turns:
                status = "max_turns"
                break
            message = turn.message
    except BaseException as exc:
        reason = f"interrupted: {exc!r}"[:300]
        raise
    finally:
        meta = {
            "status": status or INTERRUPTED,
            "turns": turns,
            "model": user_model.name,
            "reason": reason,
            "usage": _usage_of(user.usage).model_dump(),
        }
        _record(conversation, meta)
    assert status is not None
    return UserSimResult(
        final_output=result.final_output,
        stop_reason=result.stop_reason,
        status=status,
        turns=turns,
        steps=steps,
        usage=usage,
        user_usage=_usage_of(user.usage),
        trajectory=result.trajectory,
        user_turns=user_turns,
        reason=reason,
        error=result.error,
    )


def _record(conversation: Conversation, meta: dict[str, Any]) -> None:
    try:
        trajectory = conversation.trajectory
    except RuntimeError:  # never started: there is no trajectory to annotate
        return
    trajectory.query_meta["user_sim"] = meta


def _usage_of(stage: StageUsage) -> Usage:
    return Usage(
        prompt_tokens=stage.prompt_tokens,
        completion_tokens=stage.completion_tokens,
        model_calls=stage.model_calls,
    )


def _plus(total: Usage, turn: Usage) -> Usage:
    return Usage(
        prompt_tokens=total.prompt_tokens + turn.prompt_tokens,
        completion_tokens=total.completion_tokens + turn.completion_tokens,
        model_calls=total.model_calls + turn.model_calls,
        tool_calls=total.tool_calls + turn.tool_calls,
    )
