"""The agent runtime: agents, the ReAct loop, sub-agents, events, middleware, tracing."""

from nexforge.runtime.agent import Agent
from nexforge.runtime.conversation import Conversation
from nexforge.runtime.events import (
    Event,
    ModelCallFinished,
    ModelCallStarted,
    RunStopped,
    SubAgentFinished,
    SubAgentStarted,
    ToolCallFinished,
    ToolCallStarted,
)
from nexforge.runtime.limits import CompactionPolicy, Limits
from nexforge.runtime.middleware import HookContext, Middleware

__all__ = [
    "Agent",
    "CompactionPolicy",
    "Conversation",
    "Event",
    "HookContext",
    "Limits",
    "Middleware",
    "ModelCallFinished",
    "ModelCallStarted",
    "RunStopped",
    "SubAgentFinished",
    "SubAgentStarted",
    "ToolCallFinished",
    "ToolCallStarted",
]
