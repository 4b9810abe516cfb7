"""Query generation on the real shop environment: grounding, blueprints, the writer's
checks, expected outcomes from execution, review.

The model is scripted (``query_model``); the environment, its SQLite seed and the store
are real.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from query_model import (
    DETAIL,
    generate,
    prompt_of,
    query_model,
    write_kit,
    write_request,
)

from nexforge.architect.framework_files import read_framework_files
from nexforge.core.errors import ModelResponseError, NexForgeError
from nexforge.models.base import ModelRequest
from nexforge.runtime.config.framework import load_framework
from nexforge.synthesis.blueprint import Blueprint, Known, PlannedCall
from nexforge.synthesis.fingerprint import framework_hash
from nexforge.synthesis.grounding import MAX_ROWS, environment_run, read_evidence
from nexforge.synthesis.problem_tree import ProblemTree
from nexforge.synthesis.query_files import read_queries, with_reference_states, write_queries
from nexforge.synthesis.records import QueryRecord
from nexforge.synthesis.store import SynthesisStore
from nexforge.synthesis.writer import check_request

SEED_DB = Path(__file__).resolve().parents[2] / "examples" / "shop" / "data" / "shop.sqlite"


def seed_rows(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{SEED_DB}?mode=ro", uri=True)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def seed_names() -> set[str]:
    """Every id, name, email and SKU in the seed database, as text."""
    found: set[str] = set()
    for sql in (
        "SELECT name, email FROM customers",
        "SELECT CAST(id AS TEXT) FROM orders",
        "SELECT sku, name FROM products",
    ):
        found.update(value for row in seed_rows(sql) for value in row)
    return found


def names_a_seed_record(text: str, names: set[str]) -> bool:
    folded = text.casefold()
    return any(re.search(rf"\b{re.escape(n.casefold())}\b", folded) for n in names)


async def test_every_query_names_a_record_of_the_seed_read_through_read_only_tools(
    shop_dir: Path, store: SynthesisStore
) -> None:
    summary = await generate(shop_dir, store, n=12)

    assert summary.accepted == summary.new == 12
    environment = load_framework(shop_dir).environment
    assert environment is not None
    readers = {t.name for t in environment.tools if t.spec.read_only}
    names = seed_names()
    for query in summary.queries:
        assert names_a_seed_record(query.text, names), query.text
        assert query.evidence and {e.tool for e in query.evidence} <= readers
        for item in query.evidence:
            if item.tool == "get_order":  # what was read is what the seed holds
                status = seed_rows("SELECT status FROM orders WHERE id = ?", item.result["id"])
                assert status == [(item.result["status"],)]
            if item.tool == "search_products":  # 6 products: 5 rows kept, chosen by the rng
                assert len(item.result) == MAX_ROWS
            if item.tool == "find_customer":
                for row in item.result:
                    stored = seed_rows("SELECT name, email FROM customers WHERE id = ?", row["id"])
                    assert stored == [(row["name"], row["email"])]
    assert store.queries(summary.framework_hash, seed=0) == summary.queries


async def test_grounding_follows_ids_from_row_to_row_with_the_seeded_rng(shop_dir: Path) -> None:
    environment = load_framework(shop_dir).environment
    assert environment is not None
    chosen = set()
    async with environment_run(environment, "test") as ctx:
        for seed in range(8):
            rng = random.Random(seed)
            evidence = await read_evidence(ctx, environment, ["get_order", "cancel_order"], rng)
            assert [e.tool for e in evidence] == ["find_customer", "list_orders", "get_order"]
            customers, orders = evidence[0].result, evidence[1].result
            assert evidence[0].arguments == {"query": ""}  # a search left empty lists all
            assert evidence[1].arguments["customer_id"] in {row["id"] for row in customers}
            assert evidence[2].arguments["order_id"] in {row["id"] for row in orders}
            chosen.add(evidence[2].arguments["order_id"])
            again = await read_evidence(
                ctx, environment, ["get_order", "cancel_order"], random.Random(seed)
            )
            assert again == evidence
        assert ctx.resources is not None
        state = await ctx.resources.get(environment)
        assert state.state_hash() == await environment.seed_hash()  # reads changed nothing
    assert len(chosen) > 1


async def test_queries_carry_their_provenance(shop_dir: Path, store: SynthesisStore) -> None:
    summary = await generate(shop_dir, store, n=6, seed=3, fit_check=True)

    fh = framework_hash(load_framework(shop_dir))
    assert summary.framework_hash == fh
    for slot, query in enumerate(summary.queries):
        assert query.slot == slot and query.seed == 3 and query.model == "scripted-queries"
        assert query.framework == "shop" and query.framework_hash == fh
        assert query.persona is not None and query.persona["id"].startswith("p")
        assert len(query.path) == len(query.path_labels) >= 2 and query.path[0] == "shop"
        assert query.difficulty in {"easy", "medium", "hard"}
        assert query.user is not None and query.user.goal and query.user.facts
        assert any(note.startswith("fit check: fits") for note in query.notes)
    counts = store.path_counts(fh)
    assert sum(counts.values()) == 6
    assert all(counts[tuple(q.path)] >= 1 for q in summary.queries)


async def test_a_request_naming_no_record_goes_back_for_a_repair(
    shop_dir: Path, store: SynthesisStore
) -> None:
    def vague_first(request: ModelRequest) -> dict[str, Any]:
        if len(request.messages) == 2:  # the first answer; a repair turn adds messages
            return {**write_request(request), "request": "Please help me with my stuff."}
        return write_request(request)

    model = query_model({"submit_request": vague_first})
    summary = await generate(shop_dir, store, n=3, model=model)

    assert summary.accepted == 3
    for query in summary.queries:
        assert any("the message must name" in note for note in query.notes)
    repairs = [r for r in model.requests if len(r.messages) > 2]
    feedback = repairs[0].messages[-1]
    assert feedback.role == "tool" and feedback.is_error
    assert "the message must name" in (feedback.content or "")


async def test_expected_outcomes_come_from_execution_never_from_the_model(
    shop_dir: Path, store: SynthesisStore
) -> None:
    summary = await generate(shop_dir, store, n=12)

    environment = load_framework(shop_dir).environment
    assert environment is not None
    seed_hash = await environment.seed_hash()
    kit = read_framework_files(shop_dir).problem_types
    assert kit is not None
    tree = ProblemTree(kit)
    writes = [q for q in summary.queries if q.expected and q.expected.calls]
    reads = [q for q in summary.queries if q.expected and not q.expected.calls]
    assert writes and reads, "the shop kit has problem types that read and that change state"
    for query in reads:
        assert query.expected is not None and query.expected.facts
        assert not set(tree.tools(tuple(query.path))) & environment.write_tool_names
        assert query.expected.state_hash is None
        for fact in query.expected.facts:  # a value read from the environment, not told
            assert any(fact in json.dumps(e.result, ensure_ascii=False) for e in query.evidence)
            assert fact.casefold() not in query.text.casefold()
    for query in writes:
        assert query.expected is not None
        assert set(tree.tools(tuple(query.path))) & environment.write_tool_names
        calls = [(c.tool, c.arguments) for c in query.expected.calls]
        assert await environment.replay_calls(calls) == query.expected.state_hash != seed_hash
        for call in query.expected.calls:
            for value in call.arguments.values():
                if value == DETAIL:  # free text the person gave is in their request
                    assert DETAIL in query.text
    assert all(q.type_tools == tree.tools(tuple(q.path)) for q in summary.queries)


async def test_a_change_the_rules_refuse_is_planned_only_for_hard_slots(
    shop_dir: Path, store: SynthesisStore
) -> None:
    write_kit(shop_dir, {"cancel": ["find_customer", "list_orders", "get_order", "cancel_order"]})
    summary = await generate(shop_dir, store, n=8, difficulty_mix={"easy": 0.5, "hard": 0.5})

    environment = load_framework(shop_dir).environment
    assert environment is not None
    seed_hash = await environment.seed_hash()
    refusals = [q for q in summary.queries if q.expected and not q.expected.calls]
    assert refusals, "orders that are not placed cannot be cancelled"
    for query in refusals:
        assert query.difficulty == "hard" and query.expected is not None
        assert query.expected.state_hash == seed_hash  # the run must change nothing
        assert any(n.startswith("blueprint: write") for n in query.notes)
        assert query.expected.facts  # the order's status, which the answer must state
        assert query.expected.facts[0] in {"shipped", "delivered"}
    for query in summary.queries:
        if query.difficulty == "easy":  # planned on an order that can be cancelled
            assert query.expected is not None and query.expected.calls
            assert query.expected.state_hash != seed_hash


async def test_a_query_that_does_not_fit_its_persona_is_rewritten(
    shop_dir: Path, store: SynthesisStore
) -> None:
    def misfit(request: ModelRequest) -> dict[str, Any]:
        request_text = prompt_of(request).split("Request: ", 1)[1]
        request_text = request_text.replace("Hello, this is", "Hi there, it's")
        return {"fits": False, "reason": "too formal", "rewritten": f"Rewritten: {request_text}"}

    model = query_model({"submit_fit_check": misfit})
    summary = await generate(shop_dir, store, n=3, model=model, fit_check=True)

    for query in summary.queries:
        assert "Hi there, it's" in query.text
        assert any(n.startswith("fit check: rewritten (too formal)") for n in query.notes)
        assert query.precise_text is None


async def test_fuzzified_queries_keep_the_precise_request(
    shop_dir: Path, store: SynthesisStore
) -> None:
    model = query_model()
    summary = await generate(shop_dir, store, n=4, model=model, fuzzify=True)

    names = seed_names()
    for query in summary.queries:
        assert query.precise_text and query.text != query.precise_text
        assert query.text.startswith("hey, quick one")
        assert query.precise_text.casefold() in query.text.casefold()
        assert names_a_seed_record(query.text, names)
        assert "fuzzified: the precise request is in precise_text" in query.notes
    stages = {r.tools[0].name for r in model.requests}
    assert stages == {"submit_request", "submit_fuzzy_query"}


async def test_a_slot_whose_stage_keeps_failing_is_rejected_then_given_up(
    shop_dir: Path, store: SynthesisStore
) -> None:
    def never_grounded(request: ModelRequest) -> dict[str, Any]:
        return {**write_request(request), "request": "Something is wrong, help."}

    write_kit(shop_dir, {"status": ["find_customer", "list_orders", "get_order"]})
    model = query_model({"submit_request": never_grounded})
    summary = await generate(shop_dir, store, n=2, model=model, max_attempts=2)

    assert summary.accepted == 0 and summary.given_up == 4  # n slots, then n more in their place
    assert summary.rejected == {"stage_failed": 8}
    assert summary.model_calls == 8 * 3  # each attempt: the answer and two repairs
    rows = store.rejections(summary.framework_hash, 0)
    assert [(r["slot"], r["attempt"]) for r in rows] == [(s, a) for s in range(4) for a in range(3)]
    for row in rows:
        expected = "gave_up: after 2 attempts" if row["attempt"] == 2 else "stage_failed: stage"
        assert row["reason"].startswith(expected)


async def test_an_unusable_model_answer_rejects_the_attempt_not_the_run(
    shop_dir: Path, store: SynthesisStore
) -> None:
    calls = itertools.count()

    def cut_twice(request: ModelRequest) -> dict[str, Any]:
        if next(calls) < 2:
            raise ModelResponseError("constrained output cut at the max_tokens limit")
        return write_request(request)

    write_kit(shop_dir, {"status": ["find_customer", "list_orders", "get_order"]})
    model = query_model({"submit_request": cut_twice})
    summary = await generate(shop_dir, store, n=2, model=model, concurrency=1)

    assert summary.accepted == 2 and summary.rejected["model_response"] == 2
    rows = store.rejections(summary.framework_hash, 0)
    cut = [(r["slot"], r["attempt"]) for r in rows if "max_tokens" in r["reason"]]
    assert cut == [(0, 0), (0, 1)]
    assert summary.queries[0].slot == 0


async def test_a_framework_without_a_kit_is_refused_with_what_to_do(
    shop_dir: Path, store: SynthesisStore
) -> None:
    shutil.rmtree(shop_dir / "kit")
    with pytest.raises(NexForgeError, match="nexforge build --from-config"):
        await generate(shop_dir, store, n=1)


async def test_accepted_queries_write_to_a_jsonl_file(
    shop_dir: Path, store: SynthesisStore, tmp_path: Path
) -> None:
    summary = await generate(shop_dir, store, n=3)
    target = tmp_path / "queries.jsonl"

    assert write_queries(target, summary.queries) == 3
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [QueryRecord.model_validate(json.loads(line)) for line in lines] == summary.queries
    assert summary.to_dict()["accepted"] == 3


async def test_a_request_that_is_only_a_record_name_goes_back_for_a_repair(
    shop_dir: Path, store: SynthesisStore
) -> None:
    def terse_first(request: ModelRequest) -> dict[str, Any]:
        answer = write_request(request)
        if len(request.messages) == 2:
            return {**answer, "request": "Order 1001 for Ada Lind"}
        return answer

    model = query_model({"submit_request": terse_first})
    summary = await generate(shop_dir, store, n=2, model=model)

    assert summary.accepted == 2
    for query in summary.queries:
        assert len(query.text.split()) >= 6
        assert any("a fragment, not a request" in note for note in query.notes)


async def test_hand_written_reference_calls_get_their_end_state_when_read(
    shop_dir: Path, tmp_path: Path
) -> None:
    environment = load_framework(shop_dir).environment
    assert environment is not None
    cancel = {"tool": "cancel_order", "arguments": {"order_id": 1004, "reason": "by mistake"}}
    lines = [
        {
            "text": "Cancel order 1004 please, I booked it by mistake.",
            "expected": {"calls": [cancel]},
        },
        {"text": "Where is my order 1002, please?", "expected": {"facts": ["shipped"]}},
    ]
    file = tmp_path / "q.jsonl"
    file.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")

    records = await with_reference_states(read_queries(file, "fh"), environment)

    cancelled = records[0].expected
    assert cancelled is not None and cancelled.state_hash is not None
    assert cancelled.state_hash == await environment.replay_calls(
        [("cancel_order", cancel["arguments"])]
    )
    assert records[1].expected is not None and records[1].expected.state_hash is None
    bad = [{"text": "Refund it all now, please.", "expected": {"calls": [{"tool": "refund_all"}]}}]
    file.write_text(json.dumps(bad[0]), encoding="utf-8")
    with pytest.raises(NexForgeError, match="refund_all"):
        await with_reference_states(read_queries(file, "fh"), environment)


def test_a_new_record_worded_entirely_by_the_person_has_a_plan_to_word() -> None:
    call = PlannedCall("create_customer", {"tier": "gold"}, free=["name", "email"])
    plan = Blueprint("write", "customer", {}, [], call=call)

    assert plan.wants() == "to create customer, with tier gold"
    assert plan.reference_calls()[0].tool == "create_customer"


def test_the_writer_check_holds_a_request_to_its_plan() -> None:
    order = {"id": 6, "status": "pending", "placed_on": "2025-12-04", "total": 2591.0}
    read = Blueprint("read", "order", order, [Known("order 6", "6")], ["placed_on"], ["2025-12-04"])
    assert check_request("When was my order 6 placed, please?", read, {}) == []
    assert check_request("What is the status of order 6, please?", read, {}) == [
        "the message must ask for the placed on"
    ]
    copied = check_request(
        "When did I place order 6? I ordered a rain jacket last week, could you check?", read, {}
    )
    assert any("copies the example ('rain jacket')" in p for p in copied)

    cancel = Blueprint(
        "write",
        "order",
        order,
        [Known("order 6", "6")],
        call=PlannedCall("cancel_order", {"order_id": 6}),
    )
    assert check_request("Please cancel my order 6, I no longer need the bike.", cancel, {}) == []
    assert "the message must ask to cancel it (the change the person wants)" in check_request(
        "Could you please confirm the status of order 6 for me?", cancel, {}
    )
    looping = "I'm sorry for any inconvenience caused. Could you cancel order 6? " * 7
    problems = check_request(looping[:400], cancel, {})
    assert any(p.startswith("repeats itself") for p in problems)
    assert "the message is cut off: write one to three whole sentences" in problems


def test_the_writer_check_refuses_what_a_small_model_gets_wrong() -> None:
    record = {"sku": "BK-TRAIL", "name": "Trail bike", "category": "bikes", "stock": 3}
    plan = Blueprint(
        "read", "product", record, [Known("Trail bike", "Trail bike")], ["category"], ["bikes"]
    )

    assert check_request("Hi, which category is the Trail bike listed under?", plan, {}) == []
    invented = check_request("What is the category of Trail bike? It is order 2291.", plan, {})
    assert invented == [
        "the message names 2291, which is not a record the person knows: use only what they know"
    ]
    assert any(
        "contains its own answer" in p
        for p in check_request("Is the Trail bike in the bikes category, please?", plan, {})
    )
    assert any(
        "must name 'Trail bike'" in p
        for p in check_request("Which category is that bike of yours in, please?", plan, {})
    )
    assert check_request("Trail bike, City bike, Helmet", plan, {})
