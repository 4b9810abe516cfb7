"""Stage 1, structure: is each episode a conversation a model could have been trained on?

Roles alternate (a user turn, the assistant, the results of exactly that assistant's calls,
the assistant again, ...), every call has exactly one result carrying its id and no result
answers a call that was not made, no assistant turn is empty, and every sub-agent episode
hangs off an existing call of its parent episode.

Calls left unanswered by the last assistant turn of an episode are not a structural
fault: the run was cut off there (a timeout, a step limit), which ``behaviour`` reports
as truncation. A cut-off run is still well-formed data for RL, where its reward says how
it ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nexforge.core.messages import Message
from nexforge.core.trajectory import Episode, Trajectory
from nexforge.quality.findings import Findings
from nexforge.quality.policy import STRUCTURE
from nexforge.quality.turns import turn_index
from nexforge.synthesis.records import RolloutRecord, Verdict


@dataclass
class _Findings(Findings):
    empty_turns: list[int] = field(default_factory=list)


def check_structure(rollout: RolloutRecord) -> list[Verdict]:
    """One rollout-level verdict, plus a failed turn-level verdict per empty assistant turn."""
    trajectory = rollout.trajectory
    found = _Findings()
    if trajectory is None:
        found.add("no trajectory", _no_trajectory(rollout))
        return [found.verdict(rollout.key, STRUCTURE)]
    if not trajectory.episodes:
        found.add("no episodes", "the trajectory has no episodes")
    elif not any(e.parent_episode_id is None for e in trajectory.episodes):
        found.add("no root episode", "no episode is the root (every one names a parent)")
    _check_links(trajectory, found)
    turns = turn_index(trajectory)
    for episode in trajectory.episodes:
        _check_episode(episode, found, turns)
    verdicts = [found.verdict(rollout.key, STRUCTURE)]
    verdicts += [
        Verdict(
            rollout_key=rollout.key,
            stage=STRUCTURE,
            passed=False,
            turn=turn,
            reason="empty assistant turn: no content, no calls, no reasoning",
            detail={"recovered": False},
        )
        for turn in found.empty_turns
    ]
    return verdicts


def _no_trajectory(rollout: RolloutRecord) -> str:
    why = f" (rollout {rollout.status}: {rollout.error})" if rollout.error else ""
    return f"no trajectory{why}"


def _check_links(trajectory: Trajectory, found: _Findings) -> None:
    episodes = {e.episode_id: e for e in trajectory.episodes}
    if len(episodes) < len(trajectory.episodes):
        found.add("duplicate episode id", "two episodes share an id")
    for episode in trajectory.episodes:
        if episode.parent_episode_id is None:
            continue
        parent = episodes.get(episode.parent_episode_id)
        where = f"sub-agent episode {episode.episode_id} ({episode.agent})"
        if parent is None:
            found.add(
                "orphan episode",
                f"{where} names parent {episode.parent_episode_id}: no such episode",
            )
            continue
        call_ids = {c.id for m in parent.messages for c in m.tool_calls}
        if episode.parent_tool_call_id not in call_ids:
            found.add(
                "orphan episode",
                f"{where} names call {episode.parent_tool_call_id} of {parent.episode_id}: "
                "no such call",
            )


def _check_episode(episode: Episode, found: _Findings, turns: dict[tuple[str, int], int]) -> None:
    where = f"episode {episode.episode_id} ({episode.agent})"
    messages = episode.messages
    seen_ids: set[str] = set()
    pending: dict[str, str] = {}
    """Calls of the latest assistant turn still waiting for their result: id -> tool."""
    answered: set[str] = set()
    previous: Message | None = None
    for index, message in enumerate(messages):
        at = f"{where} message {index}"
        if message.role != "tool" and pending:
            names = ", ".join(f"{name} ({cid})" for cid, name in pending.items())
            found.add("unanswered call", f"{at}: {message.role} turn before the results of {names}")
            pending.clear()
        if message.role == "system":
            if index != 0:
                found.add("role order", f"{at}: a system message after the start")
        elif message.role == "user":
            if previous is not None and previous.role not in ("system", "assistant"):
                found.add("role order", f"{at}: user turn after a {previous.role} message")
        elif message.role == "assistant":
            if previous is None or previous.role in ("system", "assistant"):
                after = previous.role if previous is not None else "nothing"
                found.add("role order", f"{at}: assistant turn after {after}, not a user turn")
            if not _has_substance(message):
                found.add("empty turn", f"{at}: empty assistant turn")
                found.empty_turns.append(turns[(episode.episode_id, index)])
            for call in message.tool_calls:
                if call.id in seen_ids:
                    found.add("duplicate call id", f"{at}: call id {call.id} used twice")
                seen_ids.add(call.id)
                pending[call.id] = call.name
        else:
            _check_result(message, at, pending, answered, seen_ids, found)
        previous = message
    if messages and messages[0].role not in ("system", "user"):
        found.add("role order", f"{where}: starts with a {messages[0].role} message")


def _check_result(
    message: Message,
    at: str,
    pending: dict[str, str],
    answered: set[str],
    seen_ids: set[str],
    found: _Findings,
) -> None:
    call_id = message.tool_call_id
    if call_id is None:
        found.add("orphan result", f"{at}: tool result without a call id")
    elif call_id in pending:
        del pending[call_id]
        answered.add(call_id)
    elif call_id in answered:
        found.add("duplicate result", f"{at}: a second result for call {call_id}")
    elif call_id in seen_ids:
        found.add("orphan result", f"{at}: result for call {call_id} of an earlier turn")
    else:
        found.add("orphan result", f"{at}: result for call {call_id}, which was never made")


def _has_substance(message: Message) -> bool:
    return bool(
        (message.content or "").strip() or message.tool_calls or (message.reasoning or "").strip()
    )
