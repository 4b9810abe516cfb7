"""Stage grounded, on the real shop environment: runs replayed on a fresh copy and their
end state compared with the expected one; facts looked for in the answer and in what the
tools returned. What cannot be checked (no expected outcome, a framework that changed or
disappeared) gets a ``not checked`` verdict, which fails and is re-tried: never a guess,
never a pass."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from shop_script import shop_responder

from nexforge.quality.cascade import VerifyOptions, verify_store
from nexforge.quality.policy import GROUNDED, NOT_CHECKED
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


def assert_not_checked(verdict: Verdict | None, why: str) -> None:
    """``verdict`` records that grounded could not judge the rollout, because ``why``."""
    assert verdict is not None
    assert (verdict.passed, verdict.reason) == (False, f"not checked: {why}")
    assert verdict.detail == {NOT_CHECKED: True, "problems": ["not checked"]}


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
            # the scripted agents write "Done:"; no tool returned it
            "unobserved fact": ExpectedOutcome(facts=["1005", "done"]),
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
    unobserved = grounded(store, keys["unobserved fact"])
    assert unobserved is not None and not unobserved.passed
    assert unobserved.reason == "the answer states 'done', which no tool returned in the run"
    assert unobserved.detail["unobserved_facts"] == ["done"]

    why = "the query has no expected outcome the cascade can check (none)"
    assert_not_checked(grounded(store, keys["no expectation"]), why)
    counts = summary.stages[GROUNDED]
    assert (counts.passed, counts.failed) == (1, 4)
    assert counts.not_checked == {f"not checked: {why}": 1}
    assert counts.reasons == {"end state": 2, "missing facts": 1, "facts not observed": 1}


async def test_reference_calls_without_a_state_hash_are_replayed_to_get_one(
    shop_dir: Path, store: SynthesisStore
) -> None:
    def calls(items: dict[str, object]) -> ExpectedOutcome:
        return ExpectedOutcome(calls=[ReferenceCall(tool="create_order", arguments=items)])

    keys = await roll_out(
        shop_dir, store, {"same order": calls(TRAIL_BIKES), "one bike": calls(ONE_BIKE)}
    )
    await verify_store(store, VerifyOptions(stages=(GROUNDED,)))

    same = grounded(store, keys["same order"])
    wanted = (await expect(shop_dir, [("create_order", TRAIL_BIKES)])).state_hash
    assert same is not None and same.passed
    assert same.detail["expected_state_hash"] == same.detail["state_hash"] == wanted
    other = grounded(store, keys["one bike"])
    assert other is not None and not other.passed
    assert other.detail["problems"] == ["end state"]
    assert other.detail["expected_state_hash"] == (
        (await expect(shop_dir, [("create_order", ONE_BIKE)])).state_hash
    )


async def test_facts_the_query_states_prove_nothing(shop_dir: Path, store: SynthesisStore) -> None:
    # Every query reads "Order three trail bikes for Ada (...)"; "trail bikes" is in it.
    keys = await roll_out(
        shop_dir,
        store,
        {
            "told only": ExpectedOutcome(facts=["trail bikes"]),
            "told and found": ExpectedOutcome(facts=["trail bikes", "1005"]),
        },
    )
    summary = await verify_store(store, VerifyOptions(stages=(GROUNDED,)))

    why = (
        "the query has no expected outcome the cascade can check "
        "(its expected facts are all in the query's text)"
    )
    assert_not_checked(grounded(store, keys["told only"]), why)
    found = grounded(store, keys["told and found"])
    assert found is not None and found.passed
    assert found.detail["facts_in_query"] == ["trail bikes"]
    assert summary.stages[GROUNDED].not_checked == {f"not checked: {why}": 1}


async def test_a_changed_framework_folder_is_not_checked_with_its_reason_and_retried(
    shop_dir: Path, store: SynthesisStore
) -> None:
    keys = await roll_out(
        shop_dir, store, {"order": await expect(shop_dir, [("create_order", TRAIL_BIKES)])}
    )
    policy = shop_dir / "policy.md"
    original = policy.read_text(encoding="utf-8")
    policy.write_text(original + "\n7. Be brief.\n", encoding="utf-8")

    summary = await verify_store(store, VerifyOptions(stages=(GROUNDED,)))
    ((reason, count),) = summary.stages[GROUNDED].not_checked.items()
    assert count == 1
    assert reason.startswith("not checked: framework shop changed since its queries were written")
    assert_not_checked(grounded(store, keys["order"]), reason.removeprefix("not checked: "))
    assert summary.stages[GROUNDED].checked == 0
    # passing the changed folder explicitly does not make it the same framework; the
    # not-checked verdict is tried again, not skipped as already held
    again = await verify_store(store, VerifyOptions(stages=(GROUNDED,), frameworks=[shop_dir]))
    counts = again.stages[GROUNDED]
    assert (counts.checked, counts.skipped, sum(counts.not_checked.values())) == (0, 0, 1)
    assert grounded(store, keys["order"]) is not None

    policy.write_text(original, encoding="utf-8")
    restored = await verify_store(store, VerifyOptions(stages=(GROUNDED,)))
    assert (restored.stages[GROUNDED].passed, restored.stages[GROUNDED].skipped) == (1, 0)
    verdict = grounded(store, keys["order"])
    assert verdict is not None and verdict.passed and not verdict.detail.get(NOT_CHECKED)
    settled = await verify_store(store, VerifyOptions(stages=(GROUNDED,)))
    assert (settled.stages[GROUNDED].checked, settled.stages[GROUNDED].skipped) == (0, 1)


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
    ((reason, _),) = summary.stages[GROUNDED].not_checked.items()
    ((_, recorded),) = store.frameworks().values()
    why = f"framework shop: {recorded} is gone (pass --framework DIR)"
    assert reason == f"not checked: {why}"
    assert_not_checked(grounded(store, keys["order"]), why)
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
