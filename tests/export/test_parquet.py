"""Parquet output: JSON-string columns, shards, and Hugging Face ``datasets`` loading it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from export_fixtures import fill

from nexforge.export import ExportError, ExportOptions, export_store
from nexforge.synthesis.store import SynthesisStore


def test_parquet_holds_the_same_samples_as_jsonl_with_nested_values_as_json(
    store: SynthesisStore, tmp_path: Path
) -> None:
    fill(store, 2)
    export_store(store, ExportOptions("trl", tmp_path / "d.jsonl"))
    export_store(store, ExportOptions("trl", tmp_path / "d.parquet"))

    table = pq.read_table(tmp_path / "d.parquet")
    jsonl = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]

    assert table.column_names == ["messages", "tools", "provenance"]
    assert all(str(table.schema.field(name).type) == "string" for name in table.column_names)
    decoded = [{k: json.loads(v) for k, v in row.items()} for row in table.to_pylist()]
    assert decoded == jsonl
    arguments = decoded[0]["messages"][2]["tool_calls"][0]["function"]["arguments"]
    assert arguments == {"order_id": 42, "note": "prüfen ✓"}


def test_plain_fields_stay_plain_columns(store: SynthesisStore, tmp_path: Path) -> None:
    fill(store, 1)
    export_store(store, ExportOptions("rl", tmp_path / "rl.parquet"))

    table = pq.read_table(tmp_path / "rl.parquet")

    assert str(table.schema.field("reward").type) == "double"
    assert str(table.schema.field("group_id").type) == "string"
    assert table.column("reward").to_pylist() == [1.0] * 6


def test_hugging_face_datasets_loads_the_export(store: SynthesisStore, tmp_path: Path) -> None:
    fill(store, 3)
    export_store(store, ExportOptions("openai", tmp_path / "d.parquet"))

    dataset = load_dataset(
        "parquet",
        data_files=str(tmp_path / "d.parquet"),
        split="train",
        cache_dir=str(tmp_path / "hf-cache"),
    )

    assert dataset.num_rows == 6
    assert dataset.column_names == ["messages", "tools", "parallel_tool_calls", "provenance"]
    assert json.loads(dataset[0]["messages"])[0]["role"] == "system"
    assert dataset[0]["parallel_tool_calls"] is True


def test_shards_every_n_rows_and_datasets_reads_them_all(
    store: SynthesisStore, tmp_path: Path
) -> None:
    fill(store, 4)  # 8 samples
    output = tmp_path / "d.parquet"

    summary = export_store(store, ExportOptions("trl", output, shard_rows=3))

    names = [f"d-0000{i}-of-00003.parquet" for i in range(3)]
    assert summary.files == {
        str(tmp_path / n): rows for n, rows in zip(names, (3, 3, 2), strict=True)
    }
    assert [pq.read_metadata(tmp_path / n).num_rows for n in names] == [3, 3, 2]
    assert not output.exists()
    dataset = load_dataset(
        "parquet",
        data_files=str(tmp_path / "d-*.parquet"),
        split="train",
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert dataset.num_rows == 8


def test_a_new_export_replaces_every_shard_of_the_old_one(
    store: SynthesisStore, tmp_path: Path
) -> None:
    fill(store, 4)
    output = tmp_path / "d.parquet"
    export_store(store, ExportOptions("trl", output, shard_rows=3))

    export_store(store, ExportOptions("trl", output, shard_rows=5))

    assert sorted(p.name for p in tmp_path.glob("d*.parquet")) == [
        "d-00000-of-00002.parquet",
        "d-00001-of-00002.parquet",
    ]


def test_splits_and_empty_splits_are_valid_parquet(store: SynthesisStore, tmp_path: Path) -> None:
    fill(store, 1)
    split = {"train": 0.5, "val": 0.5}

    summary = export_store(store, ExportOptions("sharegpt", tmp_path / "d.parquet", split=split))

    files = {Path(path).name: rows for path, rows in summary.files.items()}
    assert sorted(files) == ["d.train.parquet", "d.val.parquet"]
    assert sorted(files.values()) == [0, 2]
    assert pq.read_table(tmp_path / "d.val.parquet").column_names == [
        "conversations", "system", "tools", "provenance",
    ]  # fmt: skip


def test_without_pyarrow_parquet_output_says_how_to_get_it(
    store: SynthesisStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # what `import pyarrow` does when absent
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    fill(store, 1)

    with pytest.raises(ExportError, match=r"pip install 'nexforge\[export\]'"):
        export_store(store, ExportOptions("trl", tmp_path / "d.parquet"))

    assert list(tmp_path.glob("*d.parquet*")) == []
