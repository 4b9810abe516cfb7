"""`nexforge queries` as a user runs it: over HTTP, resumable, then rolled out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from query_model import STAGES
from shop_script import shop_http_responder

from nexforge.serving.wire import parse_chat_request, to_model_request
from nexforge.testing import MockOpenAIServer, MockReply
from run_cli import nexforge


def respond(body: dict[str, Any]) -> MockReply:
    """Query stages answered like query_model's; anything else is the shop's agents."""
    tools = [t["function"]["name"] for t in body.get("tools", [])]
    if len(tools) == 1 and tools[0] in STAGES:
        request = to_model_request(parse_chat_request(body), timeout_s=None)
        return MockReply(tool_calls=[{"name": tools[0], "arguments": STAGES[tools[0]](request)}])
    return shop_http_responder(body)


@pytest.fixture
def server() -> Iterator[MockOpenAIServer]:
    with MockOpenAIServer(responder=respond, api_key="k") as running:
        yield running


def env(server: MockOpenAIServer) -> dict[str, str]:
    return {"NEXFORGE_BASE_URL": server.url, "NEXFORGE_MODEL": "m", "NEXFORGE_API_KEY": "k"}


def test_queries_then_rollout_from_the_store(
    shop_dir: Path, tmp_path: Path, server: MockOpenAIServer
) -> None:
    store, out = tmp_path / "s.sqlite", tmp_path / "q.jsonl"
    args = ["queries", str(shop_dir), "-n", "4", "--store", str(store), "-o", str(out)]
    first = nexforge(*args, "--seed", "3", "--json", env=env(server))
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["accepted"], summary["new"]) == (4, 4)
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(written) == 4
    for record in written:
        assert record["evidence"] and record["persona"] and len(record["path"]) >= 2
        assert record["seed"] == 3 and record["model"] == "m"

    again = nexforge(*args, "--seed", "3", "--json", env=env(server))
    assert json.loads(again.stdout)["new"] == 0
    assert [json.loads(line) for line in out.read_text().splitlines()] == written

    more = nexforge(*args[:3], "6", *args[4:], "--seed", "3", "--json", env=env(server))
    assert json.loads(more.stdout)["new"] == 2

    rolled = nexforge("rollout", str(shop_dir), "--store", str(store), "--json", env=env(server))
    assert rolled.returncode == 0, rolled.stderr
    assert json.loads(rolled.stdout)["done"] == 6
    status = json.loads(nexforge("status", "--store", str(store), "--json").stdout)
    assert status["queries"]["total"] == 6


def test_queries_usage_errors(shop_dir: Path, tmp_path: Path) -> None:
    bad_mix = nexforge(
        "queries", str(shop_dir), "--difficulty", "easy=x", "--store", str(tmp_path / "s.db")
    )
    assert bad_mix.returncode == 2 and "--difficulty" in bad_mix.stderr
    (shop_dir / "kit" / "personas.jsonl").unlink()
    (shop_dir / "kit" / "problem_types.json").unlink()
    result = nexforge(
        "queries",
        str(shop_dir),
        "--store",
        str(tmp_path / "s.db"),
        "--model",
        "openai:m",
        env={"NEXFORGE_BASE_URL": "http://127.0.0.1:9/v1"},
    )
    assert result.returncode != 0
    assert "kit" in result.stderr
