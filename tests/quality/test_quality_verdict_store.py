"""The store's verdict methods the cascade relies on: replace a stage's set, read them all."""

from __future__ import annotations

from pathlib import Path

from nexforge.synthesis.records import Verdict
from nexforge.synthesis.store import SynthesisStore


def verdict(rollout: str, stage: str, turn: int | None = None, passed: bool = True) -> Verdict:
    return Verdict(rollout_key=rollout, stage=stage, passed=passed, turn=turn)


def test_replace_drops_the_turn_verdicts_a_new_set_does_not_repeat(store: SynthesisStore) -> None:
    store.put_verdicts(
        [
            verdict("r1", "behaviour", passed=False),
            verdict("r1", "behaviour", turn=2, passed=False),
            verdict("r1", "behaviour", turn=5, passed=False),
            verdict("r1", "structure"),
            verdict("r2", "behaviour", turn=1, passed=False),
        ]
    )
    store.put_verdicts(
        [verdict("r1", "behaviour"), verdict("r1", "behaviour", turn=5)], replace=True
    )
    assert [(v.stage, v.turn, v.passed) for v in store.verdicts("r1")] == [
        ("structure", None, True),
        ("behaviour", None, True),
        ("behaviour", 5, True),
    ]
    # other rollouts and other stages are untouched
    assert [(v.stage, v.turn) for v in store.verdicts("r2")] == [("behaviour", 1)]


def test_without_replace_only_the_same_turn_is_overwritten(store: SynthesisStore) -> None:
    store.put_verdicts([verdict("r1", "behaviour", turn=2, passed=False)])
    store.put_verdicts([verdict("r1", "behaviour")])
    assert [v.turn for v in store.verdicts("r1")] == [2, None]


def test_all_verdicts_groups_every_verdict_by_rollout(tmp_path: Path) -> None:
    with SynthesisStore(tmp_path / "s.sqlite") as store:
        assert store.all_verdicts() == {}
        store.put_verdicts([verdict("r1", "structure"), verdict("r2", "dedup")])
        store.put_verdicts([verdict("r1", "dedup", passed=False)])
    with SynthesisStore(tmp_path / "s.sqlite") as reopened:
        grouped = reopened.all_verdicts()
    assert {key: [(v.stage, v.passed) for v in vs] for key, vs in grouped.items()} == {
        "r1": [("structure", True), ("dedup", False)],
        "r2": [("dedup", True)],
    }


def test_status_counts_rollouts_per_stage_not_turn_verdicts(store: SynthesisStore) -> None:
    store.put_verdicts(
        [
            verdict("r1", "behaviour"),
            verdict("r1", "behaviour", turn=0, passed=False),
            verdict("r1", "behaviour", turn=3, passed=False),
            verdict("r2", "behaviour", passed=False),
        ]
    )
    assert store.status().verdicts == {"behaviour": {"passed": 1, "failed": 1}}
