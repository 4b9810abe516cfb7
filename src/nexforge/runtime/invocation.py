"""Invocation: one agent running in its own episode, with its resolved model and toolbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nexforge.core.tools import ToolSpec
from nexforge.core.trajectory import Episode, Span
from nexforge.models.base import Model
from nexforge.models.codecs import ToolCallCodec, get_codec
from nexforge.runtime.agent import Agent
from nexforge.runtime.prompt import render_system_prompt
from nexforge.runtime.state import RunState
from nexforge.tools.base import Tool

SUB_AGENT_TASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "task": {
            "type": "string",
            "description": "The complete task for this agent, with every fact it needs: "
            "it sees nothing of your conversation.",
        }
    },
    "required": ["task"],
    "additionalProperties": False,
}


@dataclass
class Toolbox:
    """What an agent may call: its tools and its sub-agents, each by name."""

    tools: dict[str, Tool]
    sub_agents: dict[str, Agent]
    specs: list[ToolSpec]

    @classmethod
    def of(cls, agent: Agent) -> Toolbox:
        tools = {t.name: t for t in agent.tools}
        subs = {a.name: a for a in agent.sub_agents}
        specs = [t.spec for t in agent.tools] + [
            ToolSpec(
                name=a.name,
                description=a.description or f"Delegate a task to the {a.name} agent.",
                parameters=SUB_AGENT_TASK_SCHEMA,
            )
            for a in agent.sub_agents
        ]
        return cls(tools=tools, sub_agents=subs, specs=specs)


_toolbox_cache: dict[int, tuple[Agent, Toolbox]] = {}


def toolbox_for(agent: Agent) -> Toolbox:
    """Toolboxes are built once per agent object (agents are not mutated while running)."""
    cached = _toolbox_cache.get(id(agent))
    if cached is None or cached[0] is not agent:
        cached = (agent, Toolbox.of(agent))
        _toolbox_cache[id(agent)] = cached
    return cached[1]


@dataclass
class Invocation:
    agent: Agent
    model: Model
    episode: Episode
    depth: int
    span: Span
    toolbox: Toolbox
    codec: ToolCallCodec | None
    deadline: float
    tokens_used: int = 0
    steps: int = 0
    history_tokens: int = 0
    """Running estimate of the episode's messages[:history_counted], kept incrementally."""
    history_counted: int = 0
    children: list[Invocation] = field(default_factory=list)


def start_invocation(
    agent: Agent,
    model: Model,
    state: RunState,
    *,
    depth: int,
    parent_episode_id: str | None = None,
    parent_tool_call_id: str | None = None,
    parent_span_id: str | None = None,
) -> Invocation:
    toolbox = toolbox_for(agent)
    codec = None if agent.tool_call_format == "structured" else get_codec(agent.tool_call_format)
    prompt = render_system_prompt(
        agent.system_prompt,
        agent=agent.name,
        description=agent.description,
        tools=toolbox.specs,
        variables=agent.prompt_vars,
    )
    if codec is not None and toolbox.specs:
        prompt = f"{prompt}\n\n{codec.system_prompt(toolbox.specs)}"
    episode = state.trace.new_episode(
        agent=agent.name,
        model=model.name,
        tool_call_format=agent.tool_call_format,
        system_prompt=prompt,
        tools=toolbox.specs,
        parent_episode_id=parent_episode_id,
        parent_tool_call_id=parent_tool_call_id,
    )
    span = state.trace.start_span(
        "agent", agent.name, parent_span_id, {"episode": episode.episode_id}
    )
    deadline = min(state.deadline, state.now() + agent.limits.timeout_s)
    return Invocation(agent, model, episode, depth, span, toolbox, codec, deadline)
