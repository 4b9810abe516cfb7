"""``nexforge eval tau2``: flags, output, and a whole run over HTTP against a scripted
OpenAI-compatible server (agent and user both reach it through ``--model openai:...``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from tau2_gold import gold_agent, gold_user
from typer.testing import CliRunner

from nexforge.cli.eval_tau2_cmd import tau2
from nexforge.core.messages import Message, ToolCall
from nexforge.evaluation.tau2 import RESULTS_EXPORT, load_domain, select_tasks
from nexforge.models.base import ModelRequest
from nexforge.testing import MockOpenAIServer, MockReply

app = typer.Typer()
app.command()(tau2)
MODEL_ARGS = ("--domain", "retail", "--model", "openai:mock-model")


def _request(body: dict[str, Any]) -> ModelRequest:
    """The chat body the server received, back as the runtime's messages."""
    messages = [
        Message(
            role=m["role"],
            content=m.get("content"),
            tool_call_id=m.get("tool_call_id"),
            tool_calls=[
                ToolCall(
                    id=c["id"],
                    name=c["function"]["name"],
                    arguments=json.loads(c["function"]["arguments"]),
                )
                for c in m.get("tool_calls") or []
            ],
        )
        for m in body["messages"]
    ]
    return ModelRequest(messages=messages)


@pytest.fixture
def gold_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockOpenAIServer]:
    tasks = select_tasks(load_domain("retail"), "base", task_ids=["0", "5"])
    agent, user = gold_agent(tasks), gold_user(tasks)

    def respond(body: dict[str, Any]) -> MockReply:
        request = _request(body)
        is_user = "<scenario>" in (request.messages[0].content or "")
        reply = (user if is_user else agent)(request)
        calls = [{"name": c.name, "arguments": c.arguments} for c in reply.tool_calls]
        return MockReply(content=reply.content, tool_calls=calls)

    with MockOpenAIServer(responder=respond) as server:
        monkeypatch.setenv("NEXFORGE_BASE_URL", server.url)
        yield server


def test_a_run_over_http_prints_one_json_object_and_writes_tau2_results(
    gold_server: MockOpenAIServer, tmp_path: Path
) -> None:
    out = tmp_path / "eval"

    result = CliRunner().invoke(
        app,
        [*MODEL_ARGS, "--task-ids", "0,5", "--trials", "2", "--out", str(out), "--json"],
    )

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["domain"] == "retail" and summary["tasks"] == 2 and summary["trials"] == 2
    assert summary["avg_reward"] == 1.0
    assert summary["pass_hat_k"] == {"1": 1.0, "2": 1.0}
    assert summary["user_model"] == "mock-model"
    assert (out / "results.jsonl").is_file() and (out / "scores.json").is_file()
    saved = json.loads((out / RESULTS_EXPORT).read_text())
    assert len(saved["simulations"]) == 4
    assert {s["reward_info"]["reward"] for s in saved["simulations"]} == {1.0}
    # The user simulator and the agent both went through the endpoint.
    systems = [r["messages"][0]["content"] for r in gold_server.requests]
    assert any("<scenario>" in s for s in systems) and any("<policy>" in s for s in systems)


def test_the_table_reports_reward_and_pass_hat_k(
    gold_server: MockOpenAIServer, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app,
        [*MODEL_ARGS, "--task-ids", "0", "--out", str(tmp_path), "--quiet"],
    )

    assert result.exit_code == 0, result.output
    assert "average reward" in result.stdout and "1.000" in result.stdout
    assert "pass^1" in result.stdout and "100.0%" in result.stdout
    assert "runs ended by: user_stop 1" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--domain", "banking"], "--domain: expected one of retail, airline, telecom"),
        (["--domain", "retail", "--split", "dev"], "--split: retail has no split 'dev'"),
        (["--domain", "airline", "--task-ids", "0,nope"], "--task-ids: not in airline/base: nope"),
        (["--domain", "retail", "--model", "gpt4"], "--model: invalid model spec 'gpt4'"),
    ],
)
def test_bad_flags_fail_with_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path)])

    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "results.jsonl").exists()
