"""``export_store`` over a real store: filters, splits by query, crash safety, the summary."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from export_fixtures import fill, passing, query, rollout

from nexforge.export import ExportError, ExportOptions, export_store, parse_split
from nexforge.export.splits import RANKED_MAX, SplitPlan
from nexforge.synthesis.records import RolloutRecord, Verdict
from nexforge.synthesis.store import SynthesisStore


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def failed_stage(record: RolloutRecord, stage: str) -> list[Verdict]:
    verdicts = passing(record)
    return [v.model_copy(update={"passed": False, "reason": "looped"}) if v.stage == stage else v
            for v in verdicts]  # fmt: skip


def test_default_filter_keeps_verified_rollouts_and_counts_the_rest(
    store: SynthesisStore, tmp_path: Path
) -> None:
    verified = fill(store, 2)
    unverified_query = query("Noch nicht geprüft")
    store.add_query(unverified_query)
    store.put_rollout(rollout(unverified_query))
    looping_query = query("Dreht sich im Kreis")
    store.add_query(looping_query)
    looping = rollout(looping_query)
    store.put_rollout(looping)
    store.put_verdicts(failed_stage(looping, "behaviour"))
    crashed = rollout(query("Abgestürzt")).model_copy(
        update={"status": "failed", "trajectory": None, "error": "boom"}
    )
    store.put_rollout(crashed)
    output = tmp_path / "out.jsonl"

    summary = export_store(store, ExportOptions("trl", output))

    assert (summary.rollouts_seen, summary.rollouts_kept) == (5, 2)
    assert summary.dropped == {
        "not verified (structure, tool_validity, behaviour, query, answer, grounded, dedup)": 1,
        "behaviour": 1,
        "no trajectory (failed rollout)": 1,
    }
    assert {r["provenance"]["rollout_key"] for r in rows(output)} == {r.key for r in verified}
    assert summary.samples == {"all": 4} and summary.files == {str(output): 4}
    assert summary.bytes == output.stat().st_size
    assert not summary.nothing_verified


def test_filter_none_exports_every_rollout_with_a_trajectory(
    store: SynthesisStore, tmp_path: Path
) -> None:
    fill(store, 3, verified=False)

    summary = export_store(store, ExportOptions("openai", tmp_path / "o.jsonl", filter="none"))

    assert (summary.rollouts_kept, summary.samples_written) == (3, 6)


def test_nothing_verified_is_reported_as_such(store: SynthesisStore, tmp_path: Path) -> None:
    fill(store, 2, verified=False)

    summary = export_store(store, ExportOptions("trl", tmp_path / "o.jsonl"))

    assert summary.nothing_verified and summary.samples_written == 0
    assert (tmp_path / "o.jsonl").read_text() == ""


def test_strict_and_min_score_need_the_judge(store: SynthesisStore, tmp_path: Path) -> None:
    scores = {"Gut": 0.9, "Mittel": 0.6, "Ungeprüft": None}
    for text, score in scores.items():
        q = query(text)
        store.add_query(q)
        store.put_rollout(rollout(q))
        store.put_verdicts(passing(rollout(q), judge=score))

    by_score = export_store(store, ExportOptions("trl", tmp_path / "a.jsonl", min_score=0.8))
    strict = export_store(store, ExportOptions("trl", tmp_path / "b.jsonl", filter="strict"))

    assert by_score.rollouts_kept == 1 and by_score.dropped == {"judge": 2}
    assert strict.rollouts_kept == 2 and strict.dropped == {"judge": 1}


def test_rl_keeps_well_formed_failures_with_reward_zero(
    store: SynthesisStore, tmp_path: Path
) -> None:
    q = query()
    store.add_query(q)
    good, bad = rollout(q, 0), rollout(q, 1)
    for record, verdicts in ((good, passing(good)), (bad, failed_stage(bad, "behaviour"))):
        store.put_rollout(record)
        store.put_verdicts(verdicts)

    sft = export_store(store, ExportOptions("trl", tmp_path / "sft.jsonl"))
    rl = export_store(store, ExportOptions("rl", tmp_path / "rl.jsonl"))

    assert sft.rollouts_kept == 1
    assert rl.rollouts_kept == 2
    rewards = {(r["provenance"]["sample"], r["reward"]) for r in rows(tmp_path / "rl.jsonl")}
    assert rewards == {(0, 1.0), (1, 0.0)}


def test_a_split_never_puts_one_query_in_two_splits(store: SynthesisStore, tmp_path: Path) -> None:
    fill(store, 20, samples=3)
    output = tmp_path / "out.jsonl"
    options = ExportOptions("trl", output, split=parse_split("train=0.8,val=0.2"), seed=7)

    summary = export_store(store, options)

    train, val = rows(tmp_path / "out.train.jsonl"), rows(tmp_path / "out.val.jsonl")
    train_queries = Counter(r["provenance"]["query_key"] for r in train)
    val_queries = Counter(r["provenance"]["query_key"] for r in val)
    assert not set(train_queries) & set(val_queries)
    assert (len(train_queries), len(val_queries)) == (16, 4)  # exact: ranked by hash
    assert set(train_queries.values()) | set(val_queries.values()) == {6}  # 3 samples x 2 episodes
    assert summary.samples == {"train": 96, "val": 24}
    assert not output.exists()


def test_the_split_is_stable_across_runs_and_moves_with_the_seed(
    store: SynthesisStore, tmp_path: Path
) -> None:
    fill(store, 12)

    def val_queries(seed: int, name: str) -> set[str]:
        split = {"train": 0.75, "val": 0.25}
        export_store(store, ExportOptions("trl", tmp_path / name, split=split, seed=seed))
        return {r["provenance"]["query_key"] for r in rows(tmp_path / name.replace(".", ".val."))}

    assert val_queries(1, "a.jsonl") == val_queries(1, "b.jsonl")
    assert len(val_queries(1, "a.jsonl")) == 3
    assert any(val_queries(seed, "c.jsonl") != val_queries(1, "a.jsonl") for seed in (2, 3, 4))


def test_beyond_ranked_sets_a_query_keeps_its_split_whatever_else_is_stored() -> None:
    keys = [f"query-{i}" for i in range(RANKED_MAX + 500)]
    weights = {"train": 0.9, "val": 0.1}
    everything = SplitPlan(weights, keys, seed=3)
    more = SplitPlan(weights, [*keys, *(f"extra-{i}" for i in range(300))], seed=3)

    assigned = Counter(everything.assign(k) for k in keys)
    assert all(everything.assign(k) == more.assign(k) for k in keys)
    assert 0.07 < assigned["val"] / len(keys) < 0.13


def test_a_failed_export_leaves_no_file_under_the_final_name(
    store: SynthesisStore, tmp_path: Path
) -> None:
    fill(store, 4)
    output = tmp_path / "out.jsonl"
    output.write_text("the previous export\n")

    def crash(done: int, total: int) -> None:
        if done == 3:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        export_store(store, ExportOptions("trl", output), progress=crash)

    assert output.read_text() == "the previous export\n"
    leftovers = [p.name for p in tmp_path.iterdir() if not p.name.startswith("store.sqlite")]
    assert leftovers == ["out.jsonl"]  # and no temporary file


def test_progress_reports_every_rollout_against_the_total(
    store: SynthesisStore, tmp_path: Path
) -> None:
    fill(store, 3)
    seen: list[tuple[int, int]] = []

    export_store(
        store, ExportOptions("trl", tmp_path / "o.jsonl"), progress=lambda d, t: seen.append((d, t))
    )

    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_a_rollout_stored_again_during_an_export_is_judged_by_its_own_verdicts(
    store: SynthesisStore, tmp_path: Path
) -> None:
    fill(store, 1)
    retried_query = query("Erst gescheitert, dann wiederholt")
    store.add_query(retried_query)
    failed = rollout(retried_query).model_copy(update={"status": "failed", "error": "boom"})
    store.put_rollout(failed)
    store.put_verdicts(failed_stage(failed, "behaviour"))
    retry = rollout(retried_query).model_copy(update={"attempts": 2})

    def another_process_retries(done: int, total: int) -> None:
        if done == 1:  # the export has read the failed run, not yet its verdicts
            with SynthesisStore(store.path) as other:
                assert other.put_rollout(retry)
                other.put_verdicts(passing(retry))

    during = export_store(
        store, ExportOptions("trl", tmp_path / "during.jsonl"), progress=another_process_retries
    )
    assert (during.rollouts_kept, during.dropped) == (1, {"behaviour": 1})
    after = export_store(store, ExportOptions("trl", tmp_path / "after.jsonl"))
    assert (after.rollouts_kept, after.dropped) == (2, {})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (ExportOptions("alpaca", Path("o.jsonl")), "unknown format 'alpaca'"),
        (ExportOptions("trl", Path("o.csv")), "must end in .jsonl or .parquet"),
        (ExportOptions("trl", Path("o.jsonl"), split={"train": 0.0}), "positive"),
        (ExportOptions("trl", Path("o.jsonl"), split={"a/b": 1.0}), "split name"),
    ],
)
def test_wrong_options_fail_before_anything_is_read(
    options: ExportOptions, message: str, store: SynthesisStore
) -> None:
    with pytest.raises(ExportError, match=message):
        export_store(store, options)


@pytest.mark.parametrize("spec", ["train", "train=0.9,val", "train=x", "train=1,train=2", "=1"])
def test_a_malformed_split_spec_is_one_clear_error(spec: str) -> None:
    with pytest.raises(ExportError, match="split"):
        parse_split(spec)


def test_summary_to_dict_is_plain_json(store: SynthesisStore, tmp_path: Path) -> None:
    fill(store, 2)

    summary = export_store(store, ExportOptions("sharegpt", tmp_path / "s.jsonl", parallel="skip"))

    as_dict = json.loads(json.dumps(summary.to_dict()))
    assert as_dict["rollouts"] == {"seen": 2, "kept": 2, "dropped": {}}
    assert as_dict["samples"]["written"] == 2
    assert as_dict["samples"]["skipped"] == {"parallel tool calls (--parallel skip)": 2}
    assert as_dict["samples"]["by_file"] == {str(tmp_path / "s.jsonl"): 2}
    assert {"secrets_scrubbed", "bytes", "seconds", "format", "output"} <= set(as_dict)
