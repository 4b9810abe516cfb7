"""Invocation: one agent running in its own episode, with its resolved model and toolbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nexforge.core.messages import Message
from nexforge.core.tools import ToolSpec
from nexforge.core.trajectory import Episode, Span
from nexforge.models.base import Model
from nexforge.models.codecs import ToolCallCodec, get_codec
from nexforge.runtime.agent import Agent
from nexforge.runtime.prompt import render_system_prompt
from nexforge.runtime.state import RunState
from nexforge.tools.base import Tool

CHILD_DEADLINE_MARGIN_S = 0.01
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


def toolbox_for(agent: Agent, state: RunState) -> Toolbox:
    box = state.toolboxes.get(id(agent))
    if box is None:
        box = state.toolboxes[id(agent)] = Toolbox.of(agent)
    return box


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
    """The earlier of the agent's own ``timeout_s`` and every ancestor's deadline."""
    parent: Invocation | None = None
    tokens_used: int = 0
    """Tokens of this invocation and of every sub-agent it called (its budget counts both)."""
    steps: int = 0
    history_tokens: int = 0
    """Running estimate of the episode's messages[:history_counted], kept incrementally."""
    history_counted: int = 0
    summary_prefix: list[Message] | None = None
    """When older turns were summarised: the view that replaces messages[:summary_upto]."""
    summary_upto: int = 0

    def over_budget(self) -> bool:
        """True when this invocation or any caller above it has spent its token budget
        (each counts its own calls and its sub-agents'; a turn starts from zero)."""
        node: Invocation | None = self
        while node is not None:
            budget = node.agent.limits.max_total_tokens
            if budget is not None and node.tokens_used >= budget:
                return True
            node = node.parent
        return False

    def add_tokens(self, tokens: int) -> None:
        node: Invocation | None = self
        while node is not None:
            node.tokens_used += tokens
            node = node.parent


def start_invocation(
    agent: Agent,
    model: Model,
    state: RunState,
    *,
    depth: int,
    parent: Invocation | None = None,
    parent_tool_call_id: str | None = None,
    parent_span_id: str | None = None,
    episode: Episode | None = None,
) -> Invocation:
    """Start an agent's invocation: a new episode, or ``episode`` continued (a new turn)."""
    toolbox = toolbox_for(agent, state)
    codec = None if agent.tool_call_format == "structured" else get_codec(agent.tool_call_format)
    if episode is None:
        prompt = render_system_prompt(
            agent.system_prompt,
            agent=agent.name,
            description=agent.description,
            tools=toolbox.specs,
            variables=agent.prompt_vars,
            source=agent.source,
        )
        if codec is not None and toolbox.specs:
            prompt = f"{prompt}\n\n{codec.system_prompt(toolbox.specs)}"
        episode = state.trace.new_episode(
            agent=agent.name,
            model=model.name,
            tool_call_format=agent.tool_call_format,
            system_prompt=prompt,
            tools=toolbox.specs,
            parent_episode_id=parent.episode.episode_id if parent is not None else None,
            parent_tool_call_id=parent_tool_call_id,
        )
    span = state.trace.start_span(
        "agent", agent.name, parent_span_id, {"episode": episode.episode_id}
    )
    # A child stops a moment before its parent, so it ends with its own ``timeout`` (and
    # the parent records the result) rather than being cut off by the parent's scope.
    outer = parent.deadline - CHILD_DEADLINE_MARGIN_S if parent is not None else state.deadline
    deadline = min(outer, state.now() + agent.limits.timeout_s)
    return Invocation(agent, model, episode, depth, span, toolbox, codec, deadline, parent)
