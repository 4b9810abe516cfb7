"""Tool: a ToolSpec bound to a callable, with its own timeout and output cap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nexforge.core.tools import ToolSpec

if TYPE_CHECKING:
    from nexforge.tools.resources import Resource, RunResources

DEFAULT_TOOL_TIMEOUT_S = 60.0
DEFAULT_MAX_OUTPUT_CHARS = 20_000


@dataclass
class ToolContext:
    """Per-run facts a tool may need; never part of a tool's JSON schema.

    A function receives it when it declares a parameter annotated ``ToolContext``.
    """

    workspace: Path
    run_id: str = ""
    agent: str = ""
    extras: dict[str, Any] = field(default_factory=dict)
    resources: RunResources | None = None
    """The run's per-run resources; ``None`` outside a run (resource tools then refuse)."""


@dataclass
class Tool:
    """A callable tool. ``fn`` may be sync or async and returns anything printable.

    ``context_param`` names the parameter that receives the ToolContext, if any;
    ``resources`` maps parameter names to per-run resources whose handles they receive
    (kept out of the JSON schema, like the context).
    """

    spec: ToolSpec
    fn: Callable[..., Any]
    timeout_s: float = DEFAULT_TOOL_TIMEOUT_S
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    context_param: str | None = None
    resources: dict[str, Resource[Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class ToolOutcome:
    """What the model sees after a call: one string, flagged when it is an error."""

    content: str
    is_error: bool = False
