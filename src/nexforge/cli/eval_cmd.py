"""``nexforge eval``: public benchmarks and NexForge's own environments (mounted by app.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nexforge.cli.architect_cmd import JsonOption, ModelOption, _fail, _guarded, err, out
from nexforge.cli.eval_bfcl_cmd import bfcl
from nexforge.cli.eval_render import model_slug, percent, score_table
from nexforge.cli.eval_tau2_cmd import tau2
from nexforge.cli.rollout_cmd import (
    MaxUserTurnsOption,
    QuietOption,
    UserModelOption,
    UserSimOption,
    _settings,
    _user_model,
    rollout_progress,
)

eval_app = typer.Typer(
    no_args_is_help=True,
    help="Measure a model: BFCL, tau2, or a NexForge framework's held-out queries.",
)
eval_app.command("bfcl")(bfcl)
eval_app.command("tau2")(tau2)


@eval_app.command("framework")
def framework(
    framework_dir: Annotated[
        Path, typer.Argument(help="The framework folder (or its framework.yaml).")
    ],
    model: ModelOption = None,
    queries: Annotated[
        Path | None,
        typer.Option(
            "--queries",
            help="A QUERIES JSONL file (default: the framework's kit/eval_queries.jsonl).",
        ),
    ] = None,
    store: Annotated[
        Path | None, typer.Option("--store", help="Take the framework's queries from a store.")
    ] = None,
    split: Annotated[
        str | None,
        typer.Option("--split", help="With --held-out: the split export used, train=0.9,val=0.1."),
    ] = None,
    held_out: Annotated[
        str | None, typer.Option("--held-out", help="Evaluate only this split of the store.")
    ] = None,
    split_seed: Annotated[int, typer.Option("--split-seed", help="export's --seed.")] = 0,
    trials: Annotated[int, typer.Option("--trials", min=1, help="Runs per query (pass^k).")] = 1,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most N queries.")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Runs in flight.")] = 4,
    timeout: Annotated[float, typer.Option("--timeout", min=1.0, help="Seconds per run.")] = 600.0,
    retries: Annotated[int, typer.Option("--retries", min=0, help="Retries per faulty run.")] = 1,
    temperature: Annotated[float | None, typer.Option("--temperature", min=0.0, max=2.0)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Run seed.")] = 0,
    user_sim: UserSimOption = False,
    user_model: UserModelOption = None,
    max_user_turns: MaxUserTurnsOption = 6,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Results folder (default out/eval/framework/NAME/MODEL)."),
    ] = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Score a model on a framework's queries with the grounded verifier (resumable)."""
    from nexforge.evaluation.framework import (
        FrameworkEvalOptions,
        HeldOut,
        run_framework_eval,
        select_queries,
    )
    from nexforge.export import ExportError, parse_split
    from nexforge.runtime.config.framework import load_framework
    from nexforge.synthesis.fingerprint import framework_hash

    if queries is not None and store is not None:
        _fail("give one of --queries FILE or --store DB, not both", 2)
    if (split is None) != (held_out is None):
        _fail("--split and --held-out go together", 2)
    held: HeldOut | None = None
    if split is not None and held_out is not None:
        try:
            held = HeldOut(parse_split(split), held_out, split_seed)
        except ExportError as exc:
            _fail(f"--{exc}", 2)
    settings = _settings(model)
    sim_model = _user_model(user_model, model) if user_sim else None

    async def go() -> dict[str, Any]:
        loaded = load_framework(framework_dir)
        selection = select_queries(
            loaded,
            framework_hash(loaded),
            queries_file=queries,
            store_path=store,
            held_out=held,
            limit=limit,
        )
        folder = out_dir or Path("out/eval/framework") / loaded.name / model_slug(model)
        options = FrameworkEvalOptions(
            trials=trials,
            workers=workers,
            timeout_s=timeout,
            retries=retries,
            seed=seed,
            temperature=temperature,
            user_sim=user_sim,
            max_user_turns=max_user_turns,
        )
        with rollout_progress(len(selection.queries) * trials, quiet or as_json) as advance:
            summary = await run_framework_eval(
                framework_dir,
                settings,
                selection,
                folder,
                options,
                user_model=sim_model,
                on_rollout=advance,
            )
        summary["out"] = str(folder)
        return summary

    summary: dict[str, Any] = _guarded(go())
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    _render_framework(summary)


def _render_framework(summary: Mapping[str, Any]) -> None:
    title = f"{summary['framework']} on {summary['model'] or 'the default model'}"
    out.print(score_table(title, summary["categories"]))
    lines = [
        f"success rate {percent(summary['success_rate'])} over {summary['rollouts']} runs "
        f"of {summary['queries']} queries",
        "pass^k " + "  ".join(f"k={k}: {percent(v)}" for k, v in summary["pass_hat_k"].items()),
        f"tool-call validity {percent(summary['tool_call_validity'])} "
        f"({summary['tool_calls']} calls)",
        f"mean steps {summary['mean_steps']:.1f}, mean tokens {summary['mean_tokens']:.0f}",
        f"stop reasons: {', '.join(f'{k} {v}' for k, v in summary['stop_reasons'].items())}",
    ]
    left = {k: v for k, v in summary["left_out"].items() if v}
    if left:
        lines.append(
            "left out: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in left.items())
        )
    if summary["pending"]:
        lines.append(f"{summary['pending']} runs not done (run the command again to finish)")
    for line in lines:
        out.print(line)
    err.print(f"[dim]results in {summary['out']}[/dim]")


@eval_app.command("compare")
def compare(
    folders: Annotated[
        list[Path], typer.Argument(help="Evaluation folders (their scores.json), one per model.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Models side by side: the same benchmark's scores from several evaluation folders."""
    from nexforge.evaluation.compare import NUMBER_FORMATS, compare, rows
    from nexforge.evaluation.results import EvalError

    try:
        found = compare(folders)
    except EvalError as exc:
        _fail(str(exc), 2)
    if as_json:
        data = {
            str(s.folder): {"model": s.model, "values": s.values, "cases": s.cases} for s in found
        }
        sys.stdout.write(json.dumps(data) + "\n")
        return
    table = Table(title=found[0].benchmark, title_justify="left")
    table.add_column("")
    for item in found:
        table.add_column(f"{item.model}\n[dim]{item.folder}[/dim]", justify="right")
    for label in rows(found):
        cells = []
        for item in found:
            value = item.values.get(label)
            if value is None:
                cells.append("-" if label not in item.values else "n/a")
                continue
            shown = (
                f"{value:{NUMBER_FORMATS[label]}}" if label in NUMBER_FORMATS else percent(value)
            )
            cells.append(f"{shown} [dim]({item.cases.get(label, 0)})[/dim]")
        table.add_row(label, *cells, style="bold" if label == "overall" else None)
    out.print(table)
    err.print("[dim](n) = cases, runs or calls behind the number[/dim]")
