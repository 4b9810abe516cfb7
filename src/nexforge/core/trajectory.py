"""Run results and trajectories: the one record everything downstream reads."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nexforge.core.messages import Message
from nexforge.core.tools import ToolSpec

TRAJECTORY_SCHEMA_VERSION = 1

StopReason = Literal["completed", "max_steps", "timeout", "budget", "error", "cancelled"]
STOP_REASONS: tuple[StopReason, ...] = (
    "completed",
    "max_steps",
    "timeout",
    "budget",
    "error",
    "cancelled",
)
SpanKind = Literal["agent", "llm", "tool"]


class Usage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_calls: int = 0
    tool_calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Span(BaseModel):
    """A timed unit of work: an agent invocation, a model call or a tool call."""

    model_config = ConfigDict(extra="forbid")

    span_id: str
    parent_id: str | None = None
    kind: SpanKind
    name: str
    start: float
    end: float | None = None
    input: Any = None
    output: Any = None
    error: str | None = None


class Episode(BaseModel):
    """One agent invocation: the system prompt, tools and messages its model saw.

    ``messages`` is the full history; when compaction shortened what the model was sent
    for a step, that step's llm span records what was cut (and any summary).
    """

    model_config = ConfigDict(extra="forbid")

    episode_id: str
    parent_episode_id: str | None = None
    parent_tool_call_id: str | None = None
    agent: str
    model: str
    tool_call_format: str
    system_prompt: str
    tools: list[ToolSpec] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    final: str | None = None


class Provenance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    framework_hash: str | None = None
    model: str | None = None
    model_sha: str | None = None
    package_version: str | None = None
    sampling: dict[str, Any] = Field(default_factory=dict)


class Trajectory(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = TRAJECTORY_SCHEMA_VERSION
    run_id: str
    framework: str | None = None
    query: str
    query_meta: dict[str, Any] = Field(default_factory=dict)
    started_at: float
    ended_at: float | None = None
    stop_reason: StopReason | None = None
    final_output: str | None = None
    usage: Usage = Field(default_factory=Usage)
    provenance: Provenance = Field(default_factory=Provenance)
    spans: list[Span] = Field(default_factory=list)
    episodes: list[Episode] = Field(default_factory=list)

    def root_episode(self) -> Episode:
        for episode in self.episodes:
            if episode.parent_episode_id is None:
                return episode
        raise LookupError(f"trajectory {self.run_id} has no root episode")

    def children_of(self, episode_id: str) -> list[Episode]:
        return [e for e in self.episodes if e.parent_episode_id == episode_id]


class RunResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    final_output: str | None
    stop_reason: StopReason
    steps: int
    usage: Usage
    trajectory: Trajectory
    error: str | None = None
