"""Stage 4, grounded, on the real shop environment: runs replayed on a fresh copy and their
end state compared with the expected one; facts looked for in the answer; a framework
that changed or disappeared means no verdict, never a guess."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from shop_script import shop_responder

from nexforge.quality.cascade import VerifyOptions, verify_store
from nexforge.quality.policy import GROUNDED
from nexforge.runtime.config.framework import load_framework
from nexforge.synthesis.engine_local import run_local
from nexforge.synthesis.fingerprint import framework_hash
from nexforge.synthesis.records import ExpectedOutcome, QueryRecord, ReferenceCall, Verdict
from nexforge.synthesis.rollout import RolloutContext, RolloutOptions, plan_tasks
from nexforge.synthesis.store import SynthesisStore
from nexforge.testing import ScriptedModel

TRAIL_BIKES = {"customer_id": 1, "items": [{"sku": "BK-TRAIL", "quantity": 3}]}
ONE_BIKE = {"customer_id": 1, "items": [{"sku": "BK-TRAIL", "quantity": 1}]}
NOTE = {"order_id": 1005, "body": "Ada ordered three trail bikes."}
# What every scripted run answers: the create_order result, quoted.
FACTS = ("1005", "placed", "242,730")


async def expect(
    shop_dir: Path, calls: list[tuple[str, dict[str, object]]], facts: tuple[str, ...] = ()
) -> ExpectedOutcome:
    """The outcome of ``calls`` on a fresh copy of the shop, as the query writer records it."""
    environment = load_framework(shop_dir).environment
    assert environment is not None
    return ExpectedOutcome(
        facts=list(facts),
        calls=[ReferenceCall(tool=name, arguments=arguments) for name, arguments in calls],
        state_hash=await environment.replay_calls(calls),
    )


async def roll_out(
    shop_dir: Path, store: SynthesisStore, expected: dict[str, ExpectedOutcome | None]
) -> dict[str, str]:
    """One scripted shop run (it orders three trail bikes) per named expectation; returns
    name -> rollout key."""
    framework = load_framework(shop_dir)
    fh = framework_hash(framework)
    store.remember_framework(fh, framework.name, shop_dir)
    queries = {
        name: QueryRecord(text=f"Order three trail bikes for Ada ({name})", expected=outcome).keyed(
            fh
        )
        for name, outcome in expected.items()
    }
    store.add_queries(queries.values())
    ctx = RolloutContext(framework, fh, RolloutOptions(), model=ScriptedModel(shop_responder))
    await run_local(plan_tasks(queries.values(), 1), ctx, store)
    return {name: next(store.rollouts(query_key=q.key)).key for name, q in queries.items()}


def grounded(store: SynthesisStore, key: str) -> Verdict | None:
    return next((v for v in store.verdicts(key) if v.stage == GROUNDED), None)


async def test_the_expected_end_state_and_facts_pass_and_misses_fail_with_why(
    shop_dir: Path, store: SynthesisStore
) -> None:
    order = [("create_order", TRAIL_BIKES)]
    keys = await roll_out(
        shop_dir,
        store,
        {
            "right": await expect(shop_dir, order, facts=FACTS),
            "missed note": await expect(shop_dir, [*order, ("add_note", NOTE)]),
            "other arguments": await expect(shop_dir, [("create_order", ONE_BIKE)]),
            "missing facts": ExpectedOutcome(facts=[*FACTS, "Ada Lind", "refund 77"]),
            "no expectation": None,
        },
    )
    summary = await verify_store(store, VerifyOptions(stages=(GROUNDED,)))

    right = grounded(store, keys["right"])
    assert right is not None and right.passed
    assert right.detail["state_hash"] == (await expect(shop_dir, order)).state_hash

    missed = grounded(store, keys["missed note"])
    assert missed is not None and not missed.passed
    assert missed.detail["problems"] == ["end state"]
    assert missed.reason == (
        "the end state differs from the expected one "
        "(expected writes: create_order, add_note; the run's writes: create_order)"
    )
    other = grounded(store, keys["other arguments"])
    assert other is not None
    assert other.reason == (
        "the end state differs from the expected one "
        "(same writes (create_order), different arguments)"
    )
    facts = grounded(store, keys["missing facts"])
    assert facts is not None and not facts.passed
    assert facts.reason == "the answer does not state 'Ada Lind', 'refund 77'"
    assert facts.detail["missing_facts"] == ["Ada Lind", "refund 77"]

    assert grounded(store, keys["no expectation"]) is None
    counts = summary.stages[GROUNDED]
    assert (counts.passed, counts.failed) == (1, 3)
    assert counts.not_checked == {"query has no expected outcome": 1}
    assert counts.reasons == {"end state": 2, "missing facts": 1}


async def test_a_changed_framework_folder_gets_no_verdict_and_the_reason_is_reported(
    shop_dir: Path, store: SynthesisStore
) -> None:
    keys = await roll_out(
        shop_dir, store, {"order": await expect(shop_dir, [("create_order", TRAIL_BIKES)])}
    )
    policy = shop_dir / "policy.md"
    original = policy.read_text(encoding="utf-8")
    policy.write_text(original + "\n7. Be brief.\n", encoding="utf-8")

    summary = await verify_store(store, VerifyOptions(stages=(GROUNDED,)))
    assert grounded(store, keys["order"]) is None
    ((reason, count),) = summary.stages[GROUNDED].not_checked.items()
    assert count == 1
    assert reason.startswith("framework shop changed since its queries were written")
    # passing the changed folder explicitly does not make it the same framework
    again = await verify_store(store, VerifyOptions(stages=(GROUNDED,), frameworks=[shop_dir]))
    assert again.stages[GROUNDED].checked == 0

    policy.write_text(original, encoding="utf-8")
    restored = await verify_store(store, VerifyOptions(stages=(GROUNDED,)))
    assert restored.stages[GROUNDED].passed == 1


async def test_a_moved_framework_is_found_with_framework_dir_and_facts_need_no_folder(
    shop_dir: Path, store: SynthesisStore, tmp_path: Path
) -> None:
    keys = await roll_out(
        shop_dir,
        store,
        {
            "order": await expect(shop_dir, [("create_order", TRAIL_BIKES)]),
            "facts only": ExpectedOutcome(facts=list(FACTS)),
        },
    )
    moved = tmp_path / "moved-shop"
    shutil.move(shop_dir, moved)

    summary = await verify_store(store, VerifyOptions(stages=(GROUNDED,)))
    assert grounded(store, keys["order"]) is None
    ((reason, _),) = summary.stages[GROUNDED].not_checked.items()
    ((_, recorded),) = store.frameworks().values()
    assert reason == f"framework shop: {recorded} is gone (pass --framework DIR)"
    facts_only = grounded(store, keys["facts only"])
    assert facts_only is not None and facts_only.passed

    found = await verify_store(store, VerifyOptions(stages=(GROUNDED,), frameworks=[moved]))
    assert (found.stages[GROUNDED].passed, found.stages[GROUNDED].skipped) == (1, 1)
    order = grounded(store, keys["order"])
    assert order is not None and order.passed


async def test_replay_leaves_the_seed_untouched(shop_dir: Path, store: SynthesisStore) -> None:
    await roll_out(
        shop_dir, store, {"order": await expect(shop_dir, [("create_order", TRAIL_BIKES)])}
    )
    await verify_store(store, VerifyOptions(stages=(GROUNDED,)))
    seed = sqlite3.connect(shop_dir / "data" / "shop.sqlite")
    try:
        assert seed.execute("SELECT stock FROM products WHERE sku = 'BK-TRAIL'").fetchone() == (3,)
    finally:
        seed.close()
