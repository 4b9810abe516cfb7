"""The `nexforge` command, run as a real subprocess against the mock HTTP server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexforge.testing import MockOpenAIServer, MockReply
from run_cli import nexforge

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def server() -> Iterator[MockOpenAIServer]:
    def respond(request: dict[str, object]) -> MockReply:
        messages = request["messages"]
        assert isinstance(messages, list)
        if messages[-1]["role"] == "user":
            return MockReply(tool_calls=[{"name": "list_dir", "arguments": {"path": "."}}])
        return MockReply(content="The folder holds app/ and scripts/.")

    mock = MockOpenAIServer(responder=respond, api_key="secret-token")
    mock.start_in_thread()
    yield mock
    mock.stop()


def endpoint(server: MockOpenAIServer) -> dict[str, str]:
    return {
        "NEXFORGE_BASE_URL": server.url,
        "NEXFORGE_MODEL": "mock-model",
        "NEXFORGE_API_KEY": "secret-token",
    }


def test_run_json_prints_one_object_and_writes_the_trace(
    server: MockOpenAIServer, tmp_path: Path
) -> None:
    trace = tmp_path / "trace.json"
    proc = nexforge(
        "run",
        str(EXAMPLES / "codebase_qa" / "reader.yaml"),
        "What is in this folder?",
        "--workspace",
        str(EXAMPLES / "codebase_qa" / "sample_repo"),
        "--json",
        "--trace-out",
        str(trace),
        env=endpoint(server),
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert set(payload) == {"final_output", "stop_reason", "steps", "usage", "trajectory"}
    assert payload["stop_reason"] == "completed" and payload["steps"] == 2
    assert payload["final_output"] == "The folder holds app/ and scripts/."
    assert json.loads(trace.read_text())["run_id"] == payload["trajectory"]["run_id"]
    assert "secret-token" not in trace.read_text()


def test_run_shows_live_progress_on_stderr(server: MockOpenAIServer) -> None:
    proc = nexforge(
        "run",
        str(EXAMPLES / "codebase_qa" / "reader.yaml"),
        "What is here?",
        "--workspace",
        str(EXAMPLES / "codebase_qa" / "sample_repo"),
        env=endpoint(server),
    )
    assert proc.returncode == 0, proc.stderr
    assert "list_dir" in proc.stderr and "completed" in proc.stderr
    assert proc.stdout.strip() == "The folder holds app/ and scripts/."


def test_config_error_is_one_line_on_stderr(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsystem_prompt: hi\nlimitz: {}\n")
    proc = nexforge("run", str(bad), "task")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.yaml:3" in lines[0] and "limitz" in lines[0]


def test_missing_model_says_how_to_configure_one(tmp_path: Path) -> None:
    no_models = {"NEXFORGE_HOME": str(tmp_path)}
    proc = nexforge("run", str(EXAMPLES / "codebase_qa" / "reader.yaml"), "task", env=no_models)
    assert proc.returncode == 1
    assert "NEXFORGE_BASE_URL" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_model_spec_is_rejected() -> None:
    proc = nexforge("run", str(EXAMPLES / "codebase_qa" / "reader.yaml"), "t", "--model", "gpt4")
    assert proc.returncode == 2 and "openai:NAME" in proc.stderr


def test_schema_command_prints_the_published_schema() -> None:
    proc = nexforge("schema")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["properties"]["name"]


def test_chat_keeps_one_conversation_across_turns(server: MockOpenAIServer) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nexforge", "chat", str(EXAMPLES / "codebase_qa" / "reader.yaml")],
        input="What is here?\n\nAnd now?\n/exit\n",
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("NEXFORGE_")},
            **endpoint(server),
        },
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("reader> The folder holds app/ and scripts/.") == 2
    assert len(server.requests) == 4
    second_turn = [m.get("content") for m in server.requests[2]["messages"] if m["role"] == "user"]
    assert second_turn == ["What is here?", "And now?"]


def test_undefined_prompt_variable_is_a_config_error_at_load(tmp_path: Path) -> None:
    bad = tmp_path / "agent.yaml"
    bad.write_text(
        "name: a\nprompt_vars: {team: x}\nsystem_prompt: 'Hi {{ nope }} of {{ team }}'\n"
    )
    proc = nexforge("run", str(bad), "task")
    assert proc.returncode == 2
    assert "agent.yaml:3: system_prompt: undefined template variable 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unwritable_trace_and_missing_workspace_are_one_line_errors(
    server: MockOpenAIServer, tmp_path: Path
) -> None:
    reader = str(EXAMPLES / "codebase_qa" / "reader.yaml")
    missing = nexforge(
        "run", reader, "t", "--workspace", str(tmp_path / "nope"), env=endpoint(server)
    )
    assert missing.returncode == 1 and "is not a directory" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    unwritable = nexforge(
        "run",
        reader,
        "t",
        "--workspace",
        str(EXAMPLES / "codebase_qa" / "sample_repo"),
        "--trace-out",
        str(tmp_path / "no" / "such" / "dir" / "t.json"),
        env=endpoint(server),
    )
    assert unwritable.returncode == 1 and "--trace-out" in unwritable.stderr
    assert "Traceback" not in unwritable.stderr


def test_mock_demo_walks_the_codebase_example(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nexforge.demo", "--mock"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "app/store.py" in proc.stdout and "scripts/report.py" in proc.stdout
    trajectory = json.loads((tmp_path / "out" / "demo-trajectory.json").read_text())
    assert {e["agent"] for e in trajectory["episodes"]} == {"lead", "investigator", "reader"}


@pytest.mark.slow
def test_demo_runs_on_the_embedded_model(tmp_path: Path, tiny_model_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nexforge.demo"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert "trajectory written to" in proc.stderr
    assert (tmp_path / "out" / "demo-trajectory.json").is_file()


def test_a_bad_agent_model_spec_is_refused_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = nexforge("pipeline", "A bike shop desk", "-o", str(out), "--agent-model", "gpt4")
    assert proc.returncode == 2
    assert "--agent-model" in proc.stderr and "expected openai:NAME, local:tiny" in proc.stderr
    assert not out.exists()
