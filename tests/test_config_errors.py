"""Every bad agent config is one ConfigError naming the file, the line and the key."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from nexforge.core.errors import ConfigError
from nexforge.runtime.config import load_agent


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def load_error(path: Path, **kwargs: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_agent(path, **kwargs)
    return info.value


def where(err: ConfigError) -> tuple[str | None, int | None, str | None]:
    return err.file, err.line, err.key


def test_unknown_top_level_key(tmp_path: Path) -> None:
    config = write(tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\nsytem: x\n")
    err = load_error(config)
    assert where(err) == (str(config), 3, "sytem")
    assert "unknown key (expected one of: name, description, model" in err.message


def test_unknown_nested_key(tmp_path: Path) -> None:
    config = write(
        tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\nlimits:\n  max_steps: 3\n  max_stepz: 4\n"
    )
    err = load_error(config)
    assert where(err) == (str(config), 5, "limits.max_stepz")
    assert "expected one of: max_steps, max_depth, max_parallel_tools" in err.message
    assert str(err).startswith(f"{config}:5: limits.max_stepz: unknown key")


def test_unknown_key_in_a_tool_entry(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "a.yaml",
        """
        name: a
        system_prompt: hi
        tools:
          - python: nexforge.runtime.config:parse_model_spec
          - builtin: sqlite_query
            optionz: {database: x.sqlite}
        """,
    )
    err = load_error(config)
    assert where(err) == (str(config), 6, "tools[1].optionz")
    assert "expected one of: builtin, options, timeout_s" in err.message


def test_tool_entry_without_a_kind(tmp_path: Path) -> None:
    config = write(tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\ntools:\n  - pyton: m:f\n")
    assert where(load_error(config)) == (str(config), 4, "tools[0]")


def test_wrong_type(tmp_path: Path) -> None:
    config = write(tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\nlimits:\n  max_steps: many\n")
    err = load_error(config)
    assert where(err) == (str(config), 4, "limits.max_steps")
    assert "valid integer" in err.message and "'many'" in err.message


def test_wrong_model_type(tmp_path: Path) -> None:
    config = write(tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\nmodel: [x]\n")
    err = load_error(config)
    assert where(err) == (str(config), 3, "model")
    assert "mapping of model settings or a SPEC string" in err.message


def test_bad_model_spec(tmp_path: Path) -> None:
    config = write(tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\nmodel: gpt-4o\n")
    err = load_error(config)
    assert where(err) == (str(config), 3, "model")
    assert "expected openai:NAME" in err.message


def test_missing_name(tmp_path: Path) -> None:
    config = write(tmp_path, "a.yaml", "description: nameless\nsystem_prompt: hi\n")
    err = load_error(config)
    assert where(err) == (str(config), 1, "name")
    assert err.message == "required key is missing"


def test_bad_name(tmp_path: Path) -> None:
    config = write(tmp_path, "a.yaml", "system_prompt: hi\nname: 2nd agent\n")
    assert where(load_error(config)) == (str(config), 2, "name")


def test_both_system_prompt_forms(tmp_path: Path) -> None:
    write(tmp_path, "p.md", "hi")
    config = write(tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\nsystem_prompt_file: p.md\n")
    err = load_error(config)
    assert where(err) == (str(config), 3, "system_prompt_file")
    assert "not both" in err.message


def test_neither_system_prompt_form(tmp_path: Path) -> None:
    config = write(tmp_path, "a.yaml", "name: a\n")
    assert where(load_error(config)) == (str(config), 1, "system_prompt")


def test_missing_system_prompt_file(tmp_path: Path) -> None:
    config = write(tmp_path, "a.yaml", "name: a\nsystem_prompt_file: prompts/none.md\n")
    err = load_error(config)
    assert where(err) == (str(config), 2, "system_prompt_file")
    assert "file not found: prompts/none.md" in err.message


def test_missing_sub_agent_config(tmp_path: Path) -> None:
    config = write(
        tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\nsub_agents:\n  - config: b.yaml\n"
    )
    assert where(load_error(config)) == (str(config), 4, "sub_agents[0].config")


def test_missing_spec_file(tmp_path: Path) -> None:
    write(tmp_path, "mytools.py", "def f(x: int) -> int:\n    return x\n")
    config = write(
        tmp_path,
        "a.yaml",
        "name: a\nsystem_prompt: hi\ntools:\n  - python: mytools:f\n    spec: f.yaml\n",
    )
    assert where(load_error(config)) == (str(config), 5, "tools[0].spec")


def test_bad_spec_file_names_the_spec_file(tmp_path: Path) -> None:
    write(tmp_path, "mytools.py", "def f(x: int) -> int:\n    return x\n")
    spec = write(tmp_path, "f.yaml", "parameters:\n  type: object\n  properties: {x: {type: 5}}\n")
    config = write(
        tmp_path,
        "a.yaml",
        "name: a\nsystem_prompt: hi\ntools:\n  - python: mytools:f\n    spec: f.yaml\n",
    )
    err = load_error(config)
    assert (err.file, err.line) == (str(spec), 3)
    assert err.key is not None and err.key.startswith("parameters.properties")


def test_path_escape_with_dot_dot(tmp_path: Path) -> None:
    write(tmp_path, "outside.md", "secret")
    config = write(tmp_path, "agents/a.yaml", "name: a\nsystem_prompt_file: ../outside.md\n")
    err = load_error(config)
    assert where(err) == (str(config.resolve()), 2, "system_prompt_file")
    assert "outside the config root" in err.message


def test_path_escape_with_a_symlink(tmp_path: Path) -> None:
    write(tmp_path, "outside/secret.md", "secret")
    write(tmp_path, "root/framework.yaml", "name: demo\n")
    (tmp_path / "root/prompts").symlink_to(tmp_path / "outside", target_is_directory=True)
    config = write(tmp_path, "root/a.yaml", "name: a\nsystem_prompt_file: prompts/secret.md\n")
    err = load_error(config)
    assert where(err) == (str(config), 2, "system_prompt_file")
    assert "outside the config root" in err.message


def test_builtin_path_option_may_not_escape(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "agents/a.yaml",
        """
        name: a
        system_prompt: hi
        tools:
          - builtin: sqlite_query
            options: {database: ../../shop.sqlite}
        """,
    )
    assert where(load_error(config)) == (str(config), 5, "tools[0].options.database")


def test_self_referencing_sub_agent(tmp_path: Path) -> None:
    config = write(
        tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\nsub_agents: [{config: a.yaml}]\n"
    )
    err = load_error(config)
    assert where(err) == (str(config), 3, "sub_agents[0].config")
    assert err.message == "sub-agent cycle: a.yaml -> a.yaml"


def test_two_cycle(tmp_path: Path) -> None:
    lead = write(
        tmp_path,
        "lead.yaml",
        "name: lead\nsystem_prompt: hi\nsub_agents:\n  - config: researcher.yaml\n",
    )
    researcher = write(
        tmp_path,
        "researcher.yaml",
        "name: r\nsystem_prompt: hi\nsub_agents:\n  - config: lead.yaml\n",
    )
    err = load_error(lead)
    assert where(err) == (str(researcher), 4, "sub_agents[0].config")
    assert err.message == "sub-agent cycle: lead.yaml -> researcher.yaml -> lead.yaml"


def test_three_cycle(tmp_path: Path) -> None:
    write(tmp_path, "framework.yaml", "name: demo\n")
    write(tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\nsub_agents: [{config: sub/b.yaml}]\n")
    write(tmp_path, "sub/b.yaml", "name: b\nsystem_prompt: hi\nsub_agents: [{config: ../c.yaml}]\n")
    c = write(tmp_path, "c.yaml", "name: c\nsystem_prompt: hi\nsub_agents: [{config: a.yaml}]\n")
    err = load_error(tmp_path / "a.yaml")
    assert where(err) == (str(c), 3, "sub_agents[0].config")
    assert err.message == f"sub-agent cycle: a.yaml -> {Path('sub/b.yaml')} -> c.yaml -> a.yaml"


@pytest.mark.parametrize(
    "ref", ["os:system", "subprocess:run", "builtins:eval", "json:loads", "os.path:join"]
)
def test_standard_library_refs_are_refused(tmp_path: Path, ref: str) -> None:
    config = write(tmp_path, "a.yaml", f"name: a\nsystem_prompt: hi\ntools:\n  - python: {ref}\n")
    err = load_error(config)
    assert where(err) == (str(config), 4, "tools[0].python")
    assert "standard library" in err.message


def test_root_module_shadowing_the_standard_library_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "json.py", "def loads(s: str) -> str:\n    return s\n")
    config = write(
        tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\ntools:\n  - python: json:loads\n"
    )
    assert "standard library" in load_error(config).message


def test_re_exported_standard_library_function_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "mytools.py", "from os import system\n")
    config = write(
        tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\ntools:\n  - python: mytools:system\n"
    )
    err = load_error(config)
    assert where(err) == (str(config), 4, "tools[0].python")
    assert "re-export of standard library" in err.message


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("no_such_module_xyz:f", "not found under the config root"),
        ("mytools:missing", "has no attribute 'missing'"),
        ("mytools:Thing", "is a type, expected a function"),
        ("mytools:VALUE", "is a int, expected a function"),
        ("broken:f", "importing 'broken' failed: ZeroDivisionError"),
    ],
)
def test_unusable_python_refs(tmp_path: Path, ref: str, message: str) -> None:
    write(tmp_path, "mytools.py", "VALUE = 3\n\nclass Thing:\n    pass\n")
    write(tmp_path, "broken.py", "1 / 0\n")
    config = write(tmp_path, "a.yaml", f"name: a\nsystem_prompt: hi\ntools:\n  - python: {ref}\n")
    err = load_error(config)
    assert where(err) == (str(config), 4, "tools[0].python")
    assert message in err.message


def test_malformed_python_ref(tmp_path: Path) -> None:
    config = write(
        tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\ntools:\n  - python: mytools.f\n"
    )
    err = load_error(config)
    assert where(err) == (str(config), 4, "tools[0].python")
    assert "expected module:function" in err.message


def test_unknown_builtin(tmp_path: Path) -> None:
    config = write(
        tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\ntools:\n  - builtin: teleport\n"
    )
    assert where(load_error(config)) == (str(config), 4, "tools[0].builtin")


def test_bad_tool_call_format(tmp_path: Path) -> None:
    config = write(
        tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\ntool_call_format: smoke-signals\n"
    )
    err = load_error(config)
    assert where(err) == (str(config), 3, "tool_call_format")
    assert "expected one of: structured, xml, hermes" in err.message


def test_unset_env_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NF_MISSING_URL", raising=False)
    config = write(
        tmp_path,
        "a.yaml",
        "name: a\nsystem_prompt: hi\nmodel:\n  provider: openai\n  base_url: ${env.NF_MISSING_URL}\n",
    )
    err = load_error(config)
    assert where(err) == (str(config), 5, "model.base_url")
    assert "NF_MISSING_URL is not set" in err.message


def test_env_reference_in_a_key_is_not_substituted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NF_KEY", "description")
    config = write(tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\n${env.NF_KEY}: x\n")
    err = load_error(config)
    assert where(err) == (str(config), 3, "${env.NF_KEY}")
    assert "unknown key" in err.message


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    config = write(
        tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\nlimits:\n  max_steps: 3\n  max_steps: 4\n"
    )
    err = load_error(config)
    assert where(err) == (str(config), 5, "limits.max_steps")
    assert "duplicate key (first defined on line 4)" in err.message


def test_yaml_syntax_error(tmp_path: Path) -> None:
    config = write(tmp_path, "a.yaml", "name: a\nsystem_prompt: hi\ntools: [\n  {builtin: x\n")
    err = load_error(config)
    assert err.file == str(config) and err.line is not None and err.line >= 4
    assert err.message.startswith("YAML syntax error")


def test_jinja_syntax_error_in_inline_prompt(tmp_path: Path) -> None:
    config = write(
        tmp_path, "a.yaml", "name: a\nsystem_prompt: |\n  Hello\n  {% if x %}\n  unclosed\n"
    )
    err = load_error(config)
    assert where(err) == (str(config), 4, "system_prompt")
    assert err.message.startswith("Jinja syntax error")


def test_jinja_syntax_error_in_prompt_file(tmp_path: Path) -> None:
    prompt = write(tmp_path, "p.md", "line one\n{{ unclosed\n")
    config = write(tmp_path, "a.yaml", "name: a\nsystem_prompt_file: p.md\n")
    err = load_error(config)
    assert where(err) == (str(prompt), 2, None)


def test_sub_agent_name_clashes_with_a_tool(tmp_path: Path) -> None:
    write(tmp_path, "mytools.py", 'def search(q: str) -> str:\n    """Search."""\n    return q\n')
    write(tmp_path, "b.yaml", "name: search\nsystem_prompt: hi\n")
    config = write(
        tmp_path,
        "a.yaml",
        "name: a\nsystem_prompt: hi\ntools:\n  - python: mytools:search\nsub_agents:\n  - config: b.yaml\n",
    )
    err = load_error(config)
    assert where(err) == (str(config), 6, "sub_agents[0].config")
    assert "clashes with a tool name" in err.message


def test_two_files_may_not_share_an_agent_name(tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", "name: worker\nsystem_prompt: hi\n")
    c = write(tmp_path, "c.yaml", "name: worker\nsystem_prompt: hi\n")
    config = write(
        tmp_path,
        "a.yaml",
        "name: a\nsystem_prompt: hi\nsub_agents: [{config: b.yaml}, {config: c.yaml}]\n",
    )
    err = load_error(config)
    assert where(err) == (str(c), 1, "name")
    assert "already used by b.yaml" in err.message


def test_empty_file_and_non_mapping(tmp_path: Path) -> None:
    empty = write(tmp_path, "empty.yaml", "")
    listed = write(tmp_path, "list.yaml", "- name: a\n")
    assert where(load_error(empty)) == (str(empty), 1, None)
    assert where(load_error(listed)) == (str(listed), 1, None)


def test_missing_top_level_config(tmp_path: Path) -> None:
    err = load_error(tmp_path / "nope.yaml")
    assert err.file == str(tmp_path / "nope.yaml") and "not found" in err.message


def test_error_file_is_the_resolved_path(tmp_path: Path) -> None:
    config = write(tmp_path, "a.yaml", "name: a\nbogus: 1\nsystem_prompt: hi\n")
    relative = Path(os.path.relpath(config, Path.cwd()))
    assert load_error(relative).file == str(config.resolve())


def test_jinja_error_line_counts_from_the_block_start(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "a.yaml",
        "name: a\nsystem_prompt: |\n  Hello\n  fine {{ x }}\n  broken {{ x | }}\n  more\n",
    )
    assert where(load_error(config)) == (str(config), 5, "system_prompt")
