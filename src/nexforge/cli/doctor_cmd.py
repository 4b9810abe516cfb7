"""``nexforge doctor``: what this machine gives NexForge (mounted by ``cli/app.py``).

Sandbox isolation comes from the sandbox's own probe (``isolation_report``), so doctor
reports exactly what ``run_shell``/``run_python`` children get. Everything else is looked
up without importing or starting anything: catalog models by file state, MCP servers by
executable or npm package folder, optional dependencies by ``importlib.util.find_spec``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import platform
import shutil
import sys
import sysconfig
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nexforge import __version__
from nexforge.models.catalog import CATALOG
from nexforge.models.install import model_path, model_status, nexforge_home
from nexforge.tools.isolation import IsolationReport, isolation_report

logger = logging.getLogger(__name__)
out = Console(highlight=False)

OPTIONAL_DEPENDENCIES = ("xllamacpp", "mcp", "ray", "pyarrow", "datasketch", "bfcl_eval", "tau2")
PYTHON_MCP_SERVERS = ("mcp-server-git", "mcp-server-time")
NPM_MCP_SERVERS = ("@modelcontextprotocol/server-filesystem", "@modelcontextprotocol/server-memory")


@dataclass(frozen=True)
class Installed:
    """One thing doctor looked for, and where it was found (None: not installed)."""

    name: str
    kind: str
    path: str | None

    @property
    def installed(self) -> bool:
        return self.path is not None


def npm_mcp_root() -> Path:
    """Where the project's setup installs the npm MCP servers."""
    return nexforge_home() / "mcp" / "npm" / "node_modules"


def find_mcp_servers() -> list[Installed]:
    # The venv's scripts folder is not on PATH when the venv is not activated.
    scripts = Path(sysconfig.get_path("scripts"))
    found: list[Installed] = []
    for name in PYTHON_MCP_SERVERS:
        local = scripts / name
        path = shutil.which(name) or (str(local) if local.is_file() else None)
        found.append(Installed(name, "pypi", path))
    for package in NPM_MCP_SERVERS:
        folder = npm_mcp_root() / package
        has_manifest = (folder / "package.json").is_file()
        found.append(Installed(package, "npm", str(folder) if has_manifest else None))
    return found


def find_optional_dependencies() -> list[Installed]:
    found: list[Installed] = []
    for name in OPTIONAL_DEPENDENCIES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError) as exc:  # a broken install counts as missing
            logger.debug("find_spec(%r) failed", name, exc_info=exc)
            spec = None
        origin = (spec.origin or name) if spec is not None else None
        found.append(Installed(name, "python", origin))
    return found


def collect_report(isolation: IsolationReport) -> dict[str, Any]:
    """The whole report as JSON-ready data; ``doctor --json`` prints exactly this."""
    models = [
        {"name": m.name, "title": m.title, "state": model_status(m), "path": str(model_path(m))}
        for m in CATALOG.values()
    ]

    def listed(items: list[Installed]) -> list[dict[str, Any]]:
        return [{**asdict(item), "installed": item.installed} for item in items]

    return {
        "nexforge_version": __version__,
        "python_version": platform.python_version(),
        "python_executable": sys.executable,
        "nexforge_home": str(nexforge_home()),
        "isolation": {**asdict(isolation), "consequences": list(isolation.consequences)},
        "models": models,
        "mcp_servers": listed(find_mcp_servers()),
        "optional_dependencies": listed(find_optional_dependencies()),
    }


def _yes(value: bool, good: str = "yes", bad: str = "no") -> str:
    return f"[green]{good}[/green]" if value else f"[yellow]{bad}[/yellow]"


def _isolation_table(iso: dict[str, Any]) -> Table:
    table = Table(title="Sandbox (run_shell, run_python)", title_justify="left")
    table.add_column("check")
    table.add_column("state")
    limits = iso["limits"]
    rows = [
        ("running as root", "yes" if iso["running_as_root"] else "no"),
        ("unprivileged child user", _yes(iso["drops_privileges"], f"uid {iso['child_uid']}")),
        ("network namespace", _yes(iso["network_isolated"], "yes (no network)", "no")),
        ("PID namespace", _yes(iso["pid_isolated"])),
        (
            "private /dev/shm",
            _yes(iso["private_shm"], f"yes ({(iso['shm_bytes'] or 0) // 2**20} MiB in all)"),
        ),
        ("process-count limit", _yes(iso["max_processes"] is not None, str(iso["max_processes"]))),
        ("fs.protected_hardlinks", _yes(iso["protected_hardlinks"], "on", "off")),
        ("launcher", escape(iso["launcher"])),
        (
            "rlimits",
            f"cpu timeout+1 s, address space {limits['address_space_bytes'] // 2**20} MiB, "
            f"file size {limits['file_size_bytes'] // 2**20} MiB, core {limits['core_bytes']}",
        ),
    ]
    for check, state in rows:
        table.add_row(check, state)
    return table


def _installed_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("name", "kind", "state"):
        table.add_column(column)
    table.add_column("where", overflow="fold")
    for row in rows:
        state = _yes(row["installed"], "installed", "missing")
        table.add_row(row["name"], row["kind"], state, escape(row["path"] or ""))
    return table


def render(report: dict[str, Any]) -> None:
    out.print(
        f"NexForge {report['nexforge_version']} on Python {report['python_version']} "
        f"({escape(report['python_executable'])}); NEXFORGE_HOME={escape(report['nexforge_home'])}"
    )
    out.print(_isolation_table(report["isolation"]))
    for consequence in report["isolation"]["consequences"]:
        out.print(f"[yellow]![/yellow] {escape(consequence)}")
    models = Table(title="Embedded models", title_justify="left")
    for column in ("name", "model", "state"):
        models.add_column(column)
    models.add_column("path", overflow="fold")
    for model in report["models"]:
        state = model["state"]
        shown = _yes(state == "verified", state, state)
        models.add_row(model["name"], model["title"], shown, escape(model["path"]))
    out.print(models)
    out.print(_installed_table("MCP servers", report["mcp_servers"]))
    out.print(_installed_table("Optional dependencies", report["optional_dependencies"]))


def doctor(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object, nothing else.")
    ] = False,
) -> None:
    """Report sandbox isolation, installed models, MCP servers and optional dependencies."""
    report = collect_report(asyncio.run(isolation_report()))
    if json_output:
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        render(report)
