"""``nexforge eval bfcl``: the Berkeley Function Calling Leaderboard, offline (mounted by the
``eval`` command group)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from nexforge.cli.architect_cmd import JsonOption, ModelOption, _fail, _guarded, err, out
from nexforge.cli.eval_render import case_progress, model_slug, score_table
from nexforge.cli.rollout_cmd import QuietOption
from nexforge.evaluation.results import EvalError

DEFAULT_ROOT = Path("out/eval/bfcl")


def bfcl(
    model: ModelOption = None,
    categories: Annotated[
        str | None,
        typer.Option(
            "--categories",
            help="Comma-separated BFCL categories or groups (multi_turn, live, non_live, "
            "single_turn, python, ...). Default: every category that runs offline.",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most N cases per category.")
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Results folder (default out/eval/bfcl/MODEL)."),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Cases in flight.")] = 4,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=1.0, help="Seconds per model request (provider default)."),
    ] = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Score a model on BFCL with bfcl-eval's own data and checker (resumable)."""
    from nexforge.evaluation.bfcl import run_bfcl, select_categories
    from nexforge.evaluation.model_spec import model_from_spec

    names = _category_names(categories)
    folder = out_dir or DEFAULT_ROOT / model_slug(model)
    try:
        select_categories(names)
        resolved = model_from_spec(model)
    except EvalError as exc:
        _fail(str(exc), 2)

    async def go() -> dict[str, Any]:
        with case_progress("bfcl", quiet or as_json) as advance:
            return await run_bfcl(
                resolved,
                out_dir=folder,
                categories=names,
                limit=limit,
                workers=workers,
                timeout_s=timeout,
                on_result=lambda result, done, total: advance(result.correct, total),
            )

    summary: dict[str, Any] = _guarded(go())
    for name, reason in summary["skipped"].items():
        err.print(f"[yellow]skipped[/yellow] {name}: {escape(reason)}")
    if as_json:
        sys.stdout.write(json.dumps(summary["categories"]) + "\n")
        return
    out.print(score_table(f"BFCL on {summary['model']}", summary["categories"]))
    _footer(summary, folder)


def _category_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        _fail("--categories: name at least one category", 2)
    return names


def _footer(summary: Mapping[str, Any], folder: Path) -> None:
    if summary["errors"]:
        err.print(
            f"[red]{summary['errors']} cases could not run[/red] (see 'error' in "
            f"{folder / 'results.jsonl'}; run the command again to retry them)"
        )
    resumed = f", {summary['resumed']} from an earlier run" if summary["resumed"] else ""
    err.print(f"[dim]{summary['cases']} cases{resumed}; results in {folder}[/dim]")
