"""Typed step events yielded by ``Agent.stream()`` as a run happens."""

from __future__ import annotations

from dataclasses import dataclass

from nexforge.core.messages import Message, ToolCall
from nexforge.core.trajectory import RunResult, StopReason


@dataclass(frozen=True)
class Event:
    """Common fields: which agent invocation (episode) at which depth of the hierarchy."""

    agent: str
    episode_id: str
    depth: int


@dataclass(frozen=True)
class ModelCallStarted(Event):
    step: int


@dataclass(frozen=True)
class ModelCallFinished(Event):
    step: int
    message: Message


@dataclass(frozen=True)
class ToolCallStarted(Event):
    call: ToolCall


@dataclass(frozen=True)
class ToolCallFinished(Event):
    call: ToolCall
    content: str
    is_error: bool


@dataclass(frozen=True)
class SubAgentStarted(Event):
    """``agent``/``episode_id`` are the child's; ``parent_episode_id`` the caller's."""

    parent_episode_id: str
    task: str


@dataclass(frozen=True)
class SubAgentFinished(Event):
    output: str | None
    stop_reason: StopReason


@dataclass(frozen=True)
class RunStopped(Event):
    """The last event of a run (or of one turn of a conversation)."""

    result: RunResult
