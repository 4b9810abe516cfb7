"""`nexforge eval framework`: a model on the shop's queries, scored by the grounded verifier
(replayed end state and stated facts) on the real shop environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from shop_script import shop_http_responder, shop_responder

from nexforge.core.messages import Message
from nexforge.evaluation.framework import (
    FrameworkEvalOptions,
    HeldOut,
    run_framework_eval,
    select_queries,
)
from nexforge.evaluation.results import EvalError
from nexforge.export import ExportOptions
from nexforge.export.run import export_store
from nexforge.models.base import ModelRequest
from nexforge.runtime.config.framework import load_framework
from nexforge.synthesis.engine_local import run_local
from nexforge.synthesis.fingerprint import framework_hash
from nexforge.synthesis.records import ExpectedOutcome, QueryRecord, ReferenceCall, UserSide
from nexforge.synthesis.rollout import RolloutContext, RolloutOptions, plan_tasks
from nexforge.synthesis.store import SynthesisStore
from nexforge.testing import MockOpenAIServer, ScriptedModel, call
from run_cli import nexforge

TRAIL_BIKES = {"customer_id": 1, "items": [{"sku": "BK-TRAIL", "quantity": 3}]}
NOTE = {"order_id": 1005, "body": "Ada ordered three trail bikes."}
FACTS = ["1005", "placed"]
"""What the scripted shop states: the created order's id and status."""


async def expect(
    shop_dir: Path, calls: list[tuple[str, dict[str, Any]]], facts: list[str]
) -> ExpectedOutcome:
    environment = load_framework(shop_dir).environment
    assert environment is not None
    return ExpectedOutcome(
        facts=facts,
        calls=[ReferenceCall(tool=name, arguments=arguments) for name, arguments in calls],
        state_hash=await environment.replay_calls(calls),
    )


def write_queries(path: Path, records: list[QueryRecord]) -> Path:
    path.write_text(
        "".join(r.model_dump_json(exclude_none=True) + "\n" for r in records), encoding="utf-8"
    )
    return path


async def shop_queries(shop_dir: Path, tmp_path: Path) -> Path:
    """An easy query the scripted shop solves, a hard one it does not, one uncheckable."""
    order = [("create_order", TRAIL_BIKES)]
    return write_queries(
        tmp_path / "queries.jsonl",
        [
            QueryRecord(
                text="Order three trail bikes for Ada",
                difficulty="easy",
                expected=await expect(shop_dir, order, FACTS),
            ),
            QueryRecord(
                text="Order three trail bikes for Ada and note it on the order",
                difficulty="hard",
                expected=await expect(shop_dir, [*order, ("add_note", NOTE)], []),
            ),
            QueryRecord(text="Say hello to Ada"),
        ],
    )


def selection_of(shop_dir: Path, queries: Path) -> Any:
    framework = load_framework(shop_dir)
    return select_queries(framework, framework_hash(framework), queries_file=queries)


def never_called(request: ModelRequest) -> Message:
    raise AssertionError(f"a finished run was run again ({request.agent})")


async def test_runs_that_reach_the_expected_state_succeed_and_the_others_fail_with_why(
    shop_dir: Path, tmp_path: Path
) -> None:
    selection = selection_of(shop_dir, await shop_queries(shop_dir, tmp_path))
    out = tmp_path / "eval"

    summary = await run_framework_eval(
        shop_dir,
        ScriptedModel(shop_responder),
        selection,
        out,
        FrameworkEvalOptions(trials=2, workers=2),
    )

    assert summary["rollouts"] == 4 and summary["queries"] == 2
    assert summary["left_out"]["no_expected_outcome"] == 1
    assert summary["success_rate"] == 0.5
    assert summary["pass_hat_k"] == {"1": 0.5, "2": 0.5}
    assert summary["categories"]["easy"] == {"accuracy": 1.0, "correct": 2, "total": 2}
    assert summary["categories"]["hard"] == {"accuracy": 0.0, "correct": 0, "total": 2}
    assert summary["tool_call_validity"] == 1.0
    assert summary["stop_reasons"] == {"completed": 4}
    assert summary["mean_steps"] == 4  # lead: call + answer; orders: call + answer
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    hard = [r for r in rows if r["category"] == "hard"]
    assert len(rows) == 4 and len(hard) == 2
    assert all("end state differs" in r["reason"] and "add_note" in r["reason"] for r in hard)
    assert json.loads((out / "scores.json").read_text())["success_rate"] == 0.5

    again = await run_framework_eval(
        shop_dir,
        ScriptedModel(never_called),
        selection,
        out,
        FrameworkEvalOptions(trials=2, workers=2),
    )
    assert again["success_rate"] == 0.5 and again["rollouts"] == 4


