"""Canonical chat messages: the shape held in memory and written into trajectories."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]


class ToolCall(BaseModel):
    """One call requested by the model; ``arguments`` is always a decoded dict.

    ``invalid_arguments`` holds the raw argument text when a provider could not decode it;
    the runtime then answers the call with an error instead of running it.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    invalid_arguments: str | None = None


class Message(BaseModel):
    """A chat message.

    Assistant messages may carry ``reasoning``, ``content``, ``tool_calls`` and, for
    text-mode models, ``raw`` (the exact text the model produced). Tool messages carry
    ``tool_call_id``, ``name``, ``content`` and ``is_error``.
    """

    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    raw: str | None = None
    tool_call_id: str | None = None
    name: str | None = None
    is_error: bool = False

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls(role="user", content=content)

    @classmethod
    def assistant(
        cls,
        content: str | None = None,
        tool_calls: list[ToolCall] | None = None,
        *,
        reasoning: str | None = None,
        raw: str | None = None,
    ) -> Message:
        return cls(
            role="assistant",
            content=content,
            tool_calls=tool_calls or [],
            reasoning=reasoning,
            raw=raw,
        )

    @classmethod
    def tool(cls, tool_call_id: str, name: str, content: str, *, is_error: bool = False) -> Message:
        return cls(
            role="tool", tool_call_id=tool_call_id, name=name, content=content, is_error=is_error
        )
