"""Terminal views of the synthesis store: one rollout (``nexforge show``) and its counts
(``nexforge status``).

Everything a user or a model wrote goes into ``rich.text.Text`` objects, never into markup
strings, so "[bold]" or ":smile:" in a query, a tool result or a judge's reason prints
literally.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from nexforge.core.messages import Message, ToolCall
from nexforge.core.trajectory import Episode, Trajectory
from nexforge.synthesis.records import QueryRecord, RolloutRecord, Verdict
from nexforge.synthesis.store_status import StoreStatus

PREVIEW_LINES = 4
"""Lines of a long text shown unless ``full``."""
PREVIEW_CHARS = 400
"""Characters shown unless ``full``: a single huge line is cut too."""

_STATUS_STYLE = {"done": "green", "failed": "red"}


def _clip(text: str, *, full: bool) -> tuple[str, str | None]:
    """The text as shown, and a note saying how much was left out (None when nothing was)."""
    if full:
        return text, None
    lines = text.splitlines()
    shown = "\n".join(lines[:PREVIEW_LINES])
    if len(shown) > PREVIEW_CHARS:
        shown = shown[:PREVIEW_CHARS]
        return shown, f"… {len(text) - len(shown)} more characters"
    hidden = len(lines) - PREVIEW_LINES
    if hidden > 0:
        return shown, f"… {hidden} more line{'s' if hidden > 1 else ''}"
    return shown, None


def _content(text: str | None, *, full: bool, style: str = "") -> Text:
    """``text`` (clipped unless ``full``) with a dim note when something was left out."""
    shown, note = _clip(text or "", full=full)
    result = Text(shown, style=style)
    if note:
        result.append(("\n" if "\n" in shown else " ") + note, style="dim italic")
    return result


def _label(head: str, head_style: str, body: Text | None = None) -> Text:
    # Styled spans, not a base style: a base style would leak into the body.
    label = Text().append(head, style=head_style)
    if body is not None and body.plain:
        label.append("  ")
        label.append_text(body)
    return label


def _fields(rows: Iterable[tuple[str, str | Text]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for name, value in rows:
        grid.add_row(name, value if isinstance(value, Text) else Text(value))
    return grid


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


# --- nexforge show -----------------------------------------------------------------------


def _header(record: RolloutRecord, query: QueryRecord | None) -> Panel:
    trajectory, provenance, usage = record.trajectory, record.provenance, record.usage
    model = provenance.model or (trajectory.provenance.model if trajectory else None)
    framework = (trajectory.framework if trajectory else None) or (
        query.framework if query else None
    )
    started = datetime.fromtimestamp(record.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    engine = provenance.engine + (" + simulated user" if provenance.user_sim else "")
    rows: list[tuple[str, str | Text]] = [
        ("run id", trajectory.run_id if trajectory else "-"),
        ("rollout", record.key),
        ("query", record.query_key),
        ("status", Text(record.status, style=_STATUS_STYLE[record.status])),
        ("attempts", str(record.attempts)),
        ("sample", str(record.sample)),
        ("framework", framework or "-"),
        ("model", model or "-"),
        *([("model sha", provenance.model_sha)] if provenance.model_sha else []),
        ("stop reason", (trajectory.stop_reason if trajectory else None) or "-"),
        ("started", started),
        ("seconds", f"{record.seconds:.1f}"),
        (
            "tokens",
            f"{usage.total_tokens} ({usage.prompt_tokens} prompt, "
            f"{usage.completion_tokens} completion)",
        ),
        ("calls", f"{usage.model_calls} model, {usage.tool_calls} tool"),
        ("framework hash", provenance.framework_hash),
        ("nexforge", provenance.package_version),
        ("sampling", _compact_json(provenance.sampling) if provenance.sampling else "-"),
        ("seed", str(provenance.seed)),
        ("engine", engine),
    ]
    return Panel(_fields(rows), title="rollout", title_align="left", expand=False)


def _query_panel(record: RolloutRecord, query: QueryRecord | None) -> Panel:
    if query is None:
        missing = Text(f"query {record.query_key} is not in the store", style="dim")
        return Panel(missing, title="query", title_align="left", expand=False)
    persona = query.persona or {}
    persona_name = persona.get("name") or persona.get("id")
    rows: list[tuple[str, str | Text]] = [("text", Text(query.text))]
    if query.precise_text and query.precise_text != query.text:
        rows.append(("precise text", Text(query.precise_text)))
    rows += [
        ("persona", str(persona_name) if persona_name else "-"),
        ("problem type", " / ".join(query.path_labels or query.path) or "-"),
        ("difficulty", query.difficulty or "-"),
        ("evidence", f"{len(query.evidence)} reads"),
    ]
    if query.user is not None:
        rows.append(("user goal", query.user.goal))
    if query.expected is not None and query.expected.facts:
        rows.append(("expected facts", "\n".join(f"• {f}" for f in query.expected.facts)))
    return Panel(_fields(rows), title="query", title_align="left", expand=False)


def _call_label(call: ToolCall, *, full: bool) -> Text:
    label = _label("→ " + call.name, "bold cyan")
    if call.invalid_arguments is not None:
        label.append("  invalid arguments: ", style="red")
        label.append_text(_content(call.invalid_arguments, full=full, style="red"))
    else:
        label.append("  ")
        label.append_text(_content(_compact_json(call.arguments), full=full))
    return label


class _EpisodeTree:
    """Builds the tree of one trajectory: episodes, their messages, and each sub-agent's
    episode under the call that started it."""

    def __init__(self, trajectory: Trajectory, *, full: bool) -> None:
        self.full = full
        self.children: dict[str, list[Episode]] = {}
        for episode in trajectory.episodes:
            if episode.parent_episode_id is not None:
                self.children.setdefault(episode.parent_episode_id, []).append(episode)
        ids = {e.episode_id for e in trajectory.episodes}
        # An episode whose parent is missing is still shown, as a root of its own.
        self.roots = [
            e
            for e in trajectory.episodes
            if e.parent_episode_id is None or e.parent_episode_id not in ids
        ]
        self.seen: set[str] = set()

    def build(self, title: str) -> Tree:
        tree = Tree(Text(title, style="bold"), guide_style="dim")
        for root in self.roots:
            self.add_episode(tree, root)
        if not self.roots:
            tree.add(Text("no episodes", style="dim"))
        return tree

    def add_episode(self, parent: Tree, episode: Episode) -> None:
        if episode.episode_id in self.seen:
            return
        self.seen.add(episode.episode_id)
        head = _label("▶ " + episode.agent, "bold magenta")
        head.append(f"  {episode.model} · {len(episode.messages)} messages", style="dim")
        node = parent.add(head)
        children = self.children.get(episode.episode_id, [])
        by_call = {c.parent_tool_call_id: c for c in children if c.parent_tool_call_id}
        for message in episode.messages:
            self.add_message(node, message, by_call)
        # Children no call of this episode started (``add_episode`` skips those shown).
        for child in children:
            self.add_episode(node, child)

    def add_message(self, parent: Tree, message: Message, by_call: dict[str, Episode]) -> None:
        full = self.full
        if message.role == "tool":
            style = "red" if message.is_error else "green"
            head = "← " + (message.name or "tool") + (" error" if message.is_error else "")
            body = _content(message.content, full=full, style="red" if message.is_error else "")
            parent.add(_label(head, f"bold {style}", body))
            return
        if message.role != "assistant":
            style = "dim" if message.role == "system" else ""
            body = _content(message.content, full=full, style=style)
            parent.add(_label(message.role, f"bold {style}".strip(), body))
            return
        text = message.content if message.content is not None else message.raw
        body = _content(text, full=full)
        if message.reasoning:
            thinking = Text().append("thinking: ", style="dim italic")
            thinking.append_text(_content(message.reasoning, full=full, style="dim"))
            body = thinking.append("\n").append_text(body) if body.plain else thinking
        node = parent.add(_label("assistant", "bold blue", body))
        for call in message.tool_calls:
            call_node = node.add(_call_label(call, full=full))
            child = by_call.get(call.id)
            if child is not None:
                self.add_episode(call_node, child)


def _verdicts_table(verdicts: list[Verdict]) -> Table:
    with_turns = any(v.turn is not None for v in verdicts)
    table = Table(title="verdicts", title_justify="left")
    table.add_column("stage", style="bold")
    if with_turns:
        table.add_column("turn", justify="right")
    table.add_column("passed")
    table.add_column("reason", overflow="fold")
    table.add_column("score", justify="right")
    for verdict in verdicts:
        passed = (
            Text("✓ passed", style="green") if verdict.passed else Text("✗ failed", style="red")
        )
        score = "-" if verdict.score is None else f"{verdict.score:g}"
        cells: list[Text] = [Text(verdict.stage)]
        if with_turns:
            cells.append(Text("-" if verdict.turn is None else str(verdict.turn)))
        cells += [passed, Text(verdict.reason), Text(score)]
        table.add_row(*cells)
    return table


def render_rollout(
    console: Console,
    record: RolloutRecord,
    query: QueryRecord | None,
    verdicts: list[Verdict],
    *,
    full: bool = False,
) -> None:
    """Print one stored rollout: header, query, episode tree, error and verdicts.

    Long texts are cut to ``PREVIEW_LINES`` lines (and ``PREVIEW_CHARS`` characters)
    unless ``full``.
    """
    parts: list[RenderableType] = [_header(record, query), _query_panel(record, query)]
    if record.error:
        error = _content(record.error, full=full)
        parts.append(Panel(error, title="error", title_align="left", style="red"))
    if record.trajectory is None:
        parts.append(Text("no trajectory was stored for this rollout", style="dim"))
    else:
        builder = _EpisodeTree(record.trajectory, full=full)
        parts.append(builder.build(f"trajectory {record.trajectory.run_id}"))
    parts.append(_verdicts_table(verdicts) if verdicts else Text("no verdicts yet", style="dim"))
    # Wrap even on a soft-wrapping console: a tree cropped at the width would hide content.
    console.print(Group(*parts), soft_wrap=False)


# --- nexforge status ---------------------------------------------------------------------


def _queries_table(status: StoreStatus) -> Table:
    table = Table(title="queries", title_justify="left")
    table.add_column("framework")
    table.add_column("queries", justify="right")
    for framework, count in sorted(status.queries_by_framework.items()):
        table.add_row(Text(framework), str(count))
    table.add_section()
    table.add_row(Text("total", style="bold"), Text(str(status.queries), style="bold"))
    table.add_row(Text("rejected", style="dim"), Text(str(status.rejected_queries), style="dim"))
    return table


def _rollouts_table(status: StoreStatus) -> Table:
    table = Table(title="rollouts", title_justify="left")
    counts = {"planned": status.planned_rollouts, **status.rollouts}
    styles = {"done": "green", "failed": "red", "pending": "yellow"}
    for name in counts:
        table.add_column(name, justify="right", header_style=f"bold {styles.get(name, '')}".strip())
    table.add_row(*(str(n) for n in counts.values()))
    return table


def _verdict_counts_table(status: StoreStatus) -> Table:
    table = Table(title="verdicts", title_justify="left")
    table.add_column("stage")
    table.add_column("passed", justify="right", header_style="bold green")
    table.add_column("failed", justify="right", header_style="bold red")
    for stage, counts in sorted(status.verdicts.items()):
        table.add_row(Text(stage), str(counts.get("passed", 0)), str(counts.get("failed", 0)))
    return table


def render_status(console: Console, status: StoreStatus) -> None:
    """Print the store's counts: queries per framework, rollouts by state, verdicts by stage."""
    parts: list[RenderableType] = [_queries_table(status), _rollouts_table(status)]
    if status.verdicts:
        parts.append(_verdict_counts_table(status))
    else:
        parts.append(Text("no verdicts yet", style="dim"))
    console.print(Group(*parts), soft_wrap=False)
