"""Turn numbering shared by the cascade's turn-level verdicts and the exporters.

A turn is one model call: one assistant message of one episode. Turns are numbered from 0
over the trajectory's episodes in stored order and, within an episode, over its assistant
messages in order, so a verdict's ``turn`` points at the same message for every reader.
"""

from __future__ import annotations

from dataclasses import dataclass

from nexforge.core.trajectory import Episode, Trajectory


@dataclass(frozen=True)
class TurnRef:
    turn: int
    episode: Episode
    message_index: int
    """Index of the assistant message in ``episode.messages``."""


def turns(trajectory: Trajectory) -> list[TurnRef]:
    """Every model call of the trajectory, numbered."""
    found: list[TurnRef] = []
    for episode in trajectory.episodes:
        for index, message in enumerate(episode.messages):
            if message.role == "assistant":
                found.append(TurnRef(len(found), episode, index))
    return found


def turn_index(trajectory: Trajectory) -> dict[tuple[str, int], int]:
    """(episode id, message index) -> turn number."""
    return {(ref.episode.episode_id, ref.message_index): ref.turn for ref in turns(trajectory)}