async def test_a_missing_fact_fails_the_run_even_when_the_state_is_right(
    shop_dir: Path, tmp_path: Path
) -> None:
    expected = await expect(shop_dir, [("create_order", TRAIL_BIKES)], ["1005", "Ada Lind"])
    queries = write_queries(
        tmp_path / "q.jsonl", [QueryRecord(text="Order trail bikes", expected=expected)]
    )
    summary = await run_framework_eval(
        shop_dir,
        ScriptedModel(shop_responder),
        selection_of(shop_dir, queries),
        tmp_path / "eval",
        FrameworkEvalOptions(),
    )
    row = json.loads((tmp_path / "eval" / "results.jsonl").read_text())
    assert summary["success_rate"] == 0.0 and summary["categories"]["unrated"]["total"] == 1
    assert "Ada Lind" in row["reason"] and "1005" not in row["detail"]["missing_facts"]


def clumsy_orders(request: ModelRequest) -> Message:
    """Like the shop script, but the orders agent first forgets the items, then recovers."""
    last = request.messages[-1]
    if request.agent == "orders" and last.role == "user":
        return call("create_order", customer_id=1)
    if request.agent == "orders" and last.role == "tool" and last.is_error:
        return call("create_order", **TRAIL_BIKES)
    return shop_responder(request)


async def test_invalid_calls_lower_tool_call_validity_and_a_recovered_run_still_succeeds(
    shop_dir: Path, tmp_path: Path
) -> None:
    selection = selection_of(shop_dir, await shop_queries(shop_dir, tmp_path))
    summary = await run_framework_eval(
        shop_dir,
        ScriptedModel(clumsy_orders),
        selection,
        tmp_path / "eval",
        FrameworkEvalOptions(),
    )
    # Per run: lead -> orders, orders -> bad create_order, then the good one.
    assert summary["tool_calls"] == 6
    assert summary["tool_call_validity"] == pytest.approx(4 / 6)
    assert summary["categories"]["easy"]["correct"] == 1


def broken_lead(request: ModelRequest) -> Message:
    raise ConnectionError("endpoint down")


async def test_a_run_that_faults_on_every_attempt_scores_zero_and_keeps_its_error(
    shop_dir: Path, tmp_path: Path
) -> None:
    selection = selection_of(shop_dir, await shop_queries(shop_dir, tmp_path))
    summary = await run_framework_eval(
        shop_dir,
        ScriptedModel(broken_lead),
        selection,
        tmp_path / "eval",
        FrameworkEvalOptions(retries=0),
    )
    rows = [
        json.loads(line) for line in (tmp_path / "eval" / "results.jsonl").read_text().splitlines()
    ]
    assert summary["failed_runs"] == 2 and summary["success_rate"] == 0.0
    assert all(not r["correct"] and "endpoint down" in r["error"] for r in rows)


async def test_held_out_queries_are_exactly_the_ones_export_puts_in_that_split(
    shop_dir: Path, tmp_path: Path
) -> None:
    framework = load_framework(shop_dir)
    fh = framework_hash(framework)
    expected = await expect(shop_dir, [("create_order", TRAIL_BIKES)], FACTS)
    records = [
        QueryRecord(text=f"Order three trail bikes for Ada, request {i}", expected=expected).keyed(
            fh
        )
        for i in range(20)
    ]
    store_path = tmp_path / "store.sqlite"
    with SynthesisStore(store_path) as store:
        store.remember_framework(fh, framework.name, shop_dir)
        ctx = RolloutContext(framework, fh, RolloutOptions(), model=ScriptedModel(shop_responder))
        await run_local(plan_tasks(records, 1), ctx, store)
        split = {"train": 0.75, "val": 0.25}
        export_store(
            store,
            ExportOptions(
                format="openai", output=tmp_path / "data.jsonl", filter="none", split=split, seed=3
            ),
        )
    exported = tmp_path / "data.val.jsonl"
    val_keys = {
        json.loads(line)["provenance"]["query_key"] for line in exported.read_text().splitlines()
    }

    selection = select_queries(
        framework, fh, store_path=store_path, held_out=HeldOut(split, "val", seed=3)
    )

    assert {q.key for q in selection.queries} == val_keys and len(val_keys) == 5
    assert selection.not_held_out == 15


