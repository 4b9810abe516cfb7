"""Agent: the definition of one agent (built in code or loaded from YAML)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nexforge.core.trajectory import RunResult
from nexforge.models.base import Model
from nexforge.models.settings import ModelSettings
from nexforge.runtime.limits import CompactionPolicy, Limits
from nexforge.tools.base import Tool

if TYPE_CHECKING:
    from nexforge.runtime.conversation import Conversation
    from nexforge.runtime.events import Event


@dataclass
class Agent:
    """An agent: a system prompt (a Jinja template), tools, sub-agents, a model and limits.

    ``model`` is a ready Model, settings to build one from, or ``None`` to inherit the
    parent's (see ``nexforge.models.resolve``). Each sub-agent is offered to this agent as
    a tool named after it, taking a ``task`` string.
    """

    name: str
    system_prompt: str = "You are a helpful assistant."
    description: str = ""
    tools: list[Tool] = field(default_factory=list)
    sub_agents: list[Agent] = field(default_factory=list)
    model: Model | ModelSettings | None = None
    limits: Limits = field(default_factory=Limits)
    compaction: CompactionPolicy = field(default_factory=CompactionPolicy)
    tool_call_format: str = "structured"
    prompt_vars: dict[str, Any] = field(default_factory=dict)
    sees_request: bool = False
    """As a sub-agent, its task arrives with the user's latest message (``with_request``)."""
    source: str | None = None

    def conversation(self, **options: Any) -> Conversation:
        """A multi-turn conversation with this agent (see ``Conversation`` for options)."""
        from nexforge.runtime.conversation import Conversation

        return Conversation(self, **options)

    async def arun(self, task: str, **options: Any) -> RunResult:
        """Run the hierarchy on ``task`` and return its result and trajectory."""
        async with self.conversation(**options) as conversation:
            return await conversation.send(task)

    def run(self, task: str, **options: Any) -> RunResult:
        """Synchronous convenience wrapper around ``arun`` (not for use inside a loop)."""
        return asyncio.run(self.arun(task, **options))

    async def stream(self, task: str, **options: Any) -> AsyncIterator[Event]:
        """Run the hierarchy on ``task``, yielding step events; the last is ``RunStopped``."""
        async with self.conversation(**options) as conversation:
            async for event in conversation.stream(task):
                yield event
