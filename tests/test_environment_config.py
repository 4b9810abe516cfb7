"""Declaring an environment in framework.yaml or a standalone agent, and `- env:` entries."""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

import pytest

from nexforge.core.errors import ConfigError
from nexforge.runtime.config import load_agent
from nexforge.runtime.config.framework import load_framework

TOOLS_PY = """
from nexforge.tools.environment import EnvState, env_tool


@env_tool(read_only=True)
def count_items(state: EnvState) -> int:
    \"\"\"How many items there are.\"\"\"
    return state.db.execute("SELECT count(*) FROM items").fetchone()[0]


@env_tool
def add_item(state: EnvState, label: str) -> str:
    \"\"\"Add an item.\"\"\"
    state.db.execute("INSERT INTO items (label) VALUES (?)", (label,))
    return state.clock.iso()


def helper() -> None:
    \"\"\"Not marked: not a tool.\"\"\"
"""

FRAMEWORK = """
name: demo
entry_agent: agents/lead.yaml
environment:
  seed: data/seed.sqlite
  tools: tools/store.py
  clock: {start: "2030-06-01T12:00:00Z", step_s: 3600}
"""

LEAD = """
name: lead
system_prompt: You lead.
tools:
  - env: count_items
sub_agents:
  - config: worker.yaml
"""

