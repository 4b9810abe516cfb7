"""Stage 3, behaviour: did the agent work its way to an answer?

A rollout fails on
- a loop: the same call (tool name and arguments) made ``loop_repeats`` times or more in one
  episode;
- an error streak it never recovered from: ``error_streak`` or more failed tool results in
  a row with no successful result after them in that episode;
- truncation: an episode whose last assistant turn asked for calls that got no results, or
  a run without a final answer;
- a stop reason other than ``completed``, or a rollout stored as ``failed``.

Each turn whose calls got an error result has a failed turn-level verdict. It is
recovered when a call of that episode succeeded later, or when the run completed with an
answer and the error was not part of an unrecovered streak: tools refuse things for good
reasons (an order already shipped), and an agent that reads the refusal and answers well
is what the data should show.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from nexforge.core.trajectory import Episode, Trajectory
from nexforge.quality.findings import Findings
from nexforge.quality.policy import BEHAVIOUR
from nexforge.quality.turns import turn_index
from nexforge.synthesis.records import RolloutRecord, Verdict


@dataclass(frozen=True)
class BehaviourLimits:
    loop_repeats: int = 3
    """The same call this many times in one episode is a loop."""
    error_streak: int = 3
    """This many failed results in a row, with no success after, is an unrecovered streak."""


@dataclass(frozen=True)
class _ErrorTurn:
    turn: int
    episode: str
    tools: tuple[str, ...]
    recovered: bool


def check_behaviour(rollout: RolloutRecord, limits: BehaviourLimits | None = None) -> list[Verdict]:
    """One rollout-level verdict and a failed turn-level verdict per turn with error results."""
    limits = limits or BehaviourLimits()
    found = Findings()
    if rollout.status == "failed":
        found.add("rollout failed", f"rollout failed: {rollout.error or 'no error recorded'}")
    trajectory = rollout.trajectory
    error_turns: list[_ErrorTurn] = []
    if trajectory is None:
        found.add("no trajectory", "no trajectory")
    else:
        _check_run(trajectory, found)
        answered = rollout.status == "done" and _answered(trajectory)
        index = turn_index(trajectory)
        for episode in trajectory.episodes:
            where = f"episode {episode.episode_id} ({episode.agent})"
            for call, count in _repeated_calls(episode, limits.loop_repeats):
                found.add("loop", f"loop: {call} called {count} times in {where}")
            turns, streak = _error_turns(episode, index, answered, limits.error_streak)
            error_turns += turns
            if streak:
                found.add(
                    "error streak",
                    f"error streak: {streak} failed tool results in a row in {where}, "
                    "none succeeded after",
                )
    return [
        found.verdict(rollout.key, BEHAVIOUR),
        *(
            Verdict(
                rollout_key=rollout.key,
                stage=BEHAVIOUR,
                passed=False,
                turn=turn.turn,
                reason=f"error result from {', '.join(turn.tools)}",
                detail={"recovered": turn.recovered, "episode": turn.episode},
            )
            for turn in error_turns
        ),
    ]


def _answered(trajectory: Trajectory) -> bool:
    return trajectory.stop_reason == "completed" and bool((trajectory.final_output or "").strip())


def _check_run(trajectory: Trajectory, found: Findings) -> None:
    if trajectory.stop_reason is None:
        found.add("no stop reason", "no stop reason: the run never finished")
    elif trajectory.stop_reason != "completed":
        found.add(f"stopped: {trajectory.stop_reason}", f"stopped: {trajectory.stop_reason}")
    if not (trajectory.final_output or "").strip():
        found.add("truncated", "truncated: no final answer")
    for episode in trajectory.episodes:
        last = next((m for m in reversed(episode.messages) if m.role == "assistant"), None)
        if last is None or not last.tool_calls:
            continue
        answered = {m.tool_call_id for m in episode.messages if m.role == "tool"}
        unanswered = [c.name for c in last.tool_calls if c.id not in answered]
        if unanswered:
            found.add(
                "truncated",
                f"truncated: the last turn of episode {episode.episode_id} ({episode.agent}) "
                f"called {', '.join(unanswered)} and got no result",
            )


def _repeated_calls(episode: Episode, repeats: int) -> list[tuple[str, int]]:
    """Calls (shown as ``name({arguments})``) made at least ``repeats`` times."""
    counts: Counter[str] = Counter()
    for message in episode.messages:
        for call in message.tool_calls:
            arguments = call.invalid_arguments
            if arguments is None:
                arguments = json.dumps(call.arguments, sort_keys=True, ensure_ascii=False)
            counts[f"{call.name}({arguments})"] += 1
    return [(call, n) for call, n in counts.items() if n >= repeats]


def _error_turns(
    episode: Episode, index: dict[tuple[str, int], int], answered: bool, streak_limit: int
) -> tuple[list[_ErrorTurn], int]:
    """The episode's turns with error results, and the length of its unrecovered streak
    (0 when the trailing run of errors is shorter than ``streak_limit``)."""
    turn_of_call: dict[str, int] = {}
    for position, message in enumerate(episode.messages):
        for call in message.tool_calls:
            turn_of_call[call.id] = index[(episode.episode_id, position)]
    results = [m for m in episode.messages if m.role == "tool"]
    last_success = max((i for i, m in enumerate(results) if not m.is_error), default=-1)
    trailing = len(results) - 1 - last_success
    streak = trailing if trailing >= streak_limit else 0
    failed: dict[int, list[str]] = {}
    recovered: dict[int, bool] = {}
    for position, result in enumerate(results):
        if not result.is_error:
            continue
        turn = turn_of_call.get(result.tool_call_id or "")
        if turn is None:  # an orphan result: structure reports it
            continue
        failed.setdefault(turn, []).append(result.name or "?")
        ok = position < last_success or (answered and not streak)
        recovered[turn] = recovered.get(turn, True) and ok
    return [
        _ErrorTurn(turn, episode.episode_id, tuple(dict.fromkeys(tools)), recovered[turn])
        for turn, tools in failed.items()
    ], streak
