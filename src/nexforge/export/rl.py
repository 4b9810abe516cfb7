"""RL rows: one per model call, with everything the model saw before it and the reward.

``group_id`` ties together the rows an RL trainer compares: root episodes of the same
query (its K samples are the group), and sub-agent episodes of the same query and agent.
"""

from __future__ import annotations

from typing import Any

from nexforge.core.trajectory import Episode
from nexforge.export.chat import function_tools, hf_message
from nexforge.export.episodes import base_system_prompt
from nexforge.export.options import ArgsEncoding


def group_id(query_key: str, episode: Episode) -> str:
    if episode.parent_episode_id is None:
        return query_key
    return f"{query_key}/{episode.agent}"


def rl_rows(
    episode: Episode,
    provenance: dict[str, Any],
    turn_of: dict[tuple[str, int], int],
    *,
    reward: float | None,
    encoding: ArgsEncoding,
) -> list[dict[str, Any]]:
    tools = function_tools(episode.tools)
    group = group_id(str(provenance["query_key"]), episode)
    seen: list[dict[str, Any]] = [{"role": "system", "content": base_system_prompt(episode)}]
    rows: list[dict[str, Any]] = []
    for index, message in enumerate(episode.messages):
        if index == 0 and message.role == "system":
            continue
        shaped = hf_message(message, encoding)
        if message.role == "assistant":
            rows.append(
                {
                    "messages": list(seen),
                    "tools": tools,
                    "completion": shaped,
                    "reward": reward,
                    "group_id": group,
                    "provenance": {
                        **provenance,
                        "turn": turn_of.get((episode.episode_id, index)),
                    },
                }
            )
        seen.append(shaped)
    return rows
