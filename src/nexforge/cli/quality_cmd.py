"""``nexforge verify`` and ``nexforge stats`` (mounted by app.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from nexforge.cli.architect_cmd import JsonOption, _fail, _guarded, err, out
from nexforge.cli.rollout_cmd import QuietOption, StoreOption, open_store
from nexforge.core.errors import NexForgeError
from nexforge.models.base import Model
from nexforge.models.resolve import ModelResolver
from nexforge.quality.policy import STAGES
from nexforge.runtime.config import parse_model_spec

_CELL = 60
"""Characters of a reason shown in a table cell."""


def _judge_model(spec: str | None) -> Model | None:
    if spec is None:
        return None
    try:
        settings = parse_model_spec(spec)
    except ValueError as exc:
        _fail(f"--judge: {exc}", 2)
    try:
        return ModelResolver(settings).resolve("judge", None, None)
    except NexForgeError as exc:
        _fail(f"--judge: {exc}", 2)


def _stages(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        _fail("--stages: name at least one stage", 2)
    return names


@contextmanager
def _progress_bar(quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A bar that appears with the first verified rollout (so an early error stands alone)."""
    if quiet:
        yield lambda done, total: None
        return
    columns = (
        TextColumn("[bold]verify[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    progress = Progress(*columns, console=err, transient=False)
    bar = progress.add_task("verify", total=None)

    def advance(done: int, total: int) -> None:
        if not progress.live.is_started:
            progress.start()
        progress.update(bar, completed=done, total=total)

    try:
        yield advance
    finally:
        if progress.live.is_started:
            progress.stop()


def verify(
    store: StoreOption = Path("nexforge.sqlite"),
    judge: Annotated[
        str | None,
        typer.Option("--judge", help="Judge model SPEC (openai:NAME, local:tiny, ...)."),
    ] = None,
    judge_threshold: Annotated[
        float, typer.Option("--judge-threshold", min=0.0, max=1.0, help="Judge pass mark.")
    ] = 0.6,
    stages: Annotated[
        str | None,
        typer.Option("--stages", help="Comma-separated stages to run (default: all)."),
    ] = None,
    dedup_threshold: Annotated[
        float, typer.Option("--dedup-threshold", help="Near-duplicate similarity, in (0, 1].")
    ] = 0.9,
    framework: Annotated[
        list[Path] | None,
        typer.Option("--framework", help="A framework folder to replay on (repeatable)."),
    ] = None,
    redo: Annotated[bool, typer.Option("--redo", help="Verify again what has verdicts.")] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Rollouts in flight.")] = 8,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run the quality cascade on the store's rollouts (incremental: only what is new)."""
    from nexforge.quality.cascade import VerifyOptions, verify_store

    for path in framework or []:
        if not path.exists():
            _fail(f"--framework: {path} does not exist", 2)
    model = _judge_model(judge)
    try:
        options = VerifyOptions(
            stages=_stages(stages),
            judge=model,
            judge_threshold=judge_threshold,
            dedup_threshold=dedup_threshold,
            frameworks=list(framework or []),
            redo=redo,
            workers=workers,
        )
    except ValueError as exc:
        _fail(str(exc), 2)
    opened = open_store(store)

    async def go() -> Any:
        with opened, _progress_bar(quiet or as_json) as progress:
            return await verify_store(opened, options, progress=progress)

    summary = _guarded(go())
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict()) + "\n")
    else:
        out.print(_verify_view(summary.to_dict()), soft_wrap=False)


def _clip(text: str) -> str:
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def _top(reasons: Mapping[str, int]) -> Text:
    return Text("\n".join(_clip(f"{reason} ({n})") for reason, n in reasons.items()))


def _verify_view(summary: dict[str, Any]) -> RenderableType:
    table = Table(
        title=f"verify: {summary['rollouts']} rollouts in {summary['seconds']:.1f} s",
        title_justify="left",
    )
    table.add_column("stage", no_wrap=True)
    for name, style in (
        ("passed", "bold green"),
        ("failed", "bold red"),
        ("skipped", ""),
        ("not checked", "bold yellow"),
        ("recovered turns", ""),
    ):
        table.add_column(name, justify="right", header_style=style)
    table.add_column("top reasons")
    unchecked = Table(title="not checked", title_justify="left")
    unchecked.add_column("stage", no_wrap=True)
    unchecked.add_column("rollouts", justify="right")
    unchecked.add_column("why")
    for stage, counts in summary["stages"].items():
        table.add_row(
            Text(stage),
            str(counts["passed"]),
            str(counts["failed"]),
            str(counts["skipped"]),
            str(counts["not_checked"]),
            str(counts["recovered_turns"]),
            _top(counts["top_reasons"]),
        )
        for reason, n in counts["not_checked_reasons"].items():
            unchecked.add_row(Text(stage), str(n), Text(reason))
    return Group(table, unchecked) if unchecked.row_count else table


def stats(store: StoreOption = Path("nexforge.sqlite"), as_json: JsonOption = False) -> None:
    """Pass rates, export decisions and distributions: overall, per framework, per difficulty."""
    from nexforge.quality.stats import compute_stats

    with open_store(store) as opened, opened.snapshot():
        computed = compute_stats(opened)
    payload = computed.to_dict()
    if as_json:
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    out.print(_stats_view(payload), soft_wrap=False)


def _stats_view(payload: dict[str, Any]) -> RenderableType:
    overall = payload["overall"]
    if not overall["rollouts"]:
        return Text("no rollouts in the store", style="dim")
    parts: list[RenderableType] = [
        *(Text(f"finding: {f}", style="bold yellow") for f in payload.get("findings", [])),
        _stages_table(overall),
        _decisions_table(overall),
        _distributions_table(overall),
        _counts_table("tool usage", overall["tool_usage"]),
        _counts_table("stop reasons", overall["stop_reasons"]),
        _counts_table("sub-agent episodes", overall["sub_agent_episodes_by_agent"]),
        Text(
            f"recovered turns: {overall['recovered_turns']} "
            f"in {overall['rollouts_with_recovered_turns']} rollouts"
        ),
    ]
    for title, groups in (
        ("per framework", payload["by_framework"]),
        ("per difficulty", payload["by_difficulty"]),
    ):
        parts.append(_groups_table(title, groups))
    return Group(*parts)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _stages_table(group: dict[str, Any]) -> Table:
    table = Table(title=f"stages ({group['rollouts']} rollouts)", title_justify="left")
    for name in ("stage", "passed", "failed", "not run", "pass rate"):
        table.add_column(name, justify="left" if name == "stage" else "right")
    table.add_column("top reasons")
    for stage, rate in group["stages"].items():
        table.add_row(
            Text(stage),
            str(rate["passed"]),
            str(rate["failed"]),
            str(rate["not_run"]),
            _rate(rate["pass_rate"]),
            _top(rate["top_reasons"]),
        )
    return table


def _decisions_table(group: dict[str, Any]) -> Table:
    table = Table(title="export decisions", title_justify="left")
    table.add_column("filter")
    table.add_column("kept", justify="right", header_style="bold green")
    table.add_column("dropped", justify="right", header_style="bold red")
    table.add_column("first reason dropped")
    for name, decision in group["decisions"].items():
        table.add_row(
            Text(name),
            str(decision["kept"]),
            str(decision["dropped"]),
            _top(decision["top_reasons"]),
        )
    return table


def _distributions_table(group: dict[str, Any]) -> Table:
    table = Table(title="distributions", title_justify="left")
    table.add_column("")
    for name in ("n", "min", "mean", "p50", "p90", "max"):
        table.add_column(name, justify="right")
    for name, values in group["distributions"].items():
        cells = [
            "-" if values[k] is None else f"{values[k]:g}"
            for k in ("min", "mean", "p50", "p90", "max")
        ]
        table.add_row(Text(name.replace("_", " ")), str(values["n"]), *cells)
    return table


def _counts_table(title: str, counts: Mapping[str, int]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("name")
    table.add_column("count", justify="right")
    for name, count in counts.items():
        table.add_row(Text(name), str(count))
    return table


def _groups_table(title: str, groups: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("")
    table.add_column("rollouts", justify="right")
    for stage in STAGES:
        table.add_column(stage, justify="right")
    table.add_column("kept (default)", justify="right", header_style="bold green")
    table.add_column("kept (strict)", justify="right", header_style="bold green")
    for name, group in groups.items():
        table.add_row(
            Text(name),
            str(group["rollouts"]),
            *(_rate(group["stages"][stage]["pass_rate"]) for stage in STAGES),
            str(group["decisions"]["default"]["kept"]),
            str(group["decisions"]["strict"]["kept"]),
        )
    return table
