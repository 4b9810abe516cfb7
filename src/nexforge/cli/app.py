"""The ``nexforge`` command: thin; parses, calls the packages, renders with rich."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from nexforge import __version__
from nexforge.cli.architect_cmd import architect_stats, build, check
from nexforge.cli.doctor_cmd import doctor
from nexforge.cli.eval_cmd import eval_app
from nexforge.cli.export_cmd import export
from nexforge.cli.mcp_cmd import mcp_app, serve_mcp
from nexforge.cli.models_cmd import models_app
from nexforge.cli.pipeline_cmd import pipeline, queries
from nexforge.cli.progress import render_event
from nexforge.cli.quality_cmd import stats, verify
from nexforge.cli.rollout_cmd import rollout, show, status
from nexforge.cli.serve_cmd import serve_model
from nexforge.core.errors import ConfigError, NexForgeError, describe_error
from nexforge.core.trajectory import RunResult
from nexforge.models.settings import ModelSettings
from nexforge.runtime.agent import Agent
from nexforge.runtime.config import agent_config_json_schema, load_agent, parse_model_spec
from nexforge.runtime.config.python_refs import ALLOW_PACKAGES_ENV, package_name_problem
from nexforge.runtime.conversation import Conversation
from nexforge.runtime.events import RunStopped

app = typer.Typer(
    name="nexforge",
    help="Build agentic training environments: run agent hierarchies from YAML.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
T = TypeVar("T")
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False)

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model", help="openai:NAME, local:tiny, local:small, local:PATH.gguf or default."
    ),
]
WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace", help="Folder the file and shell tools act in (default: a fresh temp dir)."
    ),
]


@app.callback()
def options(
    allow_package: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-package",
            metavar="PACKAGE",
            help="Let `python:` tool entries name functions of this installed package "
            "(repeatable; e.g. `nexforge --allow-package mypkg run ...`).",
        ),
    ] = None,
) -> None:
    """Build agentic training environments: run agent hierarchies from YAML."""
    if not allow_package:
        return
    for name in allow_package:
        problem = package_name_problem(name)
        if problem is not None:
            fail(f"--allow-package: {problem}", 2)
    # Through the environment, so every config this command loads sees it, in child
    # processes (Ray workers) too.
    earlier = os.environ.get(ALLOW_PACKAGES_ENV, "")
    os.environ[ALLOW_PACKAGES_ENV] = ",".join(p for p in (earlier, *allow_package) if p)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def _guarded(action: Callable[[], T]) -> T:
    """Run ``action``; any error becomes one line on stderr (the traceback goes to the log)."""
    try:
        return action()
    except ConfigError as exc:  # e.g. a system prompt that fails to render
        fail(str(exc), 2)
    except NexForgeError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except Exception as exc:
        logging.getLogger(__name__).debug("unexpected error", exc_info=exc)
        fail(f"unexpected error: {describe_error(exc)}")


def _model_override(spec: str | None) -> ModelSettings | None:
    if spec is None:
        return None
    try:
        return parse_model_spec(spec)
    except ValueError as exc:
        fail(f"--model: {exc}", 2)


def _load(config: Path) -> Agent:
    try:
        return load_agent(config)
    except ConfigError as exc:
        fail(str(exc), 2)


async def _run(
    agent: Agent, task: str, model: ModelSettings | None, workspace: Path | None, quiet: bool
) -> RunResult:
    async with Conversation(agent, model=model, workspace=workspace) as conversation:
        result: RunResult | None = None
        async for event in conversation.stream(task):
            if isinstance(event, RunStopped):
                result = event.result
            if not quiet:
                render_event(err, event)
        assert result is not None
        return result


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="The entry agent's YAML file.")],
    task: Annotated[str, typer.Argument(help="The task for the agent.")],
    model: ModelOption = None,
    workspace: WorkspaceOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object, nothing else.")
    ] = False,
    trace_out: Annotated[
        Path | None, typer.Option("--trace-out", help="Write the trajectory JSON here.")
    ] = None,
) -> None:
    """Run an agent hierarchy on one task."""
    override = _model_override(model)
    agent = _load(config)
    result = _guarded(lambda: asyncio.run(_run(agent, task, override, workspace, quiet=as_json)))
    if trace_out is not None:
        try:
            trace_out.write_text(result.trajectory.model_dump_json(indent=2), encoding="utf-8")
        except OSError as exc:
            fail(f"--trace-out: cannot write {trace_out}: {exc.strerror or exc}")
    if as_json:
        payload = result.model_dump(
            mode="json", include={"final_output", "stop_reason", "steps", "usage", "trajectory"}
        )
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    else:
        out.print(result.final_output or "", markup=False)
    if result.stop_reason != "completed":
        raise typer.Exit(1)


async def _chat(agent: Agent, model: ModelSettings | None, workspace: Path | None) -> None:
    async with Conversation(agent, model=model, workspace=workspace) as conversation:
        while True:
            try:
                line = await asyncio.to_thread(input, "you> ")
            except EOFError:
                return
            if line.strip() in {"/exit", "/quit"}:
                return
            if not line.strip():
                continue
            async for event in conversation.stream(line):
                if isinstance(event, RunStopped):
                    out.print(f"{agent.name}> {event.result.final_output or ''}", markup=False)
                else:
                    render_event(err, event)


@app.command()
def chat(
    config: Annotated[Path, typer.Argument(help="The entry agent's YAML file.")],
    model: ModelOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Talk to an agent hierarchy, turn by turn (/exit or Ctrl-D to leave)."""
    override = _model_override(model)
    agent = _load(config)
    _guarded(lambda: asyncio.run(_chat(agent, override, workspace)))


app.add_typer(models_app, name="models", help="Install and list the embedded models.")
app.command("serve-model")(serve_model)
app.add_typer(mcp_app, name="mcp", help="MCP servers declared in agent configs.")
app.command("serve-mcp")(serve_mcp)
app.command("doctor")(doctor)
app.command("build")(build)
app.command("check")(check)
app.command("architect-stats")(architect_stats)
app.command("queries")(queries)
app.command("rollout")(rollout)
app.command("status")(status)
app.command("show")(show)
app.command("pipeline")(pipeline)
app.command("verify")(verify)
app.command("stats")(stats)
app.command("export")(export)
app.add_typer(eval_app, name="eval", help="Measure a model: BFCL, tau2, own environments.")


@app.command()
def schema() -> None:
    """Print the JSON Schema of agent YAML files (for editor validation)."""
    sys.stdout.write(json.dumps(agent_config_json_schema(), indent=2) + "\n")


@app.command()
def version() -> None:
    """Print the NexForge version."""
    out.print(__version__)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
