"""The synthesis store's tables, one migration per schema version (applied in order).

A migration is SQL, optionally followed by a Python step (``BACKFILLS``) for what SQL
cannot compute, in the same transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from pydantic import ValidationError

from nexforge.synthesis.records import RolloutRecord

SCHEMA_VERSION = 3

BOUND = "JOIN rollouts r ON r.key = v.rollout_key AND r.rollout_hash = v.rollout_hash"
"""Joins verdicts ``v`` to their rollout only while it holds the content they judged."""

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE queries (
        key TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        framework_hash TEXT NOT NULL,
        seed INTEGER,
        slot INTEGER,
        record TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX queries_by_framework ON queries (framework_hash, seed, slot);
    CREATE TABLE rejected_queries (
        framework_hash TEXT NOT NULL,
        seed INTEGER NOT NULL,
        slot INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        reason TEXT NOT NULL,
        text TEXT,
        PRIMARY KEY (framework_hash, seed, slot, attempt)
    );
    CREATE TABLE path_counts (
        framework_hash TEXT NOT NULL,
        path TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (framework_hash, path)
    );
    CREATE TABLE grown_types (
        framework_hash TEXT NOT NULL,
        node_id TEXT NOT NULL,
        parent_id TEXT NOT NULL,
        node TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (framework_hash, node_id)
    );
    CREATE TABLE planned_rollouts (
        key TEXT PRIMARY KEY,
        query_key TEXT NOT NULL,
        sample INTEGER NOT NULL
    );
    CREATE TABLE rollouts (
        key TEXT PRIMARY KEY,
        query_key TEXT NOT NULL,
        sample INTEGER NOT NULL,
        status TEXT NOT NULL,
        run_id TEXT,
        record TEXT NOT NULL,
        finished_at REAL NOT NULL
    );
    CREATE INDEX rollouts_by_query ON rollouts (query_key, sample);
    CREATE INDEX rollouts_by_run ON rollouts (run_id);
    CREATE TABLE verdicts (
        rollout_key TEXT NOT NULL,
        stage TEXT NOT NULL,
        turn INTEGER NOT NULL,
        passed INTEGER NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (rollout_key, stage, turn)
    );
    """,
    # Where each framework lives, so `verify` can replay on a fresh environment copy from
    # the store alone (the folder's hash is checked again before it is used).
    2: """
    CREATE TABLE frameworks (
        hash TEXT PRIMARY KEY,
        name TEXT,
        path TEXT NOT NULL,
        recorded_at REAL NOT NULL
    );
    """,
    # Integrity under kill/resume and concurrent writers: each rollout's content hash, the
    # content each verdict judged (NULL for older verdicts: unknown, so never used), and
    # the writers' claims on the rollouts they are running (see store_claims).
    3: """
    ALTER TABLE rollouts ADD COLUMN rollout_hash TEXT;
    ALTER TABLE verdicts ADD COLUMN rollout_hash TEXT;
    CREATE TABLE rollout_claims (
        key TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX rollout_claims_by_owner ON rollout_claims (owner);
    """,
}


def _hash_stored_rollouts(db: sqlite3.Connection) -> None:
    """Each stored rollout's content hash, as the cascade computes it from the record."""
    hashes = []
    for key, record in db.execute("SELECT key, record FROM rollouts"):
        try:
            hashes.append((RolloutRecord.model_validate_json(record).content_hash(), key))
        except ValidationError:  # unreadable here anyway: no hash, so no verdict applies
            continue
    db.executemany("UPDATE rollouts SET rollout_hash = ? WHERE key = ?", hashes)


BACKFILLS: dict[int, Callable[[sqlite3.Connection], None]] = {3: _hash_stored_rollouts}
