"""Which calls of a trajectory changed an environment's state, in the order they ran."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from nexforge.core.trajectory import Episode, Trajectory

log = logging.getLogger(__name__)

Call = tuple[str, dict[str, Any]]


def state_changing_calls(trajectory: Trajectory, tool_names: Collection[str]) -> list[Call]:
    """The successful calls to ``tool_names`` (an environment's state-changing tools).

    Order: tool spans in the order they started (the trajectory lists spans by start). That
    is the order the environment applied them: it runs a run's state-changing calls one at
    a time in arrival order, parallel calls start in their listed order, and a sub-agent's
    calls fall between its parent's calls exactly where they happened.

    A trajectory without tool spans (e.g. stored without them) falls back to its episodes:
    the root's messages in order, descending into a sub-agent's episode at the call that
    started it, parallel calls in their listed order.

    Errored calls are left out: the environment rolls a failed call back, so it had no
    effect. Calls are identified by tool name, so other tools of the hierarchy must not
    share a name with the environment's state-changing tools.
    """
    spans = [s for s in trajectory.spans if s.kind == "tool"]
    if not spans:
        return _from_episodes(trajectory, tool_names)
    calls: list[Call] = []
    for span in spans:
        if span.name not in tool_names or span.error is not None:
            continue
        if not isinstance(span.input, dict):
            log.warning("tool span %s has no argument mapping; not replayed", span.span_id)
            continue
        calls.append((span.name, dict(span.input)))
    return calls


def _from_episodes(trajectory: Trajectory, tool_names: Collection[str]) -> list[Call]:
    # Call ids are only unique within one episode, so children are keyed by both.
    children = {
        (e.parent_episode_id, e.parent_tool_call_id): e
        for e in trajectory.episodes
        if e.parent_episode_id is not None
    }
    calls: list[Call] = []

    def walk(episode: Episode) -> None:
        failed = {m.tool_call_id for m in episode.messages if m.role == "tool" and m.is_error}
        answered = {m.tool_call_id for m in episode.messages if m.role == "tool"}
        for message in episode.messages:
            for call in message.tool_calls:
                child = children.get((episode.episode_id, call.id))
                if child is not None:
                    walk(child)
                elif call.name in tool_names and call.id in answered and call.id not in failed:
                    calls.append((call.name, dict(call.arguments)))

    for episode in trajectory.episodes:
        if episode.parent_episode_id is None:
            walk(episode)
    return calls
