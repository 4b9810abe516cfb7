"""Loading agent hierarchies from YAML: what a valid config turns into."""

from __future__ import annotations

import json
import sqlite3
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from nexforge.models.settings import ModelSettings
from nexforge.runtime.config import agent_config_json_schema, load_agent, parse_model_spec
from nexforge.runtime.config.schema import SCHEMA_PATH
from nexforge.tools.base import ToolContext


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.fixture
def framework(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A root with framework.yaml, three agent levels, a root tool module and a spec file."""
    monkeypatch.setenv("LEAD_URL", "http://llm.test/v1")
    write(tmp_path, "framework.yaml", "name: demo\n")
    write(
        tmp_path,
        "tools/prices.py",
        '''
        from tools.helpers import CURRENCY

        def lookup_price(item: str) -> str:
            """Price of an item."""
            return f"1 {CURRENCY} for {item}"

        def raw_price(payload: dict) -> str:
            return str(payload)
        ''',
    )
    write(tmp_path, "tools/helpers.py", 'CURRENCY = "EUR"\n')
    write(
        tmp_path,
        "tools/raw_price.yaml",
        """
        description: Price from a raw payload.
        read_only: true
        parameters: {type: object, properties: {payload: {type: object}}, required: [payload]}
        """,
    )
    write(tmp_path, "prompts/researcher.md", "You research {{ topic }}.\n")
    write(
        tmp_path,
        "agents/lead.yaml",
        """
        name: lead
        description: Plans the work and delegates.
        model: {provider: openai, model: qwen3, base_url: "${env.LEAD_URL}"}
        system_prompt: |
          You lead the {{ team }} team.
        prompt_vars: {team: research}
        tools:
          - python: tools.prices:lookup_price
            timeout_s: 5
          - python: tools.prices:raw_price
            spec: ../tools/raw_price.yaml
        sub_agents:
          - config: researcher.yaml
        limits: {max_steps: 12, max_depth: 3}
        compaction: {enabled: false, keep_recent: 2}
        tool_call_format: hermes
        """,
    )
    write(
        tmp_path,
        "agents/researcher.yaml",
        """
        name: researcher
        description: Finds sources.
        model: openai:gpt-4o-mini
        system_prompt_file: ../prompts/researcher.md
        prompt_vars: {topic: sources}
        sub_agents:
          - config: sub/fetcher.yaml
        """,
    )
    write(
        tmp_path,
        "agents/sub/fetcher.yaml",
        """
        name: fetcher
        model: default
        system_prompt: Fetch pages.
        """,
    )
    return tmp_path


def test_three_level_hierarchy_loads(framework: Path) -> None:
    lead = load_agent(framework / "agents/lead.yaml")

    assert lead.name == "lead"
    assert lead.description == "Plans the work and delegates."
    assert lead.source == str((framework / "agents/lead.yaml").resolve())
    assert lead.system_prompt == "You lead the {{ team }} team.\n"  # stored un-rendered
    assert lead.prompt_vars == {"team": "research"}
    assert lead.model == ModelSettings(
        provider="openai", model="qwen3", base_url="http://llm.test/v1"
    )
    assert lead.limits.max_steps == 12 and lead.limits.max_depth == 3
    assert lead.limits.max_parallel_tools == 8  # unspecified limits keep their defaults
    assert not lead.compaction.enabled and lead.compaction.keep_recent == 2
    assert lead.tool_call_format == "hermes"

    (researcher,) = lead.sub_agents
    assert researcher.name == "researcher"
    assert researcher.system_prompt == "You research {{ topic }}.\n"
    assert researcher.model == ModelSettings(provider="openai", model="gpt-4o-mini")
    assert researcher.tool_call_format == "structured"

    (fetcher,) = researcher.sub_agents
    assert fetcher.name == "fetcher" and fetcher.model is None and fetcher.sub_agents == []


def test_python_tools_come_from_the_root(framework: Path) -> None:
    path_before = list(sys.path)
    lead = load_agent(framework / "agents/lead.yaml")

    lookup, raw = lead.tools
    assert lookup.name == "lookup_price"
    assert lookup.timeout_s == 5
    assert lookup.spec.description == "Price of an item."
    assert lookup.fn("tea") == "1 EUR for tea"  # the sibling import worked
    assert raw.spec.description == "Price from a raw payload."
    assert raw.spec.read_only is True
    assert raw.spec.parameters["required"] == ["payload"]
    assert sys.path == path_before


def test_entry_read_only_overrides_the_spec_file(framework: Path) -> None:
    config = framework / "agents/lead.yaml"
    text = config.read_text().replace(
        "spec: ../tools/raw_price.yaml", "spec: ../tools/raw_price.yaml\n    read_only: false"
    )
    config.write_text(text)

    assert load_agent(config).tools[1].spec.read_only is False


def test_python_tool_from_an_installed_package(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "a.yaml",
        """
        name: a
        system_prompt: hi
        tools:
          - python: nexforge.runtime.config.model_spec:parse_model_spec
            read_only: true
        allow_packages: [nexforge.runtime.config.model_spec]
        """,
    )
    (tool,) = load_agent(config).tools
    assert tool.name == "parse_model_spec" and tool.fn is parse_model_spec
    assert tool.spec.read_only is True


def test_explicit_root_allows_paths_above_the_config(tmp_path: Path) -> None:
    write(tmp_path, "prompts/p.md", "shared prompt")
    config = write(tmp_path, "agents/a.yaml", "name: a\nsystem_prompt_file: ../prompts/p.md\n")

    assert load_agent(config, root=tmp_path).system_prompt == "shared prompt"


def test_diamond_loads_the_shared_file_once(tmp_path: Path) -> None:
    write(
        tmp_path,
        "lead.yaml",
        "name: lead\nsystem_prompt: x\nsub_agents: [{config: b.yaml}, {config: c.yaml}]\n",
    )
    write(tmp_path, "b.yaml", "name: b\nsystem_prompt: x\nsub_agents: [{config: d.yaml}]\n")
    write(tmp_path, "c.yaml", "name: c\nsystem_prompt: x\nsub_agents: [{config: ./d.yaml}]\n")
    write(tmp_path, "d.yaml", "name: d\nsystem_prompt: x\n")

    b, c = load_agent(tmp_path / "lead.yaml").sub_agents
    assert b.sub_agents[0] is c.sub_agents[0]
    assert b.sub_agents[0].name == "d"


def test_env_defaults_and_escapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NF_UNSET", raising=False)
    monkeypatch.setenv("NF_STEPS", "7")
    config = write(
        tmp_path,
        "a.yaml",
        """
        name: a
        description: "${env.NF_UNSET:-fallback} costs $${env.NF_UNSET} and ${HOME}"
        system_prompt: hi
        limits: {max_steps: "${env.NF_STEPS}"}
        """,
    )
    agent = load_agent(config)
    assert agent.description == "fallback costs ${env.NF_UNSET} and ${HOME}"
    assert agent.limits.max_steps == 7


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("openai:gpt-4o-mini", ModelSettings(provider="openai", model="gpt-4o-mini")),
        ("local:tiny", ModelSettings(provider="local", model="tiny")),
        ("local:small", ModelSettings(provider="local", model="small")),
        ("local:/models/q.gguf", ModelSettings(provider="local", path="/models/q.gguf")),
        ("default", None),
    ],
)
def test_parse_model_spec(spec: str, expected: ModelSettings | None) -> None:
    assert parse_model_spec(spec) == expected


@pytest.mark.parametrize("spec", ["gpt-4o", "openai:", "local:huge", "azure:x", ""])
def test_parse_model_spec_refuses_other_forms(spec: str) -> None:
    with pytest.raises(ValueError, match="expected openai:NAME, local:tiny"):
        parse_model_spec(spec)


def test_relative_local_model_path_resolves_from_the_config_folder(tmp_path: Path) -> None:
    config = write(tmp_path, "a.yaml", "name: a\nsystem_prompt: x\nmodel: local:models/m.gguf\n")
    model = load_agent(config).model
    assert isinstance(model, ModelSettings)
    assert model.path == str(tmp_path.resolve() / "models/m.gguf")


def test_published_json_schema_matches_the_models() -> None:
    published = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert published == agent_config_json_schema(), (
        "regenerate with: .venv/bin/python -m nexforge.runtime.config.schema"
    )


def test_example_config_validates_against_the_published_schema(framework: Path) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    for name in ("lead", "researcher", "sub/fetcher"):
        data = yaml.safe_load((framework / f"agents/{name}.yaml").read_text())
        assert list(validator.iter_errors(data)) == []
    both = {"name": "x", "system_prompt": "a", "system_prompt_file": "b"}
    assert not validator.is_valid(both)
    assert not validator.is_valid({"name": "x", "system_prompt": "a", "limits": {"max_stepz": 1}})


def test_builtin_tools_with_options(tmp_path: Path) -> None:
    write(tmp_path, "framework.yaml", "name: shop\n")
    database = tmp_path / "data/shop.sqlite"
    database.parent.mkdir()
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE items (name TEXT)")
        conn.execute("INSERT INTO items VALUES ('tea')")
    config = write(
        tmp_path,
        "agents/a.yaml",
        """
        name: a
        system_prompt: hi
        tools:
          - builtin: read_file
            timeout_s: 3
          - builtin: sqlite_query
            options: {database: ../data/shop.sqlite}
        """,
    )
    read_file, sqlite_query = load_agent(config).tools
    assert (read_file.name, read_file.timeout_s) == ("read_file", 3)
    assert sqlite_query.name == "sqlite_query"
    assert sqlite_query.spec.read_only is True
    # The database path was resolved from the config's folder, not from the workspace.
    elsewhere = ToolContext(workspace=tmp_path / "elsewhere")
    assert "tea" in sqlite_query.fn(elsewhere, "SELECT name FROM items")
