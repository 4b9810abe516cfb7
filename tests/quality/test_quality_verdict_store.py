"""The store's verdict methods the cascade relies on: replace a stage's set, read them all,
and keep a verdict only with the rollout content it judged."""

from __future__ import annotations

import pytest
from quality_builders import good_trajectory, store_rollouts

from nexforge.synthesis.records import RolloutRecord, Verdict
from nexforge.synthesis.store import SynthesisStore


@pytest.fixture
def r1(store: SynthesisStore) -> RolloutRecord:
    (record,) = store_rollouts(store, good_trajectory())
    return record


@pytest.fixture
def r2(store: SynthesisStore) -> RolloutRecord:
    (record,) = store_rollouts(store, good_trajectory("Cancel order 1004"))
    return record


def verdict(
    rollout: RolloutRecord, stage: str, turn: int | None = None, passed: bool = True
) -> Verdict:
    return Verdict(
        rollout_key=rollout.key,
        stage=stage,
        passed=passed,
        turn=turn,
        rollout_hash=rollout.content_hash(),
    )


def test_replace_drops_the_turn_verdicts_a_new_set_does_not_repeat(
    store: SynthesisStore, r1: RolloutRecord, r2: RolloutRecord
) -> None:
    store.put_verdicts(
        [
            verdict(r1, "behaviour", passed=False),
            verdict(r1, "behaviour", turn=2, passed=False),
            verdict(r1, "behaviour", turn=5, passed=False),
            verdict(r1, "structure"),
            verdict(r2, "behaviour", turn=1, passed=False),
        ]
    )
    store.put_verdicts([verdict(r1, "behaviour"), verdict(r1, "behaviour", turn=5)], replace=True)
    assert [(v.stage, v.turn, v.passed) for v in store.verdicts(r1.key)] == [
        ("structure", None, True),
        ("behaviour", None, True),
        ("behaviour", 5, True),
    ]
    # other rollouts and other stages are untouched
    assert [(v.stage, v.turn) for v in store.verdicts(r2.key)] == [("behaviour", 1)]


def test_without_replace_only_the_same_turn_is_overwritten(
    store: SynthesisStore, r1: RolloutRecord
) -> None:
    store.put_verdicts([verdict(r1, "behaviour", turn=2, passed=False)])
    store.put_verdicts([verdict(r1, "behaviour")])
    assert [v.turn for v in store.verdicts(r1.key)] == [2, None]


def test_all_verdicts_groups_every_verdict_by_rollout(
    store: SynthesisStore, r1: RolloutRecord, r2: RolloutRecord
) -> None:
    assert store.all_verdicts() == {}
    store.put_verdicts([verdict(r1, "structure"), verdict(r2, "dedup")])
    store.put_verdicts([verdict(r1, "dedup", passed=False)])
    with SynthesisStore(store.path) as reopened:
        grouped = reopened.all_verdicts()
    assert {k: [(v.stage, v.passed) for v in vs] for k, vs in grouped.items()} == {
        r1.key: [("structure", True), ("dedup", False)],
        r2.key: [("dedup", True)],
    }


def test_status_counts_rollouts_per_stage_not_turn_verdicts(
    store: SynthesisStore, r1: RolloutRecord, r2: RolloutRecord
) -> None:
    store.put_verdicts(
        [
            verdict(r1, "behaviour"),
            verdict(r1, "behaviour", turn=0, passed=False),
            verdict(r1, "behaviour", turn=3, passed=False),
            verdict(r2, "behaviour", passed=False),
        ]
    )
    assert store.status().verdicts == {"behaviour": {"passed": 1, "failed": 1}}


def test_a_verdict_must_name_the_content_it_judged(
    store: SynthesisStore, r1: RolloutRecord
) -> None:
    unbound = Verdict(rollout_key=r1.key, stage="structure", passed=True)
    with pytest.raises(ValueError, match="must name the content it judged"):
        store.put_verdicts([unbound])


def test_a_verdict_on_other_content_is_neither_stored_nor_returned(
    store: SynthesisStore, r1: RolloutRecord
) -> None:
    other_run = r1.model_copy(update={"seconds": 2.0})
    stale = verdict(other_run, "structure")
    assert store.put_verdicts([stale, verdict(r1, "behaviour")]) == 1
    assert [v.stage for v in store.verdicts(r1.key)] == ["behaviour"]
    assert store.status().verdicts == {"behaviour": {"passed": 1, "failed": 0}}


def test_a_done_rollout_is_never_replaced_and_keeps_its_verdicts(
    store: SynthesisStore, r1: RolloutRecord
) -> None:
    store.put_verdicts([verdict(r1, "structure")])
    second_copy = r1.model_copy(update={"trajectory": good_trajectory(answer="Something else.")})
    assert not store.put_rollout(second_copy)
    assert store.put_rollout(r1)  # the very same record: already stored
    assert store.rollout(r1.key) == r1
    assert [v.stage for v in store.verdicts(r1.key)] == ["structure"]


def test_a_failed_rollout_stored_again_loses_its_verdicts(store: SynthesisStore) -> None:
    (failed,) = store_rollouts(store, good_trajectory(), status="failed")
    store.put_verdicts([verdict(failed, "structure"), verdict(failed, "behaviour", turn=0)])
    retried = failed.model_copy(update={"status": "done", "attempts": 3})
    assert store.put_rollout(retried)
    assert store.verdicts(failed.key) == []
    assert store.status().verdicts == {}
    assert store.put_verdicts([verdict(failed, "structure")]) == 0
    assert store.put_verdicts([verdict(retried, "structure")]) == 1
