"""Model-written custom tools: proposed, tested and run only in the sandbox."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from envgen_fixtures import PYTEST, Run, bike_seed, bike_shop, generate, pytest_in_sandbox

from nexforge.architect import customtools
from nexforge.architect.spec import CustomTool
from nexforge.runtime.config.framework import load_framework

PREFIX_CODE = """\
def compute(rows, **arguments):
    prefix = arguments["prefix"].lower()
    return sorted(r["name"] for r in rows if r["name"].lower().startswith(prefix))
"""


def answer(**changes: Any) -> dict[str, Any]:
    """What the model fills in (``custom_tool_schema``)."""
    raw: dict[str, Any] = {
        "name": "names_starting_with",
        "description": "Customer names that start with the given text, sorted.",
        "entity": "customers",
        "parameters": [{"name": "prefix", "type": "string", "description": "The first letters."}],
        "code": PREFIX_CODE,
        "tests": [
            {"arguments": {"prefix": "a"}, "expected": ["Ada Lovelace", "Alan Turing"]},
            {"arguments": {"prefix": "z"}, "expected": []},
        ],
    }
    return raw | changes


def tool(**changes: Any) -> CustomTool:
    found, problems = customtools.normalize_custom_tool(bike_shop(), answer(**changes))
    assert found is not None, problems
    return found


def test_the_answer_schema_validates_a_good_answer_and_uses_llguidance_keywords() -> None:
    schema = customtools.custom_tool_schema(bike_shop())
    jsonschema.validate(answer(), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(answer(entity="suppliers"), schema)
    assert schema["properties"]["entity"]["enum"] == ["customers", "orders", "repairs"]


def test_a_good_answer_becomes_a_custom_tool_with_a_json_schema() -> None:
    assert tool().parameters == {
        "type": "object",
        "properties": {"prefix": {"type": "string", "description": "The first letters."}},
        "required": ["prefix"],
        "additionalProperties": False,
    }


def test_answers_that_cannot_work_are_sent_back_with_reasons() -> None:
    domain = bike_shop()
    cases = {
        "code: syntax error on line 1: invalid syntax": answer(code="def compute(:\n"),
        "code: define a top-level function compute(rows, **arguments)": answer(code="x = 1\n"),
        "parameters: 'state' is a reserved name": answer(
            parameters=[{"name": "state", "type": "string", "description": ""}],
            tests=[{"arguments": {"state": "a"}, "expected": []}],
        ),
        "tests[0].arguments: 3 is not of type 'string'": answer(
            tests=[{"arguments": {"prefix": 3}, "expected": []}]
        ),
    }
    for problem, raw in cases.items():
        assert customtools.normalize_custom_tool(domain, raw) == (None, [problem])
    taken = customtools.normalize_custom_tool(domain, answer(), taken={"names_starting_with"})
    assert taken == (None, ["name: 'names_starting_with' is taken by another tool"])


async def test_its_tests_run_in_the_sandbox_over_the_seed_rows() -> None:
    domain, seed = bike_shop(), bike_seed()
    assert await customtools.test_custom_tool(domain, seed, tool()) == (
        True,
        "names_starting_with: 2 tests passed",
    )
    wrong = tool(tests=[{"arguments": {"prefix": "g"}, "expected": ["Ada"]}])
    assert await customtools.test_custom_tool(domain, seed, wrong) == (
        False,
        'names_starting_with tests[0]: returned ["Grace Hopper"], expected ["Ada"]',
    )
    raising = tool(code="def compute(rows, **arguments):\n    return 1 / 0\n")
    assert await customtools.test_custom_tool(domain, seed, raising) == (
        False,
        "names_starting_with tests[0]: compute raised ZeroDivisionError: division by zero",
    )


async def test_compute_runs_in_another_process_with_a_time_limit() -> None:
    code = "import os\n\ndef compute(rows, **arguments):\n    return [os.getpid(), os.getuid()]\n"
    ((outcome),) = await customtools.compute_calls(code, [], [{}])
    pid, uid = outcome["result"]
    assert pid != os.getpid()
    if os.geteuid() == 0:
        assert uid != 0  # the sandbox dropped root
    forever = "def compute(rows, **arguments):\n    while True:\n        pass\n"
    with pytest.raises(RuntimeError, match="compute timed out after 1s"):
        await customtools.compute_calls(forever, [], [{}], timeout_s=1)
    with pytest.raises(RuntimeError, match=r"compute failed: .*NameError"):
        await customtools.compute_calls("undefined_name\n", [], [{}])


def test_writing_and_loading_the_environment_never_runs_the_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').close()\n\n{PREFIX_CODE}"
    root = generate(tmp_path / "fw", custom=[tool(code=code)])
    assert (root / "tools" / "custom_names_starting_with.py").read_text().endswith(code)
    assert load_framework(root).environment is not None
    assert not marker.exists()


@pytest.fixture
def framework(tmp_path: Path) -> Path:
    return generate(tmp_path / "fw", custom=[tool()])


async def test_the_generated_tool_runs_compute_over_the_current_rows(framework: Path) -> None:
    env = load_framework(framework).environment
    assert env is not None
    spec = env.tool("names_starting_with").spec
    assert spec.read_only and list(spec.parameters["properties"]) == ["prefix"]
    run = Run(env)
    try:
        assert await run.ok("names_starting_with", prefix="g") == ["Grace Hopper"]
        await run.ok("create_customer", name="Gina", email="g@example.com", vip=False)
        assert await run.ok("names_starting_with", prefix="g") == ["Gina", "Grace Hopper"]
    finally:
        await run.resources.aclose()
    # Called directly on a running loop, the sync bridge runs it on a loop of its own.
    code = framework / "tools" / "custom_names_starting_with.py"
    rows = [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Bo"}]
    assert customtools.run_compute(code, rows, {"prefix": "b"}) == ["Bo"]


def test_the_generated_tests_cover_the_custom_tool(framework: Path) -> None:
    result = subprocess.run(PYTEST, cwd=framework, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "27 passed" in result.stdout
    source = (framework / "tools" / "test_bike_shop_tools.py").read_text()
    assert "def test_names_starting_with_returns_what_its_examples_expect()" in source


async def test_the_generated_tests_pass_in_the_sandbox_too(framework: Path) -> None:
    result = await pytest_in_sandbox(framework)  # compute then runs in a nested sandbox
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "27 passed" in result.stdout
