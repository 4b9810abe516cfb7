"""`nexforge build / check / architect-stats` as real subprocesses over the mock server,
and `build --from-config` on the shop example."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scripted_architect import Filler, architect_model, stage_answer

from nexforge.architect.from_config import build_from_config
from nexforge.runtime.config.framework import load_framework
from nexforge.testing import MockOpenAIServer, MockReply
from run_cli import nexforge

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def server() -> Iterator[MockOpenAIServer]:
    fill = Filler()

    def respond(body: dict[str, Any]) -> MockReply:
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            name = choice["function"]["name"]
            [tool] = [t for t in body["tools"] if t["function"]["name"] == name]
            prompt = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
            stage = name.removeprefix("submit_")
            args = stage_answer(stage, tool["function"]["parameters"], prompt, fill)
            return MockReply(tool_calls=[{"name": name, "arguments": args}])
        return MockReply(content="All done: I looked the records up.")

    mock = MockOpenAIServer(responder=respond, api_key="secret-token")
    mock.start_in_thread()
    yield mock
    mock.stop()


@pytest.fixture(scope="module")
def endpoint(server: MockOpenAIServer) -> dict[str, str]:
    return {
        "NEXFORGE_BASE_URL": server.url,
        "NEXFORGE_MODEL": "mock",
        "NEXFORGE_API_KEY": "secret-token",
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, endpoint: dict[str, str]) -> Path:
    out = tmp_path_factory.mktemp("cli") / "fw"
    done = nexforge(
        "build", "A bike shop support desk", "-o", str(out), "--variants", "2", env=endpoint
    )
    assert done.returncode == 0, done.stderr
    assert "PASS probe" in done.stdout and done.stdout.count("PASS smoke") == 2
    assert "domain: done" in done.stderr  # progress on stderr
    return out


def test_build_writes_variants_and_reports(built: Path) -> None:
    for variant in ("v1", "v2"):
        report = json.loads((built / variant / "report.json").read_text())
        assert report["passed"] and report["reached"] == "probe"
        assert report["model"] == "mock"


def test_rebuilding_resumes_without_asking_again(
    built: Path, endpoint: dict[str, str], server: MockOpenAIServer
) -> None:
    before = len(server.requests)
    done = nexforge(
        "build",
        "A bike shop support desk",
        "-o",
        str(built),
        "--variants",
        "2",
        "--no-probe",
        "--json",
        env=endpoint,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert len(payload["frameworks"]) == 2
    assert {"domain", "seed", "kit", "v1/hierarchy"} <= set(payload["frameworks"][0]["resumed"])
    assert len(server.requests) == before


def test_check_prints_one_line_per_rung(built: Path, endpoint: dict[str, str]) -> None:
    done = nexforge("check", str(built / "v1"), env=endpoint)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["PASS", rung] for rung in ("schema", "load", "tool_tests", "smoke", "quality", "probe")
    ]
    as_json = json.loads(nexforge("check", str(built / "v2"), "--no-probe", "--json").stdout)
    assert [r["passed"] for r in as_json["rungs"]] == [True, True, True, True, True, None]


def test_check_fails_with_the_rung_and_reason(built: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(built / "v1", broken)
    agent = next((broken / "agents").glob("*.yaml"))
    agent.write_text(agent.read_text() + "colour: blue\n")
    done = nexforge("check", str(broken), "--no-probe")
    assert done.returncode == 1
    assert done.stdout.splitlines()[0].startswith("FAIL schema")
    assert "colour" in done.stdout


def test_architect_stats_compares_the_variants(built: Path) -> None:
    done = nexforge("architect-stats", str(built), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["frameworks"]) == 2
    text = nexforge("architect-stats", str(built / "v1"), str(built / "v2")).stdout
    assert "v1" in text and "v2" in text


def test_build_usage_errors_exit_2(tmp_path: Path) -> None:
    assert nexforge("build", "A shop").returncode == 2  # no -o
    both = nexforge("build", "A shop", "--from-config", str(EXAMPLES / "shop"))
    assert both.returncode == 2 and "not both" in both.stderr


async def test_from_config_writes_a_kit_for_a_hand_written_framework(tmp_path: Path) -> None:
    model = architect_model(
        {
            "profile": {
                "title": "Spokes & Sprockets desk",
                "purpose": "Bike shop support.",
                "user_types": ["customer", "staff"],
                "tasks": ["order status", "refund", "stock"],
            }
        }
    )
    shipped = {f.name: f.read_bytes() for f in (EXAMPLES / "shop" / "kit").iterdir()}
    result = await build_from_config(EXAMPLES / "shop", model, output=tmp_path / "shop")
    assert result.check.passed, [r.reason for r in result.check.rungs]
    kit = tmp_path / "shop" / "kit"
    personas = [json.loads(line) for line in (kit / "personas.jsonl").read_text().splitlines()]
    assert {p["user_type"] for p in personas} <= {"customer", "staff"}
    tree = json.loads((kit / "problem_types.json").read_text())
    leaf_tools = {
        t
        for c in tree["children"]
        for s in c["children"]
        for leaf in s["children"]
        for t in leaf["tools"]
    }
    shop = load_framework(tmp_path / "shop")
    assert shop.environment is not None
    assert leaf_tools and leaf_tools <= {t.name for t in shop.environment.tools}
    probe_prompt = (
        next(r for r in model.requests if r.agent == "architect.probe_queries").messages[1].content
        or ""
    )
    assert "customers" in probe_prompt  # grounded in the seed database's rows
    original = {f.name: f.read_bytes() for f in (EXAMPLES / "shop" / "kit").iterdir()}
    assert original == shipped  # the original's kit is untouched
