"""Live progress lines for a run, rendered from the runtime's event stream (on stderr)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape

from nexforge.runtime.events import (
    Event,
    ModelCallStarted,
    RunStopped,
    SubAgentFinished,
    SubAgentStarted,
    ToolCallFinished,
    ToolCallStarted,
)

_PREVIEW = 100


def _preview(text: str | None) -> str:
    flat = " ".join((text or "").split())
    return escape(flat if len(flat) <= _PREVIEW else flat[: _PREVIEW - 1] + "…")


def render_event(console: Console, event: Event) -> None:
    pad = "  " * event.depth
    who = f"[bold]{escape(event.agent)}[/bold]"
    if isinstance(event, ModelCallStarted):
        console.print(f"{pad}[dim]{who} step {event.step}: thinking…[/dim]")
    elif isinstance(event, ToolCallStarted):
        args = _preview(json.dumps(event.call.arguments, ensure_ascii=False))
        console.print(f"{pad}{who} → [cyan]{escape(event.call.name)}[/cyan] {args}")
    elif isinstance(event, ToolCallFinished):
        style = "red" if event.is_error else "green"
        console.print(
            f"{pad}{who} ← [{style}]{escape(event.call.name)}[/{style}] {_preview(event.content)}"
        )
    elif isinstance(event, SubAgentStarted):
        console.print(f"{pad}[magenta]▶ {who} started[/magenta] {_preview(event.task)}")
    elif isinstance(event, SubAgentFinished):
        console.print(
            f"{pad}[magenta]■ {who} {event.stop_reason}[/magenta] {_preview(event.output)}"
        )
    elif isinstance(event, RunStopped):
        usage = event.result.usage
        console.print(
            f"[bold]{event.result.stop_reason}[/bold] after {event.result.steps} steps · "
            f"{usage.model_calls} model calls · {usage.tool_calls} tool calls · "
            f"{usage.total_tokens} tokens"
        )
