"""``nexforge eval tau2``: tau2-bench offline, the NexForge runtime as the agent."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nexforge.cli.architect_cmd import JsonOption, ModelOption, _fail, _guarded, err, out
from nexforge.cli.eval_render import case_progress, model_slug, percent
from nexforge.cli.rollout_cmd import QuietOption
from nexforge.evaluation.results import EvalError, ResultLog

DOMAIN_NAMES = ("retail", "airline", "telecom")


def tau2(
    domain: Annotated[str, typer.Option("--domain", help="retail, airline or telecom.")],
    model: ModelOption = None,
    user_model: Annotated[
        str | None,
        typer.Option("--user-model", help="The user simulator's model SPEC (default: --model)."),
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="tau2's task split: base (all), train, test...")
    ] = "base",
    trials: Annotated[int, typer.Option("--trials", min=1, help="Runs per task (pass^k).")] = 1,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most N tasks.")] = None,
    task_ids: Annotated[
        list[str] | None,
        typer.Option("--task-ids", help="Only these task ids (repeat, or comma-separated)."),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Tasks in flight.")] = 4,
    max_turns: Annotated[
        int, typer.Option("--max-turns", min=1, help="User messages before a run is cut off.")
    ] = 30,
    max_steps: Annotated[
        int, typer.Option("--max-steps", min=1, help="Agent model calls per turn.")
    ] = 30,
    temperature: Annotated[
        float, typer.Option("--temperature", min=0.0, max=2.0, help="Agent and user (tau2: 0).")
    ] = 0.0,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", min=1, help="Tokens per model reply.")
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Results folder (default out/eval/tau2/DOMAIN/MODEL)."),
    ] = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run tau2 tasks with tau2's user simulator, score them with tau2 (resumable)."""
    from nexforge.evaluation.model_spec import model_from_spec
    from nexforge.evaluation.tau2 import Tau2Options, load_domain, run_tau2, select_tasks

    if domain not in DOMAIN_NAMES:
        _fail(f"--domain: expected one of {', '.join(DOMAIN_NAMES)}, got {domain!r}", 2)
    ids = tuple(part.strip() for item in task_ids or () for part in item.split(",") if part.strip())
    try:
        # Checked before any model loads, so a bad flag fails at once (exit 2).
        selected = select_tasks(load_domain(domain), split, task_ids=ids, limit=limit)
        agent = model_from_spec(model, role="agent", option="--model")
        user = model_from_spec(
            user_model if user_model is not None else model, role="user_sim", option="--user-model"
        )
    except EvalError as exc:
        _fail(str(exc), 2)
    folder = out_dir or Path("out/eval/tau2") / domain / model_slug(model)
    wanted = {(task.id, trial) for task in selected for trial in range(trials)}
    done = {r.key for r in ResultLog(folder).results() if r.error is None}
    options = Tau2Options(
        split=split,
        trials=trials,
        workers=workers,
        max_turns=max_turns,
        max_steps=max_steps,
        temperature=temperature,
        max_tokens=max_tokens,
        task_ids=ids,
        limit=limit,
    )

    async def go() -> dict[str, Any]:
        with case_progress("tau2", quiet or as_json, len(wanted - done)) as advance:
            summary = await run_tau2(
                agent, user, domain, folder, options, on_result=lambda r: advance(r.correct, None)
            )
        summary["out"] = str(folder)
        return summary

    summary: dict[str, Any] = _guarded(go())
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    _render(summary)


def _render(summary: Mapping[str, Any]) -> None:
    title = f"tau2 {summary['domain']} ({summary['split']}) on {summary['model'] or 'the model'}"
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("average reward", f"{summary['avg_reward'] or 0.0:.3f}", style="bold")
    for k, value in summary["pass_hat_k"].items():
        table.add_row(f"pass^{k}", percent(value))
    table.add_row("tasks x trials", f"{summary['tasks']} x {summary['trials']}")
    table.add_row("runs scored", str(summary["runs"]))
    table.add_row("runs failed to run", str(summary["errors"]))
    table.add_row("mean agent steps", f"{summary['mean_steps']:.1f}")
    table.add_row("mean agent tokens", f"{summary['mean_tokens']:.0f}")
    out.print(table)
    ends = ", ".join(f"{k} {v}" for k, v in summary["termination_reasons"].items())
    out.print(f"runs ended by: {ends or 'nothing yet'}")
    if summary["pending"]:
        out.print(f"{summary['pending']} runs not done (run the command again to finish)")
    err.print(f"[dim]results in {summary['out']} (tau2 format: {summary['tau2_results']})[/dim]")
