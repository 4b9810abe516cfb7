"""``nexforge doctor`` through a Typer app, as ``cli/app.py`` mounts it, on a temp NEXFORGE_HOME."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from nexforge import __version__
from nexforge.cli.doctor_cmd import doctor
from nexforge.models.catalog import CATALOG
from nexforge.models.install import model_path
from nexforge.tools.sandbox import isolation_report

app = typer.Typer()
app.command("doctor")(doctor)


@app.command()
def other() -> None:
    """A second command, so Typer keeps ``doctor`` as a subcommand like the real app."""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEXFORGE_HOME", str(tmp_path))
    return tmp_path


def run_json() -> dict[str, Any]:
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)  # one object, nothing else
    return payload


def test_json_shape(home: Path) -> None:
    report = run_json()
    assert set(report) == {
        "nexforge_version",
        "python_version",
        "python_executable",
        "nexforge_home",
        "isolation",
        "models",
        "mcp_servers",
        "optional_dependencies",
    }
    assert report["nexforge_version"] == __version__
    assert report["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert report["nexforge_home"] == str(home)
    assert [m["name"] for m in report["models"]] == list(CATALOG)
    names = [s["name"] for s in report["mcp_servers"]]
    assert names == [
        "mcp-server-git",
        "mcp-server-time",
        "@modelcontextprotocol/server-filesystem",
        "@modelcontextprotocol/server-memory",
    ]
    for server in report["mcp_servers"]:
        assert server["installed"] == (server["path"] is not None)
        assert server["installed"] is False or Path(server["path"]).exists()
    deps = {d["name"]: d["installed"] for d in report["optional_dependencies"]}
    assert list(deps) == ["xllamacpp", "mcp", "ray", "pyarrow", "datasketch", "bfcl_eval", "tau2"]
    assert deps == {name: importlib.util.find_spec(name) is not None for name in deps}


def test_model_states_follow_nexforge_home(home: Path) -> None:
    assert {m["name"]: m["state"] for m in run_json()["models"]} == dict.fromkeys(
        CATALOG, "missing"
    )
    path = model_path("tiny")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"GGUF")  # present but never verified
    models = {m["name"]: m for m in run_json()["models"]}
    assert models["tiny"]["state"] == "installed"
    assert models["tiny"]["path"] == str(path)
    assert all(m["state"] == "missing" for name, m in models.items() if name != "tiny")


def test_npm_mcp_servers_are_found_under_nexforge_home(home: Path) -> None:
    package = home / "mcp" / "npm" / "node_modules" / "@modelcontextprotocol" / "server-memory"
    package.mkdir(parents=True)
    (package / "package.json").write_text("{}")
    servers = {s["name"]: s for s in run_json()["mcp_servers"]}
    assert servers["@modelcontextprotocol/server-memory"]["path"] == str(package)
    assert servers["@modelcontextprotocol/server-filesystem"]["installed"] is False


def test_isolation_is_the_sandboxs_own_report(home: Path) -> None:
    expected = asdict(asyncio.run(isolation_report()))
    expected["consequences"] = list(expected["consequences"])
    isolation = run_json()["isolation"]
    assert isolation == expected
    # Each missing protection comes with its consequence.
    assert isolation["network_isolated"] or any(
        "network access" in c for c in isolation["consequences"]
    )
    assert isolation["drops_privileges"] or isolation["max_processes"] is None


def test_optional_dependencies_are_not_imported(home: Path) -> None:
    absent = [
        name
        for name in ("xllamacpp", "ray", "pyarrow", "datasketch", "bfcl_eval", "tau2")
        if name not in sys.modules
    ]
    run_json()
    assert [name for name in absent if name in sys.modules] == []


def test_table_output(home: Path) -> None:
    result = CliRunner().invoke(app, ["doctor"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for heading in ("Sandbox", "Embedded models", "MCP servers", "Optional dependencies"):
        assert heading in result.stdout
    assert f"NexForge {__version__}" in result.stdout
    assert "missing" in result.stdout  # no model is installed in this NEXFORGE_HOME
