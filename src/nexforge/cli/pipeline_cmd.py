"""``nexforge queries`` and ``nexforge pipeline`` (mounted by app.py)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from nexforge.cli.architect_cmd import (
    JsonOption,
    ModelOption,
    _fail,
    _guarded,
    _model,
    _progress,
    out,
)
from nexforge.cli.rollout_cmd import StoreOption
from nexforge.models.base import Sampling
from nexforge.runtime.config.model_spec import parse_model_spec


def _difficulty_mix(text: str | None) -> dict[str, float] | None:
    """``easy=0.3,medium=0.5,hard=0.2`` -> a mix (validated by QueryOptions)."""
    if text is None:
        return None
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, sep, weight = part.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            mix[name.strip()] = float(weight)
        except ValueError:
            _fail(f"--difficulty: expected NAME=WEIGHT[,NAME=WEIGHT...], got {part!r}", 2)
    return mix


def queries(
    framework: Annotated[Path, typer.Argument(help="A framework folder with a query kit.")],
    n: Annotated[int, typer.Option("-n", min=1, help="How many queries the set should hold.")] = 20,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Also write the set as JSONL.")
    ] = None,
    store: StoreOption = Path("nexforge.sqlite"),
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same query set.")] = 0,
    model: ModelOption = None,
    fuzzify: Annotated[
        bool, typer.Option("--fuzzify", help="Vaguer, more human requests (precise kept).")
    ] = False,
    fit_check: Annotated[
        bool,
        typer.Option(
            "--fit-check/--no-fit-check",
            help="Also ask the model whether each query fits its persona (a rewrite must pass "
            "the same checks).",
        ),
    ] = False,
    grow: Annotated[
        float, typer.Option("--grow", min=0.0, max=1.0, help="Chance to grow a problem type.")
    ] = 0.0,
    difficulty: Annotated[
        str | None, typer.Option("--difficulty", help="Mix, e.g. easy=0.3,medium=0.5,hard=0.2.")
    ] = None,
    dedup: Annotated[
        float, typer.Option("--dedup", min=0.05, max=1.0, help="Near-duplicate threshold.")
    ] = 0.8,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1)] = 4,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, max=2.0)] = 0.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    as_json: JsonOption = False,
) -> None:
    """Write grounded queries for a framework: persona x problem type x difficulty."""
    from nexforge.architect.ask import AskSettings
    from nexforge.synthesis.queries import generate_queries
    from nexforge.synthesis.query_files import write_queries
    from nexforge.synthesis.query_options import QueryOptions
    from nexforge.synthesis.store import SynthesisStore

    mix = _difficulty_mix(difficulty)
    try:
        options = QueryOptions(
            fuzzify=fuzzify,
            fit_check=fit_check,
            grow_p=grow,
            dedup_threshold=dedup,
            concurrency=concurrency,
            ask=AskSettings(sampling=Sampling(temperature=temperature)),
        )
        if mix is not None:
            options = dataclasses.replace(options, difficulty_mix=mix)
    except ValueError as exc:
        _fail(str(exc), 2)
    llm = _model(model)

    async def go() -> object:
        with SynthesisStore(store) as opened:
            return await generate_queries(
                framework,
                n=n,
                store=opened,
                seed=seed,
                model=llm,
                options=options,
                progress=_progress(quiet or as_json),
            )

    summary = _guarded(go())
    if output is not None:
        write_queries(output, summary.queries)
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict()) + "\n")
        return
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(summary.rejected.items())) or "none"
    out.print(
        f"{summary.accepted}/{n} queries for {summary.framework} (seed {seed}; {summary.new} new; "
        f"rejected attempts: {rejected}; {summary.model_calls} model calls, "
        f"{summary.seconds:.1f} s) in {store}" + (f", written to {output}" if output else ""),
        markup=False,
    )
    if summary.accepted < n:
        raise typer.Exit(1)


def pipeline(
    description: Annotated[str, typer.Argument(help="One sentence: what the framework is for.")],
    n: Annotated[int, typer.Option("-n", min=1, help="Queries to write and roll out.")] = 3,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for everything.")] = Path(
        "out/pipeline"
    ),
    seed: Annotated[int, typer.Option("--seed")] = 0,
    samples: Annotated[int, typer.Option("--samples", min=1)] = 1,
    workers: Annotated[int, typer.Option("--workers", min=1)] = 8,
    model: ModelOption = None,
    agent_model: Annotated[
        str | None,
        typer.Option(
            "--agent-model",
            help="The model the framework's agents run on in the rollouts (default: --model); "
            "same forms as --model.",
        ),
    ] = None,
    probe: Annotated[bool, typer.Option("--probe/--no-probe", help="Run the probe rung.")] = False,
    custom_tools: Annotated[int, typer.Option("--custom-tools", min=0, max=5)] = 1,
    fuzzify: Annotated[bool, typer.Option("--fuzzify")] = False,
    user_sim: Annotated[bool, typer.Option("--user-sim")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1.0)] = 900.0,
    export_format: Annotated[
        str, typer.Option("--format", help="Training-data format (see `nexforge export`).")
    ] = "trl",
    judge: Annotated[
        bool, typer.Option("--judge", help="Also score rollouts with the LLM judge (--model).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Build -> check -> queries -> rollouts -> verify -> export, each stage resumable."""
    from nexforge.synthesis.pipeline import PipelineOptions, run_pipeline

    options = PipelineOptions(
        description=description.strip(),
        out=output,
        queries=n,
        seed=seed,
        samples=samples,
        workers=workers,
        probe=probe,
        custom_tools=custom_tools,
        fuzzify=fuzzify,
        user_sim=user_sim,
        timeout_s=timeout,
        export_format=export_format,
        judge=judge,
    )
    if not options.description:
        _fail("a DESCRIPTION is required", 2)
    llm = _model(model)
    try:
        agents = parse_model_spec(agent_model) if agent_model is not None else None
    except ValueError as exc:
        _fail(f"--agent-model: {exc}", 2)
    result = _guarded(run_pipeline(options, llm, rollout_model=agents, progress=_progress(as_json)))
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
        return
    stages = result.stages
    rollout = stages.get("rollout", {})
    exported = stages.get("export", {})
    _print_sample(stages.get("sample"))
    _print_rejections(stages)
    out.print(
        f"framework {result.framework} ({stages['build']['archetype']}); "
        f"{stages['queries']['accepted']} queries in {result.queries_file}; "
        f"rollouts: {rollout.get('done', 0) + rollout.get('already_done', 0)} done, "
        f"{rollout.get('failed', 0)} failed, in {result.store}; "
        f"{exported.get('rollouts', {}).get('kept', 0)} passed the cascade -> "
        f"{exported.get('samples', {}).get('written', 0)} samples in {result.data}\n"
        f"next: nexforge stats --store {result.store}",
        markup=False,
    )


def _print_sample(sample: dict[str, Any] | None) -> None:
    if sample is None:
        out.print("no rollout passed the cascade: nothing exported", style="yellow")
        return
    lines = [f"one exported sample (rollout {sample['rollout']}):", f"  query:  {sample['query']}"]
    for call in sample["calls"]:
        arguments = json.dumps(call["arguments"], ensure_ascii=False)
        lines.append(f"  call:   {call['agent']} -> {call['tool']}({arguments})")
    lines.append(f"  answer: {sample['answer']}")
    out.print("\n".join(lines), markup=False)


def _print_rejections(stages: dict[str, Any]) -> None:
    queries = stages.get("queries", {})
    rejected = queries.get("rejected", {})
    dropped = stages.get("export", {}).get("rollouts", {}).get("dropped", {})
    parts = [
        f"query slots: {sum(rejected.values())} attempts rejected"
        + (f" ({_counts(rejected)})" if rejected else "")
        + f", {queries.get('given_up', 0)} slots given up",
        f"rollouts: {sum(dropped.values())} dropped by the cascade"
        + (f" ({_counts(dropped)})" if dropped else ""),
    ]
    out.print("; ".join(parts), markup=False)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