WORKER = """
name: worker
system_prompt: You work.
tools:
  - env: "*"
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def make_framework(root: Path, framework: str = FRAMEWORK, lead: str = LEAD) -> Path:
    (root / "data").mkdir(parents=True)
    with sqlite3.connect(root / "data" / "seed.sqlite") as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)")
    write(root, "tools/store.py", TOOLS_PY)
    write(root, "agents/lead.yaml", lead)
    write(root, "agents/worker.yaml", WORKER)
    return write(root, "framework.yaml", framework)


def where(err: ConfigError) -> tuple[str | None, int | None, str | None]:
    return err.file, err.line, err.key


async def test_framework_environment_is_shared_by_all_agents(tmp_path: Path) -> None:
    make_framework(tmp_path)
    fw = load_framework(tmp_path)
    assert (fw.name, fw.entry.name) == ("demo", "lead")
    assert fw.environment is not None and fw.environment.name == "demo"
    worker = fw.entry.sub_agents[0]
    assert [t.name for t in fw.entry.tools] == ["count_items"]
    assert [t.name for t in worker.tools] == ["count_items", "add_item"]  # "*", in file order
    assert fw.entry.tools[0] is worker.tools[0]  # one environment, one set of tools
    assert await fw.environment.replay_calls([("add_item", {"label": "x"})]) != (
        await fw.environment.seed_hash()
    )


def test_load_agent_inside_a_framework_uses_its_environment(tmp_path: Path) -> None:
    make_framework(tmp_path)
    lead = load_agent(tmp_path / "agents" / "lead.yaml")
    assert lead.tools[0].name == "count_items"
    assert lead.tools[0].resources["state"].name == "demo"


async def test_declared_clock_is_used(tmp_path: Path) -> None:
    make_framework(tmp_path)
    env = load_framework(tmp_path / "framework.yaml").environment
    assert env is not None
    assert (env.seed.clock_start.isoformat(), env.seed.clock_step.total_seconds()) == (
        "2030-06-01T12:00:00+00:00",
        3600.0,
    )


async def test_standalone_agent_declares_its_own_environment(tmp_path: Path) -> None:
    make_framework(tmp_path)
    (tmp_path / "framework.yaml").unlink()
    agent = write(
        tmp_path,
        "solo.yaml",
        """
        name: solo
        system_prompt: Alone.
        environment: {seed: data/seed.sqlite, tools: tools/store.py}
        tools:
          - env: "*"
        """,
    )
    fw = load_framework(agent)
    assert fw.environment is not None and fw.environment.name == "solo"
    assert [t.name for t in fw.entry.tools] == ["count_items", "add_item"]


def test_unknown_environment_tool(tmp_path: Path) -> None:
    make_framework(tmp_path, lead=LEAD.replace("count_items", "count_itemz"))
    with pytest.raises(ConfigError) as info:
        load_framework(tmp_path)
    assert where(info.value) == (str(tmp_path / "agents" / "lead.yaml"), 4, "tools[0].env")
    assert "unknown environment tool 'count_itemz' (demo has: count_items, add_item)" in str(
        info.value
    )


def test_missing_seed(tmp_path: Path) -> None:
    make_framework(tmp_path, framework=FRAMEWORK.replace("seed.sqlite", "gone.sqlite"))
    with pytest.raises(ConfigError) as info:
        load_framework(tmp_path)
    assert where(info.value) == (str(tmp_path / "framework.yaml"), 4, "environment.seed")
    assert "not found: data/gone.sqlite" in info.value.message


def test_seed_that_is_not_a_database(tmp_path: Path) -> None:
    make_framework(tmp_path)
    (tmp_path / "data" / "seed.sqlite").write_text("not sqlite " * 20)
    with pytest.raises(ConfigError) as info:
        load_framework(tmp_path)
    assert where(info.value)[1:] == (4, "environment.seed")
    assert "not a SQLite database" in info.value.message


def test_unknown_key_in_the_environment(tmp_path: Path) -> None:
    make_framework(tmp_path, framework=FRAMEWORK.replace("  seed:", "  sed:"))
    with pytest.raises(ConfigError) as info:
        load_framework(tmp_path)
    assert where(info.value) == (str(tmp_path / "framework.yaml"), 4, "environment.sed")
    assert "unknown key (expected one of: name, seed, files, tools, clock)" in info.value.message


def test_unknown_key_in_framework_yaml(tmp_path: Path) -> None:
    make_framework(tmp_path, framework=FRAMEWORK + "workflow: []\n")
    with pytest.raises(ConfigError) as info:
        load_agent(tmp_path / "agents" / "lead.yaml")
    assert where(info.value) == (str(tmp_path / "framework.yaml"), 7, "workflow")


def test_tool_files_must_define_env_tools_and_stay_inside_the_root(tmp_path: Path) -> None:
    make_framework(tmp_path)
    write(tmp_path, "tools/empty.py", "X = 1\n")
    framework = tmp_path / "framework.yaml"
    framework.write_text(FRAMEWORK.replace("tools/store.py", "tools/empty.py"))
    with pytest.raises(ConfigError, match="defines no @env_tool functions") as info:
        load_framework(tmp_path)
    assert where(info.value)[1:] == (6, "environment.tools")
    framework.write_text(FRAMEWORK.replace("tools/store.py", "../outside.py"))
    with pytest.raises(ConfigError, match="outside the config root"):
        load_framework(tmp_path)


def test_env_entry_without_an_environment(tmp_path: Path) -> None:
    make_framework(tmp_path, framework="name: demo\nentry_agent: agents/lead.yaml\n")
    with pytest.raises(ConfigError, match="no environment is declared") as info:
        load_framework(tmp_path)
    assert where(info.value)[1:] == (4, "tools[0].env")


def test_environment_is_declared_once_per_hierarchy(tmp_path: Path) -> None:
    make_framework(tmp_path)
    decl = "environment: {seed: ../data/seed.sqlite, tools: ../tools/store.py}\n"
    write(tmp_path, "agents/lead.yaml", textwrap.dedent(LEAD).lstrip() + decl)
    with pytest.raises(ConfigError, match="declare it there") as info:
        load_framework(tmp_path)
    assert where(info.value)[2] == "environment"
    (tmp_path / "framework.yaml").unlink()  # standalone now, but the sub-agent declares it
    write(tmp_path, "agents/lead.yaml", LEAD.replace("tools:\n  - env: count_items\n", ""))
    write(tmp_path, "agents/worker.yaml", textwrap.dedent(WORKER).lstrip() + decl)
    with pytest.raises(ConfigError, match="only the entry agent") as info:
        load_framework(tmp_path / "agents" / "lead.yaml")
    assert where(info.value)[0] == str(tmp_path / "agents" / "worker.yaml")


def test_framework_needs_an_entry_agent(tmp_path: Path) -> None:
    make_framework(tmp_path, framework="name: demo\n")
    with pytest.raises(ConfigError, match="entry_agent") as info:
        load_framework(tmp_path)
    assert where(info.value)[2] == "entry_agent"
