"""Hostile config files (too large, too deep, sandbox-escaping templates, infinite numbers) are
each one ConfigError with file, line and key, and a one-line exit 2 from the command."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nexforge.core.errors import ConfigError
from nexforge.runtime.config import load_agent
from nexforge.runtime.config.yaml_lines import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES
from nexforge.testing import ScriptedModel
from run_cli import nexforge

DEEP = "[" * 500 + "]" * 500


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_agent(path)
    return info.value


def where(err: ConfigError) -> tuple[str | None, int | None, str | None]:
    return err.file, err.line, err.key


# --- size and nesting -------------------------------------------------------------------


def test_deep_flow_nesting_is_refused_at_its_line(tmp_path: Path) -> None:
    config = write(tmp_path, "a.yaml", f"name: a\nsystem_prompt: hi\nprompt_vars: {{x: {DEEP}}}\n")
    err = load_error(config)
    assert where(err) == (str(config), 3, None)
    assert err.message == f"nested more than {MAX_DEPTH} levels deep"


def test_deep_block_nesting_in_a_spec_file(tmp_path: Path) -> None:
    nested = "".join(f"{'  ' * i}k:\n" for i in range(MAX_DEPTH + 5)) + "  " * 105 + "v\n"
    spec = write(tmp_path, "spec.yaml", nested)
    write(tmp_path, "mytools.py", "def f(x: str) -> str:\n    return x\n")
    config = write(
        tmp_path,
        "a.yaml",
        "name: a\nsystem_prompt: hi\ntools: [{python: 'mytools:f', spec: spec.yaml}]\n",
    )
    err = load_error(config)
    assert err.file == str(spec) and "nested more than" in err.message


def test_nesting_within_the_bound_loads(tmp_path: Path) -> None:
    depth = MAX_DEPTH - 5
    config = write(
        tmp_path,
        "a.yaml",
        f"name: a\nsystem_prompt: hi\nprompt_vars: {{x: {'[' * depth}1{']' * depth}}}\n",
    )
    value = load_agent(config).prompt_vars["x"]
    for _ in range(depth):
        (value,) = value
    assert value == 1


def test_a_file_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    config = tmp_path / "big.yaml"
    with config.open("w") as out:
        out.write("name: a\nsystem_prompt: hi\nprompt_vars:\n")
        for i in range(MAX_FILE_BYTES // 40):
            out.write(f"  k{i}: {'x' * 40}\n")

    err = load_error(config)

    assert where(err) == (str(config), None, None)
    assert err.message == "file too large: a config file may hold at most 1024 KiB"


def test_a_prompt_file_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    prompt = tmp_path / "p.md"
    prompt.write_text("x" * (MAX_FILE_BYTES + 1))
    config = write(tmp_path, "a.yaml", "name: a\nsystem_prompt_file: p.md\n")
    err = load_error(config)
    assert err.file == str(prompt) and err.message.startswith("file too large")


def test_too_many_values_stop_composition_at_the_bound(tmp_path: Path) -> None:
    values = ",".join("1" for _ in range(MAX_NODES + 10))
    config = write(
        tmp_path, "a.yaml", f"name: a\nsystem_prompt: hi\nprompt_vars: {{x: [{values}]}}\n"
    )
    err = load_error(config)
    assert err.line == 3 and err.message == f"document too large (more than {MAX_NODES} values)"


# --- templates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "name"),
    [
        ("''.__class__", "__class__"),
        ("tools.__len__", "__len__"),
        ("agent['__class__']", "__class__"),
        ("agent | attr('__class__')", "__class__"),
        ("cycler.__init__.__globals__", "__globals__"),
        ("x.gi_frame", "gi_frame"),
    ],
)
def test_sandbox_escaping_templates_are_refused_at_load(
    tmp_path: Path, expression: str, name: str
) -> None:
    config = write(
        tmp_path,
        "a.yaml",
        f"name: a\nprompt_vars: {{x: 1}}\nsystem_prompt: |\n  Hello\n  {{{{ {expression} }}}}\n",
    )
    err = load_error(config)
    assert where(err) == (str(config), 5, "system_prompt")
    assert err.message == (
        f"template reads {name!r}: the sandbox refuses underscore and internal attributes"
    )


def test_a_template_refused_only_when_rendered_names_the_file_and_line(tmp_path: Path) -> None:
    config = write(
        tmp_path, "a.yaml", "name: a\nsystem_prompt: |\n  Hello\n  {{ ''['__cl' ~ 'ass__'] }}\n"
    )
    agent = load_agent(config)

    with pytest.raises(ConfigError) as info:
        agent.run("hi", model=ScriptedModel([]))

    err = info.value
    assert where(err) == (str(config), None, "system_prompt")
    assert err.message == (
        "cannot render the system prompt (line 2 of the template): "
        "access to attribute '__class__' of 'str' object is unsafe."
    )


# --- numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "line", "key", "message"),
    [
        ("limits: {timeout_s: 1e400}", 3, "limits.timeout_s", "Input should be a finite number"),
        ("limits: {timeout_s: .inf}", 3, "limits.timeout_s", "expected a finite number"),
        ("limits: {timeout_s: .nan}", 3, "limits.timeout_s", "expected a finite number"),
        ("limits: {timeout_s: 'inf'}", 3, "limits.timeout_s", "Input should be a finite number"),
        ("limits: {timeout_s: 1.0e+300}", 3, "limits.timeout_s", "expected a finite number of"),
        ("limits: {timeout_s: 1e300}", 3, "limits.timeout_s", "less than or equal to 2592000"),
        ("limits: {max_steps: 100000000000000000000}", 3, "limits.max_steps", "at most 1e+15"),
        ("model: {timeout_s: 1e400}", 3, "model.timeout_s", "finite number"),
        ("model: {temperature: 'nan'}", 3, "model.temperature", "finite number"),
        ("tools: [{builtin: read_file, timeout_s: 1e400}]", 3, "tools[0].timeout_s", "finite"),
        (
            "tools: [{builtin: sqlite_query, options: {database: x.db, timeout_s: 1e300}}]",
            3,
            "tools[0].builtin",
            "less than or equal to 2592000",
        ),
        (
            "mcp_servers: {t: {command: x, timeout_s: 1e400}}",
            3,
            "mcp_servers.t.timeout_s",
            "finite number",
        ),
    ],
)
def test_numbers_must_be_finite_and_bounded(
    tmp_path: Path, block: str, line: int, key: str, message: str
) -> None:
    config = write(tmp_path, "a.yaml", f"name: a\nsystem_prompt: hi\n{block}\n")
    err = load_error(config)
    assert where(err) == (str(config), line, key)
    assert message in err.message


def test_the_environment_clock_step_is_bounded(tmp_path: Path) -> None:
    write(tmp_path, "shop.py", "")
    config = write(
        tmp_path,
        "a.yaml",
        "name: a\nsystem_prompt: hi\nenvironment:\n  tools: shop.py\n  clock: {step_s: 1e12}\n",
    )
    err = load_error(config)
    assert where(err) == (str(config), 5, "environment.clock.step_s")


# --- through the command ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"name: a\nsystem_prompt: hi\nprompt_vars: {{x: {DEEP}}}\n", "a.yaml:3: nested more"),
        ("name: a\nsystem_prompt: |\n  {{ ''.__class__ }}\n", "a.yaml:3: system_prompt: template"),
        ("name: a\nsystem_prompt: hi\nlimits: {timeout_s: 1e400}\n", "a.yaml:3: limits.timeout_s"),
        ("name: a\nsystem_prompt: hi\n#" + "x" * MAX_FILE_BYTES + "\n", "a.yaml: file too large"),
        (
            "name: a\nsystem_prompt: |\n  {{ ''['__cl' ~ 'ass__'] }}\n",
            "a.yaml: system_prompt: cannot render the system prompt (line 1 of the template)",
        ),
    ],
)
def test_the_command_exits_2_with_one_line(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "a.yaml"
    config.write_text(text, encoding="utf-8")
    env = {"NEXFORGE_BASE_URL": "http://127.0.0.1:9/v1", "NEXFORGE_MODEL": "m"}

    proc = nexforge("run", str(config), "task", env=env, timeout=120)

    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and expected in line
