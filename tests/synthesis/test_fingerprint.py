"""The framework hash covers what defines a framework, not what commands write next to it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nexforge.runtime.config.framework import load_framework
from nexforge.synthesis.fingerprint import framework_hash
from nexforge.synthesis.store import SynthesisStore


def hash_of(folder: Path) -> str:
    return framework_hash(load_framework(folder))


def test_what_commands_write_next_to_a_framework_does_not_change_its_hash(
    shop_dir: Path,
) -> None:
    before = hash_of(shop_dir)
    with (
        SynthesisStore(shop_dir / "nexforge.sqlite") as live,
        SynthesisStore(
            shop_dir / "data" / "runs"  # a store under any name, anywhere, is no framework file
        ),
    ):
        live.remember_framework("fh", "shop", shop_dir)
        assert (shop_dir / "nexforge.sqlite-wal").exists()
        assert hash_of(shop_dir) == before
    writes = {
        "q.jsonl": '{"text": "hi"}\n',
        "sft.parquet": "PAR1",
        "report.json": "{}",
        "out/eval/framework/shop/m/results.jsonl": "{}\n",
        "out/eval/framework/shop/m/summary.json": "{}",
        "kit/personas.jsonl": '{"id": "new"}\n',
        ".build/cache.json": "{}",
        ".git/HEAD": "ref: refs/heads/main\n",
        "tools/__pycache__/shop.cpython-311.pyc": "\0",
        "data/old.db-journal": "\0",
        ".DS_Store": "\0",
    }
    for relative, text in writes.items():
        (shop_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (shop_dir / relative).write_text(text, encoding="utf-8")
    assert hash_of(shop_dir) == before


@pytest.mark.parametrize(
    "relative",
    [
        "framework.yaml",
        "agents/orders.yaml",
        "policy.md",  # a prompt file at the root
        "tools/shop.py",
        "data/shop.sqlite",  # the declared seed
        "data/files/receipts/order-1001.txt",  # the declared files folder
    ],
)
def test_a_change_to_what_defines_the_framework_changes_its_hash(
    shop_dir: Path, relative: str
) -> None:
    before = hash_of(shop_dir)
    with (shop_dir / relative).open("ab") as handle:
        handle.write(b"\n")
    assert hash_of(shop_dir) != before


def test_data_files_and_databases_a_tool_reads_are_part_of_the_framework(
    shop_dir: Path,
) -> None:
    before = hash_of(shop_dir)
    (shop_dir / "data" / "catalog.jsonl").write_text('{"sku": "BK-TRAIL"}\n', encoding="utf-8")
    with_catalog = hash_of(shop_dir)
    assert with_catalog != before
    db = sqlite3.connect(shop_dir / "data" / "prices.sqlite")
    db.execute("CREATE TABLE prices (sku TEXT, price REAL)")
    db.commit()
    db.close()
    assert hash_of(shop_dir) != with_catalog
