"""Limits on one agent run and the compaction policy for its context."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from nexforge.core.durations import Seconds


class Limits(BaseModel):
    """Bounds on an agent's run, per conversation turn.

    A sub-agent also stops at its caller's deadline; an agent's token budget counts its own
    model calls and those of the sub-agents it calls; the root's ``max_depth`` bounds the
    whole hierarchy.
    """

    model_config = ConfigDict(extra="forbid")

    max_steps: int = Field(default=30, ge=1)
    max_depth: int = Field(default=4, ge=0)
    max_parallel_tools: int = Field(default=8, ge=1)
    timeout_s: Seconds = 600.0
    max_total_tokens: int | None = Field(default=None, ge=1)


class CompactionPolicy(BaseModel):
    """When the estimated prompt exceeds ``trigger_ratio`` of the context length, compact.

    First old tool results are truncated to ``truncated_chars`` (the newest
    ``keep_recent`` messages untouched); if still too large and ``summarize`` is set, the
    older turns are replaced by a model-written summary.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    trigger_ratio: float = Field(default=0.8, gt=0, le=1)
    keep_recent: int = Field(default=6, ge=0)
    truncated_chars: int = Field(default=200, ge=0)
    summarize: bool = False
