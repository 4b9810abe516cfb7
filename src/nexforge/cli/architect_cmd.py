"""``nexforge build``, ``nexforge check`` and ``nexforge architect-stats`` (mounted by app.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from nexforge.core.errors import ConfigError, NexForgeError, describe_error
from nexforge.models.base import Model, Sampling
from nexforge.models.resolve import ModelResolver
from nexforge.runtime.config import parse_model_spec
from nexforge.synthesis.store import StoreError

logger = logging.getLogger(__name__)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model", help="openai:NAME, local:tiny, local:small, local:PATH.gguf or default."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object, nothing else.")]
NoProbeOption = Annotated[
    bool, typer.Option("--no-probe", help="Skip the probe rung (runs on the model).")
]


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def _model(spec: str | None) -> Model:
    try:
        override = parse_model_spec(spec) if spec is not None else None
    except ValueError as exc:
        _fail(f"--model: {exc}", 2)
    try:
        return ModelResolver(override).resolve("architect", None, None)
    except NexForgeError as exc:
        _fail(str(exc), 2)


def _guarded(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except (ConfigError, StoreError) as exc:  # bad input: a config, or a file not a store
        _fail(str(exc), 2)
    except NexForgeError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted (finished stages are saved; run the same command to resume)", 130)
    except Exception as exc:
        logger.debug("unexpected error", exc_info=exc)
        _fail(f"unexpected error: {describe_error(exc)}")


def _progress(quiet: bool) -> Any:
    def show(line: str) -> None:
        if not quiet:
            err.print(f"[dim]·[/dim] {escape(line)}")

    return show


def build(
    description: Annotated[
        str | None, typer.Argument(help="One sentence: what the framework is for.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Folder to write the framework(s) to.")
    ] = None,
    variants: Annotated[
        int, typer.Option("--variants", min=1, max=20, help="Write DIR/v1..vK, one per topology.")
    ] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Sampling and topology seed.")] = 0,
    from_config: Annotated[
        Path | None,
        typer.Option("--from-config", help="A hand-written framework: generate its kit, check it."),
    ] = None,
    model: ModelOption = None,
    max_repairs: Annotated[int, typer.Option("--max-repairs", min=0, max=10)] = 2,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, max=2.0)] = 0.0,
    custom_tools: Annotated[
        int,
        typer.Option(
            "--custom-tools",
            min=0,
            max=5,
            help="Model-written tools to try (tested in the sandbox).",
        ),
    ] = 1,
    no_probe: NoProbeOption = False,
    as_json: JsonOption = False,
) -> None:
    """Build a multi-agent framework from one sentence (or a kit for your own framework)."""
    from nexforge.architect.ask import AskSettings
    from nexforge.architect.build import BuildOptions
    from nexforge.architect.build import build as run_build
    from nexforge.architect.from_config import build_from_config

    settings = AskSettings(sampling=Sampling(temperature=temperature), max_repairs=max_repairs)
    if from_config is not None:
        if description is not None:
            _fail("give either a DESCRIPTION or --from-config, not both", 2)
        llm = _model(model)
        result = _guarded(
            build_from_config(
                from_config,
                llm,
                output=output,
                ask_settings=settings,
                seed=seed,
                probe=not no_probe,
                progress=_progress(as_json),
            )
        )
        results = [result]
    else:
        if description is None or not description.strip():
            _fail("a DESCRIPTION is required (or --from-config DIR)", 2)
        if output is None:
            _fail("-o DIR is required: where to write the framework", 2)
        llm = _model(model)
        options = BuildOptions(
            description=description.strip(),
            out=output,
            variants=variants,
            seed=seed,
            max_repairs=max_repairs,
            probe=not no_probe,
            custom_tools=custom_tools,
            ask=settings,
        )
        results = _guarded(run_build(options, llm, _progress(as_json)))
    if as_json:
        payload = {"frameworks": [r.report | {"path": str(r.path)} for r in results]}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    else:
        from nexforge.architect.ladder import render_check

        for r in results:
            stats = r.report.get("structure", {})
            out.print(
                f"{r.path}  ({r.archetype}: {stats.get('agents', '?')} agents, "
                f"depth {stats.get('depth', '?')}, {stats.get('tools', '?')} tools, "
                f"{stats.get('personas', '?')} personas)",
                markup=False,
            )
            for line in render_check(r.check):
                out.print(f"  {line}", markup=False)
    if not all(r.check.passed for r in results):
        raise typer.Exit(1)


def check(
    path: Annotated[Path, typer.Argument(help="The framework folder (or its framework.yaml).")],
    model: ModelOption = None,
    no_probe: NoProbeOption = False,
    probe_queries: Annotated[int, typer.Option("--probe-queries", min=1, max=50)] = 3,
    as_json: JsonOption = False,
) -> None:
    """Validate a framework: schema, load, tool tests (sandbox), smoke run, probe run."""
    from nexforge.architect.ladder import check_framework, render_check

    llm = None if no_probe else _model(model)
    report = _guarded(
        check_framework(path, model=llm, probe=not no_probe, max_probe_queries=probe_queries)
    )
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), ensure_ascii=False) + "\n")
    else:
        for line in render_check(report):
            out.print(line, markup=False)
    if not report.passed:
        raise typer.Exit(1)


def architect_stats(
    paths: Annotated[list[Path], typer.Argument(help="Framework folders (e.g. DIR/v*).")],
    min_distance: Annotated[float, typer.Option("--min-distance", min=0.0, max=1.0)] = 0.15,
    as_json: JsonOption = False,
) -> None:
    """How different generated frameworks are: topology, depth, counts, near-duplicates."""
    from nexforge.architect.diversity import diversity_report, read_structure, render_diversity

    folders: list[Path] = []
    for path in paths:
        # A build folder with variants stands for its variants.
        inner = sorted(p for p in path.glob("v*") if (p / "framework.yaml").is_file())
        folders.extend(inner if inner and not (path / "framework.yaml").is_file() else [path])
    try:
        structures = [read_structure(p) for p in folders]
    except NexForgeError as exc:
        _fail(str(exc), 2)
    report = diversity_report(structures, min_distance=min_distance)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), ensure_ascii=False) + "\n")
    else:
        for line in render_diversity(report):
            out.print(line, markup=False)