async def test_hand_written_reference_calls_get_their_end_state_by_replay(
    shop_dir: Path, tmp_path: Path
) -> None:
    """A held-out query may name the reference calls only; the end state is computed."""
    order = [ReferenceCall(tool="create_order", arguments=TRAIL_BIKES)]
    noted = [*order, ReferenceCall(tool="add_note", arguments=NOTE)]
    queries = write_queries(
        tmp_path / "q.jsonl",
        [
            QueryRecord(text="Order bikes", expected=ExpectedOutcome(calls=order)),
            QueryRecord(text="Order bikes, note it", expected=ExpectedOutcome(calls=noted)),
        ],
    )
    summary = await run_framework_eval(
        shop_dir,
        ScriptedModel(shop_responder),
        selection_of(shop_dir, queries),
        tmp_path / "eval",
        FrameworkEvalOptions(),
    )
    rows = [
        json.loads(line)
        for line in (tmp_path / "eval" / "results.jsonl").read_text().split("\n")
        if line
    ]
    assert summary["success_rate"] == 0.5
    assert [r["correct"] for r in rows] == [True, False]


def test_a_framework_s_own_held_out_queries_are_the_default(shop_dir: Path) -> None:
    framework = load_framework(shop_dir)
    selection = select_queries(framework, framework_hash(framework))
    assert selection.source.endswith("kit/eval_queries.jsonl")
    assert len(selection.queries) == 8 and selection.unchecked == 0


def test_queries_without_any_expected_outcome_are_refused_with_a_reason(
    shop_dir: Path, tmp_path: Path
) -> None:
    queries = write_queries(tmp_path / "q.jsonl", [QueryRecord(text="Say hello")])
    with pytest.raises(EvalError, match=r"no query .* has an expected outcome"):
        selection_of(shop_dir, queries)


def endpoint(server: MockOpenAIServer) -> dict[str, str]:
    return {"NEXFORGE_BASE_URL": server.url, "NEXFORGE_MODEL": "mock-model"}


async def test_the_command_prints_scores_as_json_and_resumes(
    shop_dir: Path, tmp_path: Path
) -> None:
    queries = await shop_queries(shop_dir, tmp_path)
    out = tmp_path / "eval"
    args = ("eval", "framework", str(shop_dir), "--queries", str(queries), "--out", str(out))
    with MockOpenAIServer(responder=shop_http_responder) as server:
        first = nexforge(*args, "--json", env=endpoint(server))
        calls_made = len(server.requests)
        table = nexforge(*args, env=endpoint(server))
        assert len(server.requests) == calls_made  # the second run only re-scored

    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["success_rate"] == 0.5 and summary["model"] == "mock-model"
    assert summary["out"] == str(out)
    assert table.returncode == 0, table.stderr
    assert "overall" in table.stdout and "pass^k" in table.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--queries", "q.jsonl", "--store", "s.db"), "one of --queries FILE or --store DB"),
        (("--store", "s.db", "--held-out", "val"), "--split and --held-out go together"),
        (("--store", "s.db", "--split", "train=1,val=x", "--held-out", "val"), "split:"),
    ],
)
def test_bad_flags_are_one_line_errors(
    shop_dir: Path, extra: tuple[str, ...], message: str
) -> None:
    result = nexforge("eval", "framework", str(shop_dir), *extra)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_embedded_model_is_scored_on_the_shop_s_own_queries(
    shop_dir: Path, tmp_path: Path, tiny_model_path: Path
) -> None:
    out = tmp_path / "eval"
    result = nexforge(
        "eval", "framework", str(shop_dir), "--model", "local:tiny", "--limit", "1",
        "--out", str(out), "--json", timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    print("tiny on the shop:", {k: summary[k] for k in ("success_rate", "tool_call_validity")})
    assert summary["rollouts"] == 1 and summary["categories"]["overall"]["total"] == 1
    assert 0.0 <= summary["success_rate"] <= 1.0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and all(r["model"] and r["steps"] >= 1 for r in rows)


async def test_with_a_simulated_user_the_whole_conversation_is_scored(
    shop_dir: Path, tmp_path: Path
) -> None:
    heard: list[str] = []

    def user(request: ModelRequest) -> Message:
        heard.append(request.messages[-1].content or "")
        return call("submit_user_turn", message="Thanks, that is all.", status="goal_met")

    expected = await expect(shop_dir, [("create_order", TRAIL_BIKES)], FACTS)
    query = QueryRecord(
        text="I want three trail bikes",
        expected=expected,
        user=UserSide(goal="Order three trail bikes", facts=["customer id 1"]),
    )
    summary = await run_framework_eval(
        shop_dir,
        ScriptedModel(shop_responder),
        selection_of(shop_dir, write_queries(tmp_path / "q.jsonl", [query])),
        tmp_path / "eval",
        FrameworkEvalOptions(user_sim=True),
        user_model=ScriptedModel(user, name="user-sim"),
    )
    assert summary["success_rate"] == 1.0
    with SynthesisStore(tmp_path / "eval" / "rollouts.sqlite") as store:
        (rollout,) = store.rollouts()
    assert rollout.provenance.user_sim
    assert len(heard) == 1 and heard[0].startswith("Done:")  # the user heard the answer
