"""``python:`` tool entries name functions of the config root or of packages the user allowed;
everything else (the red team's ``hypothesis`` gadget included) is a one-line ConfigError."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexforge.core.errors import ConfigError
from nexforge.runtime.config import load_agent, load_framework, parse_model_spec
from nexforge.runtime.config.python_refs import ALLOW_PACKAGES_ENV
from nexforge.testing import MockOpenAIServer, MockReply, ScriptedModel, call, say
from run_cli import nexforge

GADGET = "hypothesis.internal.reflection:source_exec_as_module"
INSTALLED = "nexforge.runtime.config.model_spec:parse_model_spec"


@pytest.fixture(autouse=True)
def no_allowed_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_PACKAGES_ENV, raising=False)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def agent_with(ref: str, extra: str = "") -> str:
    return f"name: a\nsystem_prompt: hi\ntools:\n  - python: {ref}\n{extra}"


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_agent(path)
    return info.value


def test_the_code_running_gadget_of_an_installed_package_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path, "a.yaml", agent_with(GADGET))

    err = load_error(config)

    assert (err.file, err.line, err.key) == (str(config), 4, "tools[0].python")
    assert err.message.startswith(
        "'hypothesis.internal.reflection' is not a module under the config root"
    )
    assert "`allow_packages: [hypothesis]`" in err.message
    assert "`nexforge --allow-package hypothesis`" in err.message


@pytest.mark.parametrize(
    "ref",
    [
        "pytest:main",  # runs arbitrary test files
        "nexforge.tools.workspace:give_to_workspace_owner",  # chowns any path as root
        "nexforge.tools.sandbox:run_subprocess",
        "jinja2:Template",
        "yaml:unsafe_load",
    ],
)
def test_no_installed_package_is_allowed_by_default(tmp_path: Path, ref: str) -> None:
    err = load_error(write(tmp_path, "a.yaml", agent_with(ref)))
    assert err.key == "tools[0].python" and "not a module under the config root" in err.message


def test_refusing_does_not_import_the_package(tmp_path: Path) -> None:
    (tmp_path / "site" / "sideeffect").mkdir(parents=True)
    (tmp_path / "site" / "sideeffect" / "__init__.py").write_text(
        f"open({str(tmp_path / 'imported')!r}, 'w').close()\n"
    )
    config = write(tmp_path / "cfg", "a.yaml", agent_with("sideeffect.sub:f"))
    sys.path.insert(0, str(tmp_path / "site"))
    try:
        assert "not a module under the config root" in load_error(config).message
    finally:
        sys.path.remove(str(tmp_path / "site"))
    assert not (tmp_path / "imported").exists()


def test_a_root_module_re_exporting_a_package_function_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "mytools.py", f"from {GADGET.replace(':', ' import ')}\n")
    config = write(tmp_path, "a.yaml", agent_with("mytools:source_exec_as_module"))

    err = load_error(config)

    assert err.key == "tools[0].python"
    assert err.message == (
        "'mytools:source_exec_as_module' is a re-export of "
        "hypothesis.internal.reflection.source_exec_as_module, from a package that is not allowed"
    )


def test_root_modules_and_their_sibling_imports_are_allowed(tmp_path: Path) -> None:
    write(tmp_path, "helpers.py", "def shout(text: str) -> str:\n    return text.upper()\n")
    write(tmp_path, "tools/loud.py", "from helpers import shout\n")
    config = write(tmp_path, "a.yaml", agent_with("tools.loud:shout"))

    (tool,) = load_agent(config).tools

    assert tool.name == "shout" and tool.fn("hi") == "HI"


def test_allow_packages_in_the_agent_file(tmp_path: Path) -> None:
    config = write(
        tmp_path, "a.yaml", agent_with(INSTALLED, "allow_packages: [nexforge.runtime.config]\n")
    )
    (tool,) = load_agent(config).tools
    assert tool.fn is parse_model_spec


def test_an_agent_file_allows_packages_for_itself_only(tmp_path: Path) -> None:
    write(tmp_path, "framework.yaml", "name: fw\nentry_agent: lead.yaml\n")
    write(
        tmp_path,
        "lead.yaml",
        "name: lead\nsystem_prompt: hi\nallow_packages: [nexforge]\n"
        "sub_agents: [{config: helper.yaml}]\n",
    )
    helper = write(tmp_path, "helper.yaml", agent_with(INSTALLED).replace("name: a", "name: h"))

    err = load_error(tmp_path / "lead.yaml")

    assert (err.file, err.key) == (str(helper), "tools[0].python")


def test_allow_packages_in_framework_yaml_covers_every_agent(tmp_path: Path) -> None:
    write(
        tmp_path,
        "framework.yaml",
        "name: fw\nentry_agent: lead.yaml\nallow_packages: [nexforge.runtime]\n",
    )
    write(tmp_path, "lead.yaml", "name: lead\nsystem_prompt: hi\nsub_agents: [{config: h.yaml}]\n")
    write(tmp_path, "h.yaml", agent_with(INSTALLED).replace("name: a", "name: h"))

    framework = load_framework(tmp_path)

    (helper,) = framework.entry.sub_agents
    assert helper.tools[0].fn is parse_model_spec


def test_a_package_prefix_allows_only_that_package(tmp_path: Path) -> None:
    # "nexforge.runtime.config.model" is a prefix of the module's name, not a package of it.
    config = write(
        tmp_path,
        "a.yaml",
        agent_with(INSTALLED, "allow_packages: [nexforge.runtime.config.model]\n"),
    )
    assert "not a module under the config root" in load_error(config).message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[os]", "'os' is part of the Python standard library, which is never allowed"),
        ("[os.path]", "'os.path' is part of the Python standard library"),
        ("['my-pkg']", "expected a package or module name, e.g. mypkg or mypkg.tools"),
    ],
)
def test_allow_packages_names_are_checked(tmp_path: Path, value: str, message: str) -> None:
    config = write(tmp_path, "a.yaml", f"name: a\nsystem_prompt: hi\nallow_packages: {value}\n")
    err = load_error(config)
    assert (err.line, err.key) == (3, "allow_packages[0]")
    assert message in err.message


def test_the_environment_variable_allows_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, "a.yaml", agent_with(INSTALLED))
    monkeypatch.setenv(ALLOW_PACKAGES_ENV, "somepkg, nexforge.runtime.config.model_spec")
    assert load_agent(config).tools[0].fn is parse_model_spec

    monkeypatch.setenv(ALLOW_PACKAGES_ENV, "json")
    assert load_error(config).message == (
        f"{ALLOW_PACKAGES_ENV}: 'json' is part of the Python standard library, "
        "which is never allowed"
    )


def test_an_allowed_package_tool_runs(tmp_path: Path) -> None:
    config = write(
        tmp_path, "a.yaml", agent_with(INSTALLED, "allow_packages: [nexforge.runtime.config]\n")
    )
    model = ScriptedModel([call("parse_model_spec", spec="openai:gpt-x"), say("parsed")])

    result = load_agent(config).run("parse it", model=model)

    tool_message = result.trajectory.episodes[0].messages[-2]
    assert tool_message.role == "tool" and "gpt-x" in (tool_message.content or "")


# --- the attack through the real command ------------------------------------------------


@pytest.fixture
def gadget_caller() -> Iterator[MockOpenAIServer]:
    """A model that calls the first offered tool with code, then answers."""

    def respond(request: dict[str, object]) -> MockReply:
        messages = request["messages"]
        tools = request.get("tools") or []
        assert isinstance(messages, list) and isinstance(tools, list)
        if messages[-1]["role"] == "user":
            name = tools[0]["function"]["name"]
            params = tools[0]["function"]["parameters"]["properties"]
            argument = next(iter(params))
            return MockReply(tool_calls=[{"name": name, "arguments": {argument: ATTACK_CODE}}])
        return MockReply(content="done")

    mock = MockOpenAIServer(responder=respond, api_key="k")
    mock.start_in_thread()
    yield mock
    mock.stop()


ATTACK_CODE = "import os\nos.system('id > ' + os.environ['PWNED_AT'])"


def test_the_command_refuses_the_gadget_before_any_model_call(
    gadget_caller: MockOpenAIServer, tmp_path: Path
) -> None:
    config = write(tmp_path, "a.yaml", agent_with(GADGET))
    marker = tmp_path / "pwned"
    env = {
        "NEXFORGE_BASE_URL": gadget_caller.url,
        "NEXFORGE_MODEL": "m",
        "NEXFORGE_API_KEY": "k",
        "PWNED_AT": str(marker),
    }

    proc = nexforge("run", str(config), "go", env=env)

    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {config}:4: tools[0].python: 'hypothesis.internal.reflection'")
    assert not marker.exists() and gadget_caller.requests == []


def test_allow_package_on_the_command_line(gadget_caller: MockOpenAIServer, tmp_path: Path) -> None:
    config = write(tmp_path, "a.yaml", agent_with(INSTALLED))
    env = {"NEXFORGE_BASE_URL": gadget_caller.url, "NEXFORGE_MODEL": "m", "NEXFORGE_API_KEY": "k"}

    refused = nexforge("run", str(config), "go", env=env)
    allowed = nexforge(
        "--allow-package", "nexforge.runtime.config", "run", str(config), "go", "--json", env=env
    )
    stdlib = nexforge("--allow-package", "subprocess", "run", str(config), "go", env=env)

    assert refused.returncode == 2 and "tools[0].python" in refused.stderr
    assert allowed.returncode == 0, allowed.stderr
    tool_result = json.loads(allowed.stdout)["trajectory"]["episodes"][0]["messages"][3]
    assert tool_result["name"] == "parse_model_spec"
    assert tool_result["content"].startswith("ValueError: invalid model spec")
    assert stdlib.returncode == 2
    assert stdlib.stderr.strip() == (
        "error: --allow-package: 'subprocess' is part of the Python standard library, "
        "which is never allowed"
    )
