"""Stage 6, dedup: near-duplicate trajectories, the first kept in store order."""

from __future__ import annotations

import random

import pytest
from quality_builders import (
    GOOD_OUTCOME,
    asks,
    episode,
    good_messages,
    good_trajectory,
    result,
    says,
    store_rollouts,
    tool_call,
    trajectory,
)

from nexforge.core.messages import Message
from nexforge.quality.cascade import VerifyOptions, verify_store
from nexforge.quality.dedup import canonical_text, dedup_entry, dedup_verdicts
from nexforge.quality.policy import DEDUP, decide
from nexforge.synthesis.dedup import MinHasher, NearDuplicateIndex, estimate, jaccard, shingles
from nexforge.synthesis.records import ExpectedOutcome, Verdict
from nexforge.synthesis.store import SynthesisStore


def dedup_of(store: SynthesisStore, key: str) -> Verdict:
    return next(v for v in store.verdicts(key) if v.stage == DEDUP)


WHERE_IS = "Where is my order 1001? It has not arrived yet."


def other_task() -> list[Message]:
    return [
        Message.user(WHERE_IS),
        asks(tool_call("c1", "get_order", order_id=1001)),
        result("c1", "get_order", '{"id": 1001, "status": "shipped", "carrier": "DHL"}'),
        says("Your order 1001 has shipped with DHL and is on its way to you."),
    ]


def test_the_canonical_text_is_the_query_the_calls_and_the_answer() -> None:
    text = canonical_text(good_trajectory())
    assert text.splitlines() == [
        "Please cancel my order 1003, it was a mistake.",
        'get_order {"order_id": 1003}',
        'cancel_order {"order_id": 1003, "reason": "customer asked"}',
        "Order 1003 is cancelled; the refund of 42.50 EUR is on its way (refund 77).",
    ]


async def test_an_identical_second_run_is_flagged_and_the_first_kept(
    store: SynthesisStore,
) -> None:
    first, second = store_rollouts(
        store, good_trajectory(), good_trajectory(), expected=GOOD_OUTCOME
    )
    summary = await verify_store(store, VerifyOptions())
    assert dedup_of(store, first.key).passed
    flagged = dedup_of(store, second.key)
    assert not flagged.passed
    assert flagged.reason == f"near-duplicate of {first.key} (J~1.00)"
    assert flagged.detail["duplicate_of"] == first.key
    assert decide(store.verdicts(second.key)).reason == f"dedup: {flagged.reason}"
    assert (summary.stages[DEDUP].passed, summary.stages[DEDUP].failed) == (1, 1)


async def test_different_trajectories_are_all_kept(store: SynthesisStore) -> None:
    records = [
        *store_rollouts(store, good_trajectory(), expected=GOOD_OUTCOME),
        *store_rollouts(
            store,
            trajectory(episode(*other_task()), query=WHERE_IS),
            expected=ExpectedOutcome(facts=["shipped", "DHL"]),
        ),
    ]
    await verify_store(store, VerifyOptions())
    verdicts = [dedup_of(store, r.key) for r in records]
    assert [(v.passed, v.detail["candidate"]) for v in verdicts] == [(True, True), (True, True)]


async def test_a_failed_run_is_never_the_one_kept(store: SynthesisStore) -> None:
    # The first run repeats an orphan result (structure fails); the second is the same
    # work done right: it is kept, and the failed one is marked as its duplicate.
    broken_messages = good_messages()
    broken_messages.insert(3, result("c1", "get_order", "{}"))
    broken, good = store_rollouts(
        store, trajectory(episode(*broken_messages)), good_trajectory(), expected=GOOD_OUTCOME
    )
    await verify_store(store, VerifyOptions())
    assert dedup_of(store, good.key).passed
    assert dedup_of(store, broken.key).reason.startswith(f"near-duplicate of {good.key}")
    assert dedup_of(store, broken.key).detail["candidate"] is False


async def test_dedup_is_recomputed_each_run_over_the_whole_store(
    store: SynthesisStore,
) -> None:
    (first,) = store_rollouts(store, good_trajectory(), expected=GOOD_OUTCOME)
    await verify_store(store, VerifyOptions())
    (second,) = store_rollouts(
        store,
        good_trajectory(query="PLEASE cancel my order 1003; it was a mistake!"),
        expected=GOOD_OUTCOME,
    )
    summary = await verify_store(store, VerifyOptions())
    assert summary.stages[DEDUP].checked == 2
    assert summary.stages["structure"].skipped == 1
    assert dedup_of(store, second.key).reason.startswith(f"near-duplicate of {first.key}")


def test_the_threshold_decides_how_similar_is_too_similar() -> None:
    a = good_trajectory()
    b = trajectory(
        episode(*good_messages()[:-1], says("Done: order 1003 cancelled, refund 77 issued."))
    )
    similarity = jaccard(shingles(canonical_text(a)), shingles(canonical_text(b)))
    assert 0.4 < similarity < 0.85
    hasher = MinHasher()
    entries = [
        dedup_entry("a", a, candidate=True, hasher=hasher),
        dedup_entry("b", b, candidate=True, hasher=hasher),
    ]
    strict = dedup_verdicts(entries, threshold=round(similarity, 2) + 0.1)
    loose = dedup_verdicts(entries, threshold=max(0.05, round(similarity, 2) - 0.15))
    assert [v.passed for v in strict] == [True, True]
    assert [v.passed for v in loose] == [True, False]


def test_a_rollout_without_a_trajectory_has_nothing_to_compare() -> None:
    (verdict,) = dedup_verdicts([dedup_entry("x", None, candidate=False, hasher=MinHasher())])
    assert verdict.passed
    assert verdict.reason == "nothing to compare (no trajectory or no words)"


@pytest.mark.parametrize("num_perm", [128, 100])
def test_the_index_compares_signatures_exactly_as_estimate_does(num_perm: int) -> None:
    rng = random.Random(7)
    index = NearDuplicateIndex(threshold=0.05, num_perm=num_perm)
    for trial in range(200):
        stored = tuple(rng.getrandbits(32) for _ in range(num_perm))
        agree = rng.random()
        # lanes that differ only in the top bit or only in the lowest bit are the edge cases
        probe = tuple(
            v if rng.random() < agree else v ^ rng.choice([1, 1 << 31, rng.getrandbits(32) | 1])
            for v in stored
        )
        index.add(f"k{trial}", stored)
        found = index.nearest(probe)
        if estimate(probe, stored) >= 0.5:
            assert found is not None and found[0] == f"k{trial}"
        if found is not None and found[0] == f"k{trial}":
            assert found[1] == estimate(probe, stored)
