"""``nexforge verify`` and ``nexforge stats`` as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from quality_builders import (
    FRAMEWORK_HASH,
    GOOD_OUTCOME,
    episode,
    good_messages,
    good_trajectory,
    result,
    store_rollouts,
    trajectory,
)

from nexforge.synthesis.records import ExpectedOutcome, QueryRecord
from nexforge.synthesis.store import SynthesisStore
from nexforge.testing import MockOpenAIServer, MockReply
from run_cli import nexforge


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A clean run, the same run again, and a run with an orphan tool result."""
    path = tmp_path / "store.sqlite"
    broken_query = "Order 1004 should never have been placed. Can you cancel it?"
    broken = good_messages(broken_query)
    broken.insert(3, result("c9", "get_order", "{}"))
    with SynthesisStore(path) as store:
        store_rollouts(
            store,
            good_trajectory(),
            good_trajectory(),
            trajectory(episode(*broken), query=broken_query),
            difficulty="easy",
            expected=GOOD_OUTCOME,
        )
    return path


def run_json(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = nexforge(*args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    payload: dict[str, Any] = json.loads(done.stdout)
    return payload


def test_verify_json_reports_each_stage_and_a_rerun_skips_what_is_done(store_path: Path) -> None:
    first = run_json("verify", "--store", str(store_path))
    assert first["rollouts"] == 3
    stages = first["stages"]
    assert list(stages) == [
        "structure",
        "tool_validity",
        "behaviour",
        "query",
        "answer",
        "grounded",
        "dedup",
    ]
    assert (stages["structure"]["passed"], stages["structure"]["failed"]) == (2, 1)
    assert stages["structure"]["top_reasons"] == {"orphan result": 1}
    for stage in ("query", "answer", "grounded"):
        assert (stages[stage]["passed"], stages[stage]["not_checked"]) == (3, 0)
    assert stages["dedup"]["top_reasons"] == {"near-duplicate": 1}

    again = run_json("verify", "--store", str(store_path))
    assert again["stages"]["structure"] == {
        "passed": 0,
        "failed": 0,
        "skipped": 3,
        "not_checked": 0,
        "not_checked_reasons": {},
        "recovered_turns": 0,
        "top_reasons": {},
    }
    assert again["stages"]["grounded"]["skipped"] == 3
    redone = run_json("verify", "--store", str(store_path), "--redo", "--stages", "structure")
    assert list(redone["stages"]) == ["structure"]
    assert redone["stages"]["structure"]["passed"] == 2


def test_verify_prints_a_table_per_stage_with_what_was_not_checked(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    with SynthesisStore(path) as store:
        expected = ExpectedOutcome(facts=["1003"], state_hash="0" * 64)
        store.add_query(
            QueryRecord(text=good_trajectory().query, expected=expected).keyed(FRAMEWORK_HASH)
        )
        store_rollouts(store, good_trajectory())
    done = nexforge("verify", "--store", str(path), env={"COLUMNS": "160"})
    assert done.returncode == 0, done.stderr
    assert "verify: 1 rollouts" in done.stdout
    for stage in ("structure", "tool_validity", "behaviour", "query", "answer", "grounded"):
        assert stage in done.stdout
    assert "dedup" in done.stdout
    assert f"framework {FRAMEWORK_HASH} is not known to the store: pass --framework DIR" in (
        done.stdout
    )


def test_stats_json_and_tables(store_path: Path) -> None:
    run_json("verify", "--store", str(store_path))
    stats = run_json("stats", "--store", str(store_path))
    overall = stats["overall"]
    assert overall["rollouts"] == 3
    assert overall["decisions"]["default"]["kept"] == 1
    assert overall["decisions"]["default"]["top_reasons"] == {"dedup": 1, "structure": 1}
    assert list(stats["by_difficulty"]) == ["easy"]
    done = nexforge("stats", "--store", str(store_path), env={"COLUMNS": "160"})
    assert done.returncode == 0, done.stderr
    for title in ("stages (3 rollouts)", "export decisions", "distributions", "tool usage"):
        assert title in done.stdout
    assert "per difficulty" in done.stdout


def test_stats_of_an_empty_store_says_so(tmp_path: Path) -> None:
    SynthesisStore(tmp_path / "empty.sqlite").close()
    done = nexforge("stats", "--store", str(tmp_path / "empty.sqlite"))
    assert (done.returncode, done.stdout.strip()) == (0, "no rollouts in the store")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verify", "--store", "{missing}"], "error: no store at"),
        (["stats", "--store", "{missing}"], "error: no store at"),
        (["verify", "--store", "{store}", "--stages", "structure,vibes"], "unknown stage 'vibes'"),
        (["verify", "--store", "{store}", "--stages", ","], "--stages: name at least one stage"),
        (["verify", "--store", "{store}", "--stages", "judge"], "needs a judge model"),
        (["verify", "--store", "{store}", "--judge", "gpt4"], "--judge: invalid model spec"),
        (["verify", "--store", "{store}", "--framework", "{missing}"], "does not exist"),
        (["verify", "--store", "{store}", "--framework", "{empty}"], "framework file not found"),
        (["verify", "--store", "{store}", "--dedup-threshold", "0"], "dedup threshold must be"),
        (["verify", "--store", "{not_a_store}"], "is not a NexForge store"),
    ],
)
def test_bad_input_is_one_clear_line(
    store_path: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    not_a_store = tmp_path / "notes.txt"
    not_a_store.write_text("hello, this is not SQLite\n" * 100, encoding="utf-8")
    empty = tmp_path / "empty"
    empty.mkdir()
    paths = {
        "missing": tmp_path / "nope",
        "store": store_path,
        "not_a_store": not_a_store,
        "empty": empty,
    }
    done = nexforge(*(a.format(**paths) for a in args))
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def judge_reply(body: dict[str, Any]) -> MockReply:
    assert body["tool_choice"] == {"type": "function", "function": {"name": "submit_judge"}}
    scores = {"completeness": 0.9, "correctness": 0.9, "tool_use": 0.6, "reason": "Solid."}
    return MockReply(tool_calls=[{"name": "submit_judge", "arguments": scores}])


@pytest.fixture
def judge_server() -> Iterator[MockOpenAIServer]:
    with MockOpenAIServer(responder=judge_reply, model="judge-model") as running:
        yield running


def test_verify_with_a_judge_endpoint_stores_its_scores(
    store_path: Path, judge_server: MockOpenAIServer
) -> None:
    env = {"NEXFORGE_BASE_URL": judge_server.url, "NEXFORGE_API_KEY": "unused"}
    summary = run_json(
        "verify",
        "--store",
        str(store_path),
        "--judge",
        "openai:judge-model",
        "--workers",
        "2",
        env=env,
    )
    judge = summary["stages"]["judge"]
    # the orphan-result run failed structure: it is not worth a judge call
    assert (judge["passed"], judge["not_checked_reasons"]) == (2, {"failed an earlier stage": 1})
    with SynthesisStore(store_path) as store:
        verdicts = [
            v for r in store.rollouts() for v in store.verdicts(r.key) if v.stage == "judge"
        ]
    assert [(v.score, v.reason, v.detail["model"]) for v in verdicts] == [
        (0.8, "Solid.", "judge-model")
    ] * 2
