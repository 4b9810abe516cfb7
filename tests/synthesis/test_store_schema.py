"""The store's schema: versioned, migrated in place, never misread."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from shop_script import queries, shop_responder

from nexforge.quality.cascade import VerifyOptions, verify_store
from nexforge.runtime.config.framework import load_framework
from nexforge.synthesis.engine_local import run_local
from nexforge.synthesis.fingerprint import framework_hash
from nexforge.synthesis.rollout import RolloutContext, RolloutOptions, plan_tasks
from nexforge.synthesis.store import StoreError, SynthesisStore
from nexforge.synthesis.store_schema import MIGRATIONS, SCHEMA_VERSION
from nexforge.testing import ScriptedModel


def _version_one_store(path: Path) -> None:
    """A store as NexForge 0.1 with schema version 1 wrote it."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    db.executescript(MIGRATIONS[1])
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.commit()
    db.close()


def _as_written_by(path: Path, version: int) -> None:
    """The store at ``path`` as a NexForge that wrote schema ``version`` would have left it."""
    db = sqlite3.connect(path)
    if version < 3:
        db.execute("UPDATE verdicts SET record = json_remove(record, '$.rollout_hash')")
        db.execute("ALTER TABLE rollouts DROP COLUMN rollout_hash")
        db.execute("ALTER TABLE verdicts DROP COLUMN rollout_hash")
        db.execute("DROP TABLE rollout_claims")
    if version < 2:
        db.execute("DROP TABLE frameworks")
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    db.commit()
    db.close()


def test_a_version_one_store_is_migrated_and_keeps_its_queries(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _version_one_store(path)
    with SynthesisStore(path) as store:
        store.add_queries(queries(3, "fh1"))
    _as_written_by(path, 1)

    with SynthesisStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 3
        assert len(store.queries("fh1")) == 3
        assert store.frameworks() == {}


def test_a_store_from_a_newer_nexforge_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    SynthesisStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=r"schema version 4; this NexForge reads up to 3"):
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


async def test_a_version_two_store_keeps_its_rollouts_and_verifies_its_verdicts_again(
    shop_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "v2.sqlite"
    framework = load_framework(shop_dir)
    ctx = RolloutContext(
        framework,
        framework_hash(framework),
        RolloutOptions(workers=4),
        model=ScriptedModel(shop_responder),  # type: ignore[arg-type]
    )
    tasks = plan_tasks(queries(3, ctx.framework_hash), samples=1)
    with SynthesisStore(path) as store:
        await run_local(tasks, ctx, store)
        await verify_store(store, VerifyOptions())
        records = list(store.rollouts())
    _as_written_by(path, 2)

    with SynthesisStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert list(store.rollouts()) == records
        again = await run_local(tasks, ctx, store)
        assert (again.already_done, again.done) == (3, 0)
        # Which content a verdict of schema 2 judged is unknown: none is used until
        # `verify` has judged the rollouts again.
        assert store.all_verdicts() == {} and store.status().verdicts == {}
        summary = await verify_store(store, VerifyOptions())
        assert (summary.stages["structure"].passed, summary.stages["structure"].skipped) == (3, 0)
        assert {v.rollout_hash for r in records for v in store.verdicts(r.key)} == {
            r.content_hash() for r in records
        }
        assert store.status().verdicts["structure"] == {"passed": 3, "failed": 0}
