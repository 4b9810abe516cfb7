"""``nexforge rollout``, ``nexforge status`` and ``nexforge show`` (mounted by app.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from nexforge.cli.architect_cmd import JsonOption, ModelOption, _fail, _guarded, err, out
from nexforge.core.errors import ConfigError
from nexforge.models.base import Model
from nexforge.models.resolve import ModelResolver
from nexforge.models.settings import ModelSettings
from nexforge.runtime.config import parse_model_spec
from nexforge.synthesis.records import RolloutRecord
from nexforge.synthesis.store import StoreError, SynthesisStore

StoreOption = Annotated[Path, typer.Option("--store", help="The synthesis store (SQLite).")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
UserSimOption = Annotated[
    bool, typer.Option("--user-sim", help="Multi-turn: a simulated user plays the persona.")
]
UserModelOption = Annotated[
    str | None, typer.Option("--user-model", help="The user simulator's model SPEC.")
]
MaxUserTurnsOption = Annotated[int, typer.Option("--max-user-turns", min=1)]


def open_store(path: Path) -> SynthesisStore:
    """The store at ``path``. A missing store, or a file that is not one, is bad input: a
    one-line error and exit 2."""
    if not path.is_file():
        _fail(f"no store at {path}", 2)
    try:
        return SynthesisStore(path)
    except StoreError as exc:
        _fail(str(exc), 2)


def _settings(spec: str | None, flag: str = "--model") -> ModelSettings | None:
    try:
        return parse_model_spec(spec) if spec is not None else None
    except ValueError as exc:
        _fail(f"{flag}: {exc}", 2)


def _user_model(spec: str | None, agent_spec: str | None) -> Model:
    settings = _settings(spec, "--user-model") if spec is not None else _settings(agent_spec)
    try:
        return ModelResolver(settings).resolve("user_sim", None, None)
    except Exception as exc:
        _fail(f"--user-model: {exc}", 2)


@contextmanager
def rollout_progress(total: int, quiet: bool) -> Iterator[Callable[[RolloutRecord], None]]:
    """A progress bar (rate, ETA, successes / failures) fed by each stored rollout."""
    if quiet or total == 0:
        yield lambda record: None
        return
    counts = {"done": 0, "failed": 0}
    columns = (
        TextColumn("[bold]rollouts[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]:.2f}/s"),
        TextColumn("[green]{task.fields[ok]} ok[/green] [red]{task.fields[bad]} failed[/red]"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        bar = progress.add_task("rollouts", total=total, rate=0.0, ok=0, bad=0)

        def advance(record: RolloutRecord) -> None:
            counts[record.status] += 1
            elapsed = progress.tasks[0].elapsed or 0.0
            finished = counts["done"] + counts["failed"]
            progress.update(
                bar,
                advance=1,
                ok=counts["done"],
                bad=counts["failed"],
                rate=finished / elapsed if elapsed > 0 else 0.0,
            )

        yield advance


def rollout(
    framework: Annotated[
        Path, typer.Argument(help="The framework folder (or its framework.yaml).")
    ],
    queries: Annotated[
        Path | None,
        typer.Argument(help="A QUERIES JSONL file; default: the framework's queries in the store."),
    ] = None,
    store: StoreOption = Path("nexforge.sqlite"),
    workers: Annotated[int, typer.Option("--workers", min=1, help="Rollouts in flight.")] = 64,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Runs per query.")] = 1,
    engine: Annotated[str, typer.Option("--engine", help="local or ray.")] = "local",
    address: Annotated[
        str | None, typer.Option("--address", help="An existing Ray cluster (engine ray).")
    ] = None,
    model: ModelOption = None,
    user_sim: UserSimOption = False,
    user_model: UserModelOption = None,
    max_user_turns: MaxUserTurnsOption = 6,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Seconds per rollout.")
    ] = 900.0,
    retries: Annotated[
        int, typer.Option("--retries", min=0, help="Retries per faulty rollout.")
    ] = 2,
    token_budget: Annotated[
        int | None, typer.Option("--token-budget", min=1, help="Stop (resumable) after N tokens.")
    ] = None,
    endpoint_concurrency: Annotated[
        int | None,
        typer.Option("--endpoint-concurrency", min=1, help="Model calls in flight per endpoint."),
    ] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", min=0.0, max=2.0)] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Run seed (per-rollout seeds derive from it).")
    ] = 0,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Run stored failed rollouts again.")
    ] = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run the framework's entry agent on each query (resumable: run it again to finish)."""
    from nexforge.synthesis.gate import SamplingOverrides
    from nexforge.synthesis.rollout import RolloutOptions

    if engine not in ("local", "ray"):
        _fail(f"--engine: expected local or ray, got {engine!r}", 2)
    options = RolloutOptions(
        workers=workers,
        samples=samples,
        timeout_s=timeout,
        retries=retries,
        token_budget=token_budget,
        endpoint_concurrency=endpoint_concurrency,
        sampling=SamplingOverrides(temperature=temperature),
        seed=seed,
        retry_failed=retry_failed,
        user_sim=user_sim,
        max_user_turns=max_user_turns,
    )
    override = _settings(model)
    users = _user_model(user_model, model) if user_sim else None
    summary = _guarded(
        _rollout(
            framework, queries, store, options, override, users, engine, address, quiet or as_json
        )
    )
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict()) + "\n")
    else:
        out.print(_summary_table(summary))
    if summary.budget_spent:
        err.print("token budget spent: run the same command again to continue")
    if summary.busy:
        err.print(
            f"{summary.busy} rollouts are being run by another process on this store: run the "
            "same command again after it ends to finish any it leaves"
        )
    if summary.discarded:
        err.print(
            f"{summary.discarded} rollouts run here had been stored by another process "
            "meanwhile: the stored copies were kept"
        )


