"""``nexforge mcp list`` (the tools of a config's MCP servers) and ``nexforge serve-mcp``
(an agent hierarchy as an MCP server, so other MCP clients can call NexForge agents)."""

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
from rich.syntax import Syntax

from nexforge.core.errors import ConfigError, NexForgeError
from nexforge.models.settings import ModelSettings
from nexforge.runtime.agent import Agent
from nexforge.runtime.config import load_agent, parse_model_spec
from nexforge.runtime.config.mcp_entries import DeclaredServer, declared_servers
from nexforge.runtime.config.paths import find_root

logger = logging.getLogger(__name__)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False)

mcp_app = typer.Typer(
    help="MCP servers declared in agent configs.", no_args_is_help=True, add_completion=False
)


@mcp_app.callback()
def _mcp_group() -> None:
    """MCP servers declared in agent configs."""


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


@mcp_app.command("list")
def list_servers(
    config: Annotated[Path, typer.Argument(help="An agent YAML file (sub-agents included).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, nothing else.")] = False,
) -> None:
    """Start each MCP server of CONFIG's hierarchy, print its tools with their schemas."""
    from nexforge.tools.mcp.listing import prefetch_tools

    path = config.resolve()
    if not path.is_file():
        _fail(f"config file not found: {config}", 2)
    try:
        servers = list(declared_servers(path, find_root(path)))
    except ConfigError as exc:
        _fail(str(exc), 2)
    pending = [(s, prefetch_tools(s.launch, s.list_workspace)) for s in servers]
    report = [_server_report(server, future) for server, future in pending]
    problem = next((r["error"] for r in report if r["error"]), None)
    if problem is None:
        # Tool entries naming tools the servers lack are config errors; the listings are cached.
        try:
            load_agent(path)
        except ConfigError as exc:
            problem = str(exc)
    if as_json:
        sys.stdout.write(json.dumps({"servers": report, "error": problem}, indent=2) + "\n")
    else:
        _render(report)
    if problem is not None:
        if not as_json:
            err.print(f"[red]error:[/red] {escape(problem)}")
        raise typer.Exit(1)


def _server_report(server: DeclaredServer, future: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "server": server.name,
        "file": str(server.file),
        "scope": server.launch.scope,
        "launch": server.launch.describe(),
        "tools": [],
        "error": None,
    }
    try:
        tools = future.result()
    except NexForgeError as exc:
        report["error"] = f"{server.name}: {exc}"
        return report
    report["tools"] = [
        {
            "name": t.name,
            "description": t.description,
            "read_only": t.read_only,
            "input_schema": t.input_schema,
        }
        for t in tools
    ]
    return report


def _render(report: list[dict[str, Any]]) -> None:
    if not report:
        out.print("no MCP servers declared")
    for server in report:
        out.rule(f"[bold]{escape(server['server'])}[/bold] ({server['scope']})", align="left")
        out.print(f"[dim]{escape(server['launch'])}  ({escape(server['file'])})[/dim]")
        if server["error"]:
            out.print(f"[red]{escape(server['error'])}[/red]")
        for tool in server["tools"]:
            flag = " [green](read-only)[/green]" if tool["read_only"] else ""
            out.print(f"[bold cyan]{escape(tool['name'])}[/bold cyan]{flag}")
            if tool["description"]:
                out.print(f"  {escape(tool['description'])}")
            schema = json.dumps(tool["input_schema"], indent=2)
            out.print(Syntax(schema, "json", theme="ansi_dark", background_color="default"))


def serve_mcp(
    configs: Annotated[
        list[Path], typer.Argument(help="Entry agent YAML files; one MCP tool per agent.")
    ],
    model: Annotated[
        str | None,
        typer.Option("--model", help="openai:NAME, local:tiny, local:small, local:PATH.gguf."),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="The MCP server's name.")] = "nexforge",
) -> None:
    """Serve agent hierarchies as an MCP server over stdio (tool NAME(task) -> final output)."""
    override: ModelSettings | None = None
    if model is not None:
        try:
            override = parse_model_spec(model)
        except ValueError as exc:
            _fail(f"--model: {exc}", 2)
    agents: list[Agent] = []
    for config in configs:
        try:
            agent = load_agent(config)
        except ConfigError as exc:
            _fail(str(exc), 2)
        if any(a.name == agent.name for a in agents):
            _fail(f"two entry agents are named {agent.name!r}", 2)
        agents.append(agent)
    asyncio.run(_serve(name, agents, override))


async def _serve(name: str, agents: list[Agent], model: ModelSettings | None) -> None:
    from nexforge.tools.mcp.serve import ServedTool, serve_stdio
    from nexforge.tools.mcp.servers import close_shared_servers

    tools = [
        ServedTool(a.name, a.description or f"Run the {a.name} agent on a task.", _runner(a, model))
        for a in agents
    ]
    try:
        await serve_stdio(name, tools)
    finally:
        await close_shared_servers()


def _runner(agent: Agent, model: ModelSettings | None) -> Any:
    from nexforge.tools.mcp.serve import TaskFailed

    async def run(task: str) -> str:
        try:
            result = await agent.arun(task, model=model)
        except NexForgeError as exc:
            raise TaskFailed(f"agent {agent.name!r} failed: {exc}") from exc
        if result.stop_reason != "completed":
            detail = f": {result.final_output}" if result.final_output else ""
            raise TaskFailed(f"agent {agent.name!r} stopped ({result.stop_reason}){detail}")
        return result.final_output or ""

    return run


def main() -> None:
    """``python -m nexforge.cli.mcp_cmd`` until the commands are mounted on ``nexforge``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    standalone = typer.Typer(add_completion=False, no_args_is_help=True)
    standalone.add_typer(mcp_app, name="mcp")
    standalone.command("serve-mcp")(serve_mcp)
    standalone()


if __name__ == "__main__":
    main()
