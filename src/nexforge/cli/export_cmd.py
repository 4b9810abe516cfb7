"""``nexforge export`` (mounted by app.py): a store's rollouts as training data."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nexforge.cli.architect_cmd import JsonOption, _fail, err, out
from nexforge.cli.rollout_cmd import QuietOption, StoreOption
from nexforge.core.errors import NexForgeError, describe_error
from nexforge.export import FORMATS, ExportError, ExportOptions, ExportSummary, parse_split

logger = logging.getLogger(__name__)


@contextmanager
def export_progress(quiet: bool) -> Iterator[Callable[[int, int], None]]:
    if quiet:
        yield lambda done, total: None
        return
    columns = (
        TextColumn("[bold]export[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rollouts"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        bar = progress.add_task("export", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        yield advance


def _options(
    fmt: str,
    output: Path,
    filter_name: str,
    min_score: float | None,
    split: str | None,
    args_encoding: str,
    parallel: str,
    shard_rows: int,
    seed: int,
) -> ExportOptions:
    try:
        # The casts name the Literal types; validate() below rejects any other value.
        options = ExportOptions(
            format=fmt,
            output=output,
            filter=cast(Any, filter_name),
            min_score=min_score,
            split=parse_split(split) if split is not None else None,
            args_encoding=cast(Any, args_encoding),
            parallel=cast(Any, parallel),
            shard_rows=shard_rows,
            seed=seed,
        )
        options.validate()
    except ExportError as exc:
        _fail(str(exc), 2)
    return options


def export(
    fmt: Annotated[
        str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)} (hf = trl).")
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="FILE.jsonl or FILE.parquet (sharded).")
    ],
    store: StoreOption = Path("nexforge.sqlite"),
    filter_name: Annotated[
        str, typer.Option("--filter", help="default (verified), strict or none.")
    ] = "default",
    min_score: Annotated[
        float | None, typer.Option("--min-score", help="Keep judge scores >= X.")
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="By query, e.g. train=0.9,val=0.1.")
    ] = None,
    args_encoding: Annotated[
        str, typer.Option("--args-encoding", help="dict (HF templates) or string (DeepSeek-V3).")
    ] = "dict",
    parallel: Annotated[
        str, typer.Option("--parallel", help="keep, split (one call per turn) or skip.")
    ] = "keep",
    shard_rows: Annotated[
        int, typer.Option("--shard-rows", min=1, help="Rows per Parquet shard.")
    ] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the split assignment.")] = 0,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Write verified rollouts as training data: one sample per episode (rl: per model call)."""
    from nexforge.export import export_store
    from nexforge.synthesis.store import StoreError, SynthesisStore

    options = _options(
        fmt, output, filter_name, min_score, split, args_encoding, parallel, shard_rows, seed
    )
    if not store.is_file():
        _fail(f"no store at {store}", 2)
    try:
        with SynthesisStore(store) as opened, export_progress(quiet or as_json) as progress:
            summary = export_store(opened, options, progress=progress)
    except StoreError as exc:
        _fail(str(exc), 2)
    except NexForgeError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted: nothing was written under the output names", 130)
    except Exception as exc:
        logger.debug("unexpected error", exc_info=exc)
        _fail(f"unexpected error: {describe_error(exc)}")
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict(), ensure_ascii=False) + "\n")
    else:
        out.print(summary_table(summary))
    if summary.nothing_verified:
        err.print(
            f"no rollout in {store} has been verified, so the {filter_name} filter kept none: "
            f"run `nexforge verify --store {store}` first, or export unverified rollouts "
            "with --filter none",
            markup=False,
        )
        raise typer.Exit(1)


def summary_table(summary: ExportSummary) -> Table:
    table = Table(title=f"export ({summary.format})", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("rollouts seen", str(summary.rollouts_seen))
    table.add_row("rollouts kept", str(summary.rollouts_kept))
    for reason, count in summary.dropped.most_common():
        table.add_row(f"  dropped: {reason}", str(count), style="yellow")
    for path, rows in summary.files.items():
        table.add_row(f"samples in {path}", str(rows), style="green")
    for reason, count in summary.skipped.most_common():
        table.add_row(f"  skipped: {reason}", str(count), style="yellow")
    if summary.split_turns:
        table.add_row("parallel turns split", str(summary.split_turns))
    table.add_row("secrets scrubbed", str(summary.secrets_scrubbed))
    table.add_row("bytes", f"{summary.bytes:,}")
    table.add_row("seconds", f"{summary.seconds:.1f}")
    return table
