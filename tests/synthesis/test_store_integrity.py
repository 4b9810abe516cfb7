"""Several writers on one store (real SQLite, one connection each): claims on the rollouts
being run, reads that never block a reader's own writes, snapshots."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexforge.synthesis.records import RolloutProvenance, RolloutRecord, Verdict, judged
from nexforge.synthesis.store import PAGE, SynthesisStore
from nexforge.synthesis.store_claims import ClaimOwner

LEASE_S = 3600.0


def record(sample: int, status: str = "done", error: str | None = None) -> RolloutRecord:
    return RolloutRecord.model_validate(
        {
            "key": f"rollout-{sample:04d}",
            "query_key": "query",
            "sample": sample,
            "status": status,
            "error": error,
            "started_at": 1.0,
            "seconds": 1.0,
            "provenance": RolloutProvenance(framework_hash="fh", package_version="t", seed=0),
        }
    )


@pytest.fixture
def other(store: SynthesisStore) -> Iterator[SynthesisStore]:
    """A second writer on the same store file (as another process would be)."""
    with SynthesisStore(store.path) as second:
        yield second


def exited_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_rollout_one_writer_runs_is_left_to_it_and_then_stored(
    store: SynthesisStore, other: SynthesisStore
) -> None:
    first, second = ClaimOwner.this_process(), ClaimOwner.this_process()
    assert store.claim_rollout("rollout-0000", first, lease_s=LEASE_S) == "claimed"
    assert other.claim_rollout("rollout-0000", second, lease_s=LEASE_S) == "busy"
    assert store.put_rollout(record(0), owner=first)
    assert other.claim_rollout("rollout-0000", second, lease_s=LEASE_S) == "stored"


def test_claims_of_a_writer_that_is_gone_are_taken_over(
    store: SynthesisStore, other: SynthesisStore
) -> None:
    me = ClaimOwner.this_process()
    killed = ClaimOwner("killed", me.host, exited_pid())
    elsewhere = ClaimOwner("elsewhere", "another-host", 1)
    store.claim_rollout("rollout-0000", killed, lease_s=LEASE_S)
    store.claim_rollout("rollout-0001", elsewhere, lease_s=LEASE_S)
    store.claim_rollout("rollout-0002", ClaimOwner("expired", "another-host", 1), lease_s=-1.0)
    assert other.claim_rollout("rollout-0000", me, lease_s=LEASE_S) == "claimed"
    assert other.claim_rollout("rollout-0001", me, lease_s=LEASE_S) == "busy"
    assert other.claim_rollout("rollout-0002", me, lease_s=LEASE_S) == "claimed"


def test_claims_of_a_killed_writer_not_yet_reaped_are_taken_over(
    store: SynthesisStore, other: SynthesisStore
) -> None:
    me = ClaimOwner.this_process()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store.claim_rollout("rollout-0000", ClaimOwner("child", me.host, child.pid), lease_s=60)
        assert other.claim_rollout("rollout-0000", me, lease_s=LEASE_S) == "busy"
        child.kill()
        while Path(f"/proc/{child.pid}/stat").read_text().split(") ")[1][0] != "Z":
            time.sleep(0.01)  # killed, not yet reaped: a zombie
        assert other.claim_rollout("rollout-0000", me, lease_s=LEASE_S) == "claimed"
    finally:
        child.kill()
        child.wait()


def test_a_writer_ending_releases_its_claims(store: SynthesisStore, other: SynthesisStore) -> None:
    first, second = ClaimOwner.this_process(), ClaimOwner.this_process()
    for sample in range(3):
        store.claim_rollout(f"rollout-{sample:04d}", first, lease_s=LEASE_S)
    store.release_claims(first)
    assert other.claim_rollout("rollout-0001", second, lease_s=LEASE_S) == "claimed"


def test_a_failed_rollout_is_claimed_again_only_to_retry_it(store: SynthesisStore) -> None:
    owner = ClaimOwner.this_process()
    store.put_rollout(record(0, "failed", "model unreachable"))
    assert store.claim_rollout("rollout-0000", owner, lease_s=LEASE_S) == "stored"
    assert store.claim_rollout("rollout-0000", owner, lease_s=LEASE_S, retry_failed=True) == (
        "claimed"
    )


def test_a_reader_writes_as_it_iterates_while_another_writer_writes(
    store: SynthesisStore, other: SynthesisStore
) -> None:
    # `verify` reads rollouts and writes verdicts on one connection while `rollout` writes
    # on another: an open read would pin an old snapshot and the write would fail (locked).
    for sample in range(PAGE + 5):
        store.put_rollout(record(sample))
    seen = 0
    for seen, current in enumerate(store.rollouts(), start=1):
        other.put_rollout(record(1000 + seen))
        verdict = Verdict(rollout_key=current.key, stage="structure", passed=True)
        assert store.put_verdicts(judged([verdict], current.content_hash())) == 1
    assert seen == PAGE + 5
    assert len(store.all_verdicts()) == PAGE + 5


def test_a_snapshot_reads_one_state_whatever_others_write(
    store: SynthesisStore, other: SynthesisStore
) -> None:
    store.put_rollout(record(0, "failed", "model unreachable"))
    with store.snapshot():
        before = list(store.rollouts())
        other.put_rollout(record(0))
        other.put_rollout(record(1))
        assert list(store.rollouts()) == before
        assert store.status().rollouts["done"] == 0
    assert [r.status for r in store.rollouts()] == ["done", "done"]
