"""The store's schema: versioned, migrated in place, never misread."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from shop_script import queries

from nexforge.synthesis.store import StoreError, SynthesisStore
from nexforge.synthesis.store_schema import MIGRATIONS, SCHEMA_VERSION


def _version_one_store(path: Path) -> None:
    """A store as NexForge 0.1 with schema version 1 wrote it."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.executescript(MIGRATIONS[1])
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.commit()
    db.close()


def test_a_version_one_store_is_migrated_and_keeps_its_queries(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _version_one_store(path)
    with SynthesisStore(path) as store:
        store.add_queries(queries(3, "fh1"))
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.execute("DROP TABLE frameworks")
    db.commit()
    db.close()

    with SynthesisStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 2
        assert len(store.queries("fh1")) == 3
        assert store.frameworks() == {}


def test_a_store_from_a_newer_nexforge_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    SynthesisStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=r"schema version 3; this NexForge reads up to 2"):
        SynthesisStore(path)


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("these are not the tables you are looking for\n" * 100)
    with pytest.raises(StoreError, match="is not a NexForge store"):
        SynthesisStore(path)


def test_framework_locations_are_remembered_and_the_latest_path_wins(tmp_path: Path) -> None:
    first, moved = tmp_path / "a" / "framework.yaml", tmp_path / "b" / "framework.yaml"
    with SynthesisStore(tmp_path / "s.sqlite") as store:
        store.remember_framework("fh1", "shop", first)
        store.remember_framework("fh2", None, tmp_path / "other")
        store.remember_framework("fh1", "shop", moved)
        assert store.frameworks() == {
            "fh1": ("shop", moved.resolve()),
            "fh2": (None, (tmp_path / "other").resolve()),
        }
