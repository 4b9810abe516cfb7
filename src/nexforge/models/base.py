"""The Model protocol: one async ``complete(request) -> response``, whatever the provider."""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from nexforge.core.messages import Message
from nexforge.core.tools import ToolSpec


class Sampling(BaseModel):
    """Sampling parameters; ``None`` means the provider's default."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class NamedToolChoice(BaseModel):
    """Force a call to one tool."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str


ToolChoice = Literal["auto", "required", "none"] | NamedToolChoice


class ModelRequest(BaseModel):
    """What an agent sends to its model for one step.

    ``agent`` names the calling agent (providers ignore it; ``ScriptedModel`` uses it
    to pick a per-agent script). ``timeout_s`` bounds this one request.
    """

    model_config = ConfigDict(extra="forbid")

    messages: list[Message]
    tools: list[ToolSpec] = Field(default_factory=list)
    tool_choice: ToolChoice = "auto"
    sampling: Sampling = Field(default_factory=Sampling)
    agent: str | None = None
    timeout_s: float | None = None


FinishReason = Literal["stop", "tool_calls", "length", "content_filter", "error"]


class TokenUsage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int = 0
    completion_tokens: int = 0


class ModelResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Message
    usage: TokenUsage = Field(default_factory=TokenUsage)
    finish_reason: FinishReason = "stop"
    model: str = ""


@runtime_checkable
class Model(Protocol):
    """Anything that completes a chat request. ``name`` is recorded in trajectories."""

    @property
    def name(self) -> str: ...

    async def complete(self, request: ModelRequest) -> ModelResponse: ...
