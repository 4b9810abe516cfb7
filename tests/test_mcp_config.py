"""``mcp_servers:`` and ``- mcp:`` entries in agent YAML: tools listed at load, errors located."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nexforge.core.errors import ConfigError
from nexforge.runtime.config import load_agent
from test_mcp_support import requires

TIME = "{command: mcp-server-time, scope: shared}"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def agent_yaml(folder: Path, servers: str, tools: str) -> Path:
    return write(
        folder,
        "agent.yaml",
        f"""
        name: clock
        system_prompt: You tell the time.
        mcp_servers:
        {textwrap.indent(textwrap.dedent(servers).strip(), "  ")}
        tools:
        {textwrap.indent(textwrap.dedent(tools).strip(), "  ")}
        """,
    )


@requires("mcp-server-time")
def test_all_tools_of_a_server_with_specs_from_the_server(tmp_path: Path) -> None:
    agent = load_agent(agent_yaml(tmp_path, f"time: {TIME}", "- mcp: time"))

    specs = {t.name: t.spec for t in agent.tools}
    assert set(specs) == {"get_current_time", "convert_time"}
    spec = specs["get_current_time"]
    assert spec.parameters["required"] == ["timezone"]
    assert "timezone" in spec.description.lower() or spec.description
    assert spec.read_only  # from the server's readOnlyHint


@requires("mcp-server-time")
def test_one_tool_of_a_server(tmp_path: Path) -> None:
    agent = load_agent(agent_yaml(tmp_path, f"time: {TIME}", "- mcp: time/convert_time"))
    assert [t.name for t in agent.tools] == ["convert_time"]


@requires("mcp-server-time")
def test_unknown_tool_is_a_config_error_at_its_entry(tmp_path: Path) -> None:
    path = agent_yaml(tmp_path, f"time: {TIME}", "- mcp: time/get_weather")
    with pytest.raises(ConfigError) as info:
        load_agent(path)
    assert info.value.key == "tools[0].mcp"
    assert info.value.line == 6
    assert "no tool 'get_weather'" in info.value.message
    assert "get_current_time" in info.value.message


def test_unknown_server_is_a_config_error(tmp_path: Path) -> None:
    path = agent_yaml(tmp_path, f"time: {TIME}", "- mcp: git")
    with pytest.raises(ConfigError) as info:
        load_agent(path)
    assert info.value.key == "tools[0].mcp"
    assert "unknown MCP server 'git'" in info.value.message
    assert "time" in info.value.message


@pytest.mark.parametrize(
    ("server", "key", "message"),
    [
        (
            "{command: mcp-server-time, scope: global}",
            "mcp_servers.time.scope",
            "'shared' or 'per_run'",
        ),
        ("{command: x, url: 'http://127.0.0.1:1/mcp'}", "mcp_servers.time", "exactly one of"),
        ("{args: [a]}", "mcp_servers.time", "exactly one of"),
        ("{command: x, headers: {a: b}}", "mcp_servers.time", "headers apply to a url"),
        ("{command: x, scope: shared, network: true}", "mcp_servers.time", "per_run commands"),
        ("{command: x, timeout: 3}", "mcp_servers.time.timeout", "unknown key"),
        ("{command: no-such-mcp-server-here}", "mcp_servers.time.command", "not found"),
    ],
)
def test_bad_declarations_are_located(tmp_path: Path, server: str, key: str, message: str) -> None:
    path = agent_yaml(tmp_path, f"time: {server}", "- mcp: time")
    with pytest.raises(ConfigError) as info:
        load_agent(path)
    assert info.value.key == key
    assert info.value.line == 4
    assert message in info.value.message
    assert info.value.file == str(path)


def test_bad_tool_reference_is_located(tmp_path: Path) -> None:
    path = agent_yaml(tmp_path, f"time: {TIME}", "- mcp: 'time/a/b'")
    with pytest.raises(ConfigError) as info:
        load_agent(path)
    assert info.value.key == "tools[0].mcp"
    assert "SERVER/TOOL" in info.value.message


@requires("mcp-server-git")
def test_a_server_that_cannot_be_listed_is_a_config_error_with_its_stderr(tmp_path: Path) -> None:
    # A per_run server is listed in an empty scratch folder unless list_workspace says where.
    path = agent_yaml(
        tmp_path,
        "git: {command: mcp-server-git, args: [--repository, .], scope: per_run}",
        "- mcp: git",
    )
    with pytest.raises(ConfigError) as info:
        load_agent(path)
    assert info.value.key == "mcp_servers.git"
    assert "not a valid Git repository" in info.value.message


def test_list_workspace_must_exist_inside_the_root(tmp_path: Path) -> None:
    path = agent_yaml(
        tmp_path, "git: {command: mcp-server-time, list_workspace: ../elsewhere}", "- mcp: git"
    )
    with pytest.raises(ConfigError) as info:
        load_agent(path)
    assert info.value.key == "mcp_servers.git.list_workspace"
