"""What every ``nexforge eval`` command shares: output folder names and score tables."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nexforge.cli.architect_cmd import err


def model_slug(spec: str | None) -> str:
    """A folder name for a model SPEC (``openai:qwen3`` -> ``openai-qwen3``)."""
    text = spec or "default"
    if text.lower().endswith(".gguf"):
        text = Path(text).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def score_table(title: str, categories: Mapping[str, Mapping[str, Any]]) -> Table:
    """category | accuracy | correct | total, ``overall`` last and bold."""
    table = Table(title=title, title_justify="left")
    table.add_column("category")
    table.add_column("accuracy", justify="right")
    table.add_column("correct", justify="right")
    table.add_column("total", justify="right")
    for name, score in categories.items():
        style = "bold" if name == "overall" else None
        table.add_row(
            name,
            percent(float(score["accuracy"])),
            str(score["correct"]),
            str(score["total"]),
            style=style,
        )
    return table


@contextmanager
def case_progress(
    label: str, quiet: bool, total: int | None = None
) -> Iterator[Callable[[bool, int | None], None]]:
    """A bar of finished cases (correct / not) on stderr, shown from the first finished case
    so an early error stands alone. ``advance(correct, total)`` may correct the total."""
    if quiet:

        def ignore(correct: bool, new_total: int | None = None) -> None:
            return None

        yield ignore
        return
    columns = (
        TextColumn(f"[bold]{label}[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[green]{task.fields[ok]} correct[/green] [red]{task.fields[bad]} not[/red]"),
        TimeElapsedColumn(),
    )
    progress = Progress(*columns, console=err, transient=False)
    bar = progress.add_task(label, total=total, ok=0, bad=0)
    counts = {"ok": 0, "bad": 0}

    def advance(correct: bool, new_total: int | None = None) -> None:
        if not progress.live.is_started:
            progress.start()
        counts["ok" if correct else "bad"] += 1
        if new_total is not None:
            progress.update(bar, total=new_total)
        progress.update(bar, advance=1, ok=counts["ok"], bad=counts["bad"])

    try:
        yield advance
    finally:
        if progress.live.is_started:
            progress.stop()
