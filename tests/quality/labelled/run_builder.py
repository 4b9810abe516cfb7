"""Hand-built rollouts that are real runs: every tool call in them is executed on a live
copy of the framework's environment, so results, errors and end states are what the
framework really does. Only the model's side (which calls, which words) is written by hand.

A run is written as steps: ``Call(tool, **arguments)``, ``Delegate(agent, task, steps)``
(a sub-agent episode; its final answer becomes the tool result in the parent) and
``Answer(text)`` (the final answer; a function of the parsed tool results of its episode
when it quotes something the run produced, such as a new order's id).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.core.trajectory import Episode, StopReason, Trajectory
from nexforge.tools.base import ToolContext
from nexforge.tools.environment import Environment
from nexforge.tools.executor import execute_tool


@dataclass(frozen=True)
class Call:
    tool: str
    arguments: dict[str, Any]

    def __init__(self, tool: str, **arguments: Any) -> None:
        object.__setattr__(self, "tool", tool)
        object.__setattr__(self, "arguments", arguments)


@dataclass(frozen=True)
class Delegate:
    agent: str
    task: str
    steps: Sequence[Step]


@dataclass(frozen=True)
class Answer:
    text: str | Callable[[list[Any]], str]


Step = Call | Delegate | Answer


@dataclass
class Hierarchy:
    """Who holds which tools: environment tool names, and sub-agent names."""

    entry: str
    tools: dict[str, list[str]]
    sub_agents: dict[str, list[str]] = field(default_factory=dict)


class RunBuilder:
    def __init__(self, environment: Environment, ctx: ToolContext, hierarchy: Hierarchy) -> None:
        self.environment = environment
        self.ctx = ctx
        self.hierarchy = hierarchy
        self.episodes: list[Episode] = []
        self._ids = itertools.count(1)

    async def run(
        self, query: str, steps: Sequence[Step], *, stop_reason: StopReason = "completed"
    ) -> Trajectory:
        final = await self._episode(self.hierarchy.entry, query, steps, parent=None)
        return Trajectory.model_validate(
            {
                "run_id": f"labelled-{next(self._ids)}",
                "framework": self.environment.name,
                "query": query,
                "started_at": 1.0,
                "ended_at": 2.0,
                "stop_reason": stop_reason,
                "final_output": final,
                "episodes": self.episodes,
            }
        )

    def _specs(self, agent: str) -> list[ToolSpec]:
        names = self.hierarchy.tools.get(agent, [])
        if names == ["*"]:
            specs = [t.spec for t in self.environment.tools]
        else:
            specs = [self.environment.tool(n).spec for n in names]
        for child in self.hierarchy.sub_agents.get(agent, []):
            specs.append(
                ToolSpec(
                    name=child,
                    description=f"Hand a task to {child}.",
                    parameters={
                        "type": "object",
                        "properties": {"task": {"type": "string"}},
                        "required": ["task"],
                    },
                )
            )
        return specs

    async def _episode(
        self, agent: str, task: str, steps: Sequence[Step], parent: tuple[str, str] | None
    ) -> str | None:
        episode_id = f"e{next(self._ids)}"
        system = f"You are {agent}."
        messages = [Message.system(system), Message.user(task)]
        episode = Episode(
            episode_id=episode_id,
            parent_episode_id=parent[0] if parent else None,
            parent_tool_call_id=parent[1] if parent else None,
            agent=agent,
            model="hand-written",
            tool_call_format="structured",
            system_prompt=system,
            tools=self._specs(agent),
            messages=messages,
        )
        self.episodes.append(episode)
        results: list[Any] = []
        final: str | None = None
        for step in steps:
            call_id = f"c{next(self._ids)}"
            if isinstance(step, Call):
                messages.append(
                    Message.assistant(
                        None, [ToolCall(id=call_id, name=step.tool, arguments=step.arguments)]
                    )
                )
                outcome = await execute_tool(
                    self.environment.tool(step.tool), dict(step.arguments), self.ctx
                )
                messages.append(
                    Message.tool(call_id, step.tool, outcome.content, is_error=outcome.is_error)
                )
                results.append(_parsed(outcome.content))
            elif isinstance(step, Delegate):
                messages.append(
                    Message.assistant(
                        None, [ToolCall(id=call_id, name=step.agent, arguments={"task": step.task})]
                    )
                )
                answer = await self._episode(
                    step.agent, step.task, step.steps, (episode_id, call_id)
                )
                messages.append(Message.tool(call_id, step.agent, answer or ""))
                results.append(answer)
            else:
                final = step.text(results) if callable(step.text) else step.text
                messages.append(Message.assistant(final))
        episode.messages = messages
        episode.final = final
        return final


def _parsed(content: str) -> Any:
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        return content
