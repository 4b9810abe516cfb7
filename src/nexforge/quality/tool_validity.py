"""Stage 2, tool validity: every call names a tool its episode offered, with arguments that
fit that tool's schema.

A bad call gets a failed turn-level verdict. It is *recovered* when the agent later made a
valid call of the same tool in that episode, or when the run still completed with an
answer: the mistake and its correction are kept as training signal, and the rollout
passes. Any unrecovered bad call fails the rollout.
"""

from __future__ import annotations

from dataclasses import dataclass

from nexforge.core.messages import ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.core.trajectory import Episode, Trajectory
from nexforge.quality.policy import TOOL_VALIDITY
from nexforge.quality.turns import turns
from nexforge.synthesis.records import RolloutRecord, Verdict
from nexforge.tools.validation import validate_arguments

MAX_LISTED = 3


@dataclass(frozen=True)
class BadCall:
    turn: int
    episode: Episode
    position: int
    """Index of the call's assistant message in the episode."""
    call: ToolCall
    problem: str
    kind: str
    """``unknown tool``, ``undecodable arguments`` or ``invalid arguments``."""


def call_problem(call: ToolCall, offered: dict[str, ToolSpec]) -> tuple[str, str] | None:
    """``(kind, one line)`` of what is wrong with ``call``, or None when it is valid."""
    spec = offered.get(call.name)
    if spec is None:
        known = ", ".join(sorted(offered)) or "none"
        return "unknown tool", f"no tool {call.name!r} was offered (offered: {known})"
    if call.invalid_arguments is not None:
        return (
            "undecodable arguments",
            f"arguments are not valid JSON: {call.invalid_arguments[:80]!r}",
        )
    problem = validate_arguments(spec, call.arguments)
    return ("invalid arguments", problem) if problem is not None else None


def bad_calls(trajectory: Trajectory) -> list[BadCall]:
    """Every invalid call of the trajectory, in turn order."""
    offered = {e.episode_id: {t.name: t for t in e.tools} for e in trajectory.episodes}
    found: list[BadCall] = []
    for ref in turns(trajectory):
        message = ref.episode.messages[ref.message_index]
        for call in message.tool_calls:
            problem = call_problem(call, offered[ref.episode.episode_id])
            if problem is not None:
                kind, text = problem
                found.append(BadCall(ref.turn, ref.episode, ref.message_index, call, text, kind))
    return found


def check_tool_validity(rollout: RolloutRecord) -> list[Verdict]:
    """One rollout-level verdict and a failed turn-level verdict per turn with a bad call."""
    key = rollout.key
    trajectory = rollout.trajectory
    if trajectory is None:
        return [
            Verdict(
                rollout_key=key,
                stage=TOOL_VALIDITY,
                passed=False,
                reason="no trajectory",
                detail={"problems": ["no trajectory"]},
            )
        ]
    completed = (
        rollout.status == "done"
        and trajectory.stop_reason == "completed"
        and bool((trajectory.final_output or "").strip())
    )
    by_turn: dict[int, list[tuple[BadCall, bool]]] = {}
    for bad in bad_calls(trajectory):
        recovered = completed or _corrected_later(bad)
        by_turn.setdefault(bad.turn, []).append((bad, recovered))
    verdicts: list[Verdict] = []
    unrecovered: list[BadCall] = []
    kinds: list[str] = []
    for turn, found in by_turn.items():
        recovered = all(ok for _, ok in found)
        unrecovered += [bad for bad, ok in found if not ok]
        kinds += [bad.kind for bad, _ in found if bad.kind not in kinds]
        verdicts.append(
            Verdict(
                rollout_key=key,
                stage=TOOL_VALIDITY,
                passed=False,
                turn=turn,
                reason="; ".join(f"{bad.call.name}: {bad.problem}" for bad, _ in found),
                detail={
                    "recovered": recovered,
                    "episode": found[0][0].episode.episode_id,
                    "calls": [bad.call.id for bad, _ in found],
                    "problems": [bad.kind for bad, _ in found],
                },
            )
        )
    return [_rollout_verdict(key, by_turn, unrecovered, kinds), *verdicts]


def _rollout_verdict(
    key: str,
    by_turn: dict[int, list[tuple[BadCall, bool]]],
    unrecovered: list[BadCall],
    kinds: list[str],
) -> Verdict:
    if unrecovered:
        listed = "; ".join(
            f"turn {bad.turn} {bad.call.name}: {bad.problem}" for bad in unrecovered[:MAX_LISTED]
        )
        more = f" (+{len(unrecovered) - MAX_LISTED} more)" if len(unrecovered) > MAX_LISTED else ""
        return Verdict(
            rollout_key=key,
            stage=TOOL_VALIDITY,
            passed=False,
            reason=f"unrecovered invalid call: {listed}{more}",
            detail={"problems": kinds, "unrecovered_turns": sorted({b.turn for b in unrecovered})},
        )
    count = sum(len(found) for found in by_turn.values())
    reason = f"{count} invalid call{'s' if count != 1 else ''}, all recovered" if count else ""
    return Verdict(rollout_key=key, stage=TOOL_VALIDITY, passed=True, reason=reason)


def _corrected_later(bad: BadCall) -> bool:
    """A later valid call of the same tool in the same episode."""
    episode = bad.episode
    offered = {t.name: t for t in episode.tools}
    for message in episode.messages[bad.position + 1 :]:
        for call in message.tool_calls:
            if call.name == bad.call.name and call_problem(call, offered) is None:
                return True
    return False
