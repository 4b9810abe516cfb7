"""``nexforge export`` as a user runs it (a real subprocess on a real store)."""

from __future__ import annotations

import json
from pathlib import Path

from export_fixtures import fill

from nexforge.synthesis.store import SynthesisStore
from run_cli import nexforge


def make_store(path: Path, queries: int, *, verified: bool = True) -> Path:
    with SynthesisStore(path) as store:
        fill(store, queries, verified=verified)
    return path


def test_export_writes_the_files_and_prints_a_json_summary(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.sqlite", 4)
    output = tmp_path / "data" / "sft.jsonl"

    done = nexforge(
        "export", "--store", str(store), "--format", "hf", "-o", str(output),
        "--split", "train=0.75,val=0.25", "--parallel", "split", "--json",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["format"] == "trl"
    assert summary["rollouts"] == {"seen": 4, "kept": 4, "dropped": {}}
    assert summary["samples"]["by_split"] == {"train": 6, "val": 2}
    assert summary["samples"]["split_turns"] == 4
    train = (tmp_path / "data" / "sft.train.jsonl").read_text().splitlines()
    assert len(train) == 6 and json.loads(train[0])["messages"][0]["role"] == "system"


def test_export_prints_a_summary_table(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.sqlite", 2)
    output = tmp_path / "share.jsonl"

    done = nexforge(
        "export", "--store", str(store), "-f", "sharegpt", "-o", str(output), "-q",
        env={"COLUMNS": "300"},
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "rollouts kept" in done.stdout
    assert f"samples in {output}" in done.stdout
    assert len(output.read_text().splitlines()) == 4


def test_unverified_store_says_to_verify_or_export_without_a_filter(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.sqlite", 2, verified=False)

    done = nexforge("export", "--store", str(store), "-f", "trl", "-o", str(tmp_path / "o.jsonl"))

    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert "no rollout" in message and "has been verified" in message
    assert "nexforge verify" in message and "--filter none" in message
    unfiltered = nexforge(
        "export", "--store", str(store), "-f", "trl", "-o", str(tmp_path / "o.jsonl"),
        "--filter", "none", "--json",
    )  # fmt: skip
    assert unfiltered.returncode == 0
    assert json.loads(unfiltered.stdout)["samples"]["written"] == 4


def test_bad_options_fail_with_one_line_and_usage_code(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.sqlite", 1)
    cases = {
        ("-f", "alpaca", "-o", "o.jsonl"): "unknown format 'alpaca'",
        ("-f", "trl", "-o", "o.txt"): "must end in .jsonl or .parquet",
        ("-f", "trl", "-o", "o.jsonl", "--split", "train"): "NAME=WEIGHT",
        ("-f", "trl", "-o", "o.jsonl", "--parallel", "some"): "keep, split or skip",
        ("-f", "trl", "-o", "o.jsonl", "--filter", "lenient"): "unknown filter",
    }
    for args, message in cases.items():
        done = nexforge("export", "--store", str(store), *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr


def test_a_missing_store_is_named(tmp_path: Path) -> None:
    done = nexforge(
        "export",
        "--store",
        str(tmp_path / "none.sqlite"),
        "-f",
        "trl",
        "-o",
        str(tmp_path / "o.jsonl"),
    )

    assert done.returncode == 2
    assert "no store at" in done.stderr


def test_after_nexforge_verify_the_default_filter_exports(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.sqlite", 2, verified=False)
    args = ("export", "--store", str(store), "-f", "trl", "-o", str(tmp_path / "o.jsonl"), "--json")
    assert nexforge(*args).returncode == 1

    verified = nexforge("verify", "--store", str(store), "--quiet", "--json")
    exported = nexforge(*args)

    assert verified.returncode == 0, verified.stderr
    assert exported.returncode == 0, exported.stderr
    # both queries' runs are the same trajectory: the second is a near-duplicate
    assert json.loads(exported.stdout)["rollouts"] == {
        "seen": 2,
        "kept": 1,
        "dropped": {"dedup": 1},
    }