async def _rollout(
    framework_path: Path,
    queries: Path | None,
    store_path: Path,
    options: object,
    model: ModelSettings | None,
    user_model: Model | None,
    engine: str,
    address: str | None,
    quiet: bool,
) -> object:
    from nexforge.runtime.config.framework import load_framework
    from nexforge.synthesis.engine_local import remaining_tasks, run_local
    from nexforge.synthesis.fingerprint import framework_hash
    from nexforge.synthesis.query_files import read_queries, with_reference_states
    from nexforge.synthesis.rollout import RolloutContext, RolloutOptions, plan_tasks

    assert isinstance(options, RolloutOptions)
    loaded = load_framework(framework_path)
    fh = framework_hash(loaded)
    with SynthesisStore(store_path) as store:
        store.remember_framework(fh, loaded.name, loaded.source)
        if queries is not None:
            records = await with_reference_states(read_queries(queries, fh), loaded.environment)
        else:
            records = store.queries(fh)
            if not records:
                raise ConfigError(
                    f"{store_path} holds no queries for this framework: run `nexforge queries "
                    f"{framework_path} --store {store_path}` or give a QUERIES file"
                )
        tasks = plan_tasks(records, options.samples)
        todo = len(remaining_tasks(tasks, store, retry_failed=options.retry_failed))
        ctx = RolloutContext(loaded, fh, options, model=model, user_model=user_model, engine=engine)
        with rollout_progress(todo, quiet) as on_result:
            if engine == "ray":
                from nexforge.synthesis.engine_ray import run_ray

                return await run_ray(tasks, ctx, store, address=address, on_result=on_result)
            return await run_local(tasks, ctx, store, on_result=on_result)


def _summary_table(summary: object) -> Table:
    from nexforge.synthesis.engine_local import RolloutSummary

    assert isinstance(summary, RolloutSummary)
    table = Table(title="rollouts", show_header=True)
    table.add_column("planned", justify="right")
    table.add_column("already stored", justify="right")
    table.add_column("done", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("pending", justify="right")
    table.add_column("tokens", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("rollouts/s", justify="right")
    table.add_row(
        str(summary.planned),
        str(summary.already_done),
        str(summary.done),
        str(summary.failed),
        str(summary.pending),
        str(summary.prompt_tokens + summary.completion_tokens),
        f"{summary.seconds:.1f}",
        f"{summary.rate:.2f}",
    )
    if summary.failures:
        reasons = Table(title="failures", show_header=True)
        reasons.add_column("count", justify="right")
        reasons.add_column("error")
        for reason, count in sorted(summary.failures.items(), key=lambda kv: -kv[1]):
            reasons.add_row(str(count), reason)
        outer = Table.grid()
        outer.add_row(table)
        outer.add_row(reasons)
        return outer
    return table


def status(store: StoreOption = Path("nexforge.sqlite"), as_json: JsonOption = False) -> None:
    """Counts per stage and state: queries, rollouts (done / failed / pending), verdicts."""
    from nexforge.cli.show_render import render_status

    with open_store(store) as opened:
        counts = opened.status()
    if as_json:
        sys.stdout.write(json.dumps(counts.to_dict()) + "\n")
    else:
        render_status(out, counts)


def show(
    run_id: Annotated[str, typer.Argument(help="A run id or rollout key (or a unique prefix).")],
    store: StoreOption = Path("nexforge.sqlite"),
    full: Annotated[bool, typer.Option("--full", help="Do not shorten long texts.")] = False,
) -> None:
    """Render one rollout: the episode tree, every message, tool call and result, verdicts."""
    from nexforge.cli.show_render import render_rollout

    try:
        with open_store(store) as opened:
            record = opened.rollout(run_id)
            if record is None:
                _fail(f"no rollout {run_id!r} in {store}", 2)
            query = opened.query(record.query_key)
            verdicts = opened.verdicts(record.key)
    except StoreError as exc:  # an ambiguous prefix
        _fail(str(exc), 2)
    render_rollout(out, record, query, verdicts, full=full)
