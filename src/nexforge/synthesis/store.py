"""The synthesis store: one SQLite database (WAL) for queries, rollouts, verdicts and counts.

Every write is one transaction, so a killed process (even SIGKILL) leaves each record
either whole or absent, and re-running the same command finishes the rest. The schema
carries a version; ``MIGRATIONS`` upgrades older stores in place and a store written by
a newer NexForge is refused rather than misread.

Several commands may share a store (docs/security.md, "Store integrity"): a done rollout
is never replaced; writers claim the rollouts they run (``store_claims``); a verdict is
bound to the content it judged and is neither kept nor returned once the rollout holds
other content; no read keeps a statement open between calls, so a reader can always
write, and ``snapshot`` gives a long read one consistent state.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nexforge.core.errors import NexForgeError
from nexforge.synthesis.records import (
    QueryRecord,
    RolloutRecord,
    RolloutStatus,
    Verdict,
    rollout_hash,
)
from nexforge.synthesis.store_claims import ClaimOutcome, ClaimOwner, claim, release
from nexforge.synthesis.store_schema import BACKFILLS, BOUND, MIGRATIONS, SCHEMA_VERSION
from nexforge.synthesis.store_status import StoreStatus, read_status

log = logging.getLogger(__name__)

PAGE = 64
"""Rollout records read per statement while iterating."""


class StoreError(NexForgeError):
    """The store cannot be opened or does not hold what was asked for."""


class SynthesisStore:
    """The pipeline's database. Use as a context manager or call ``close()``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a directory, not a store file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise StoreError(f"{self.path} is not a NexForge store: {exc}") from exc
            raise StoreError(
                f"{self.path} stayed locked by another NexForge command (upgrading or writing "
                "it): run this one again when it is done"
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a NexForge store: {exc}") from exc

    # --- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SynthesisStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (taken immediately, so writers queue instead of failing)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one state of the store, whatever other processes write meanwhile
        (a read transaction; write nothing inside). Nested snapshots share the outer one."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0])

    def _migrate(self) -> None:
        with self.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}; this NexForge reads up to "
                    f"{SCHEMA_VERSION}: upgrade NexForge"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        db.execute(statement)
                if target in BACKFILLS:
                    BACKFILLS[target](db)
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    # --- queries ---------------------------------------------------------------------------

    def add_query(
        self, record: QueryRecord, *, bump_path: bool = False, db: sqlite3.Connection | None = None
    ) -> bool:
        """Store a keyed query; False when a query with its key is already stored.

        ``bump_path`` counts its problem-type path for the sampler in the same transaction.
        """
        if not record.key or not record.framework_hash:
            raise ValueError("store keyed queries: call record.keyed(framework_hash) first")
        if db is None:
            with self.transaction() as tx:
                return self.add_query(record, bump_path=bump_path, db=tx)
        seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM queries").fetchone()[0]
        cursor = db.execute(
            "INSERT OR IGNORE INTO queries (key, seq, framework_hash, seed, slot, record, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                record.key,
                seq,
                record.framework_hash,
                record.seed,
                record.slot,
                record.model_dump_json(),
                time.time(),
            ),
        )
        added = cursor.rowcount == 1
        if added and bump_path and record.path:
            self.bump_path(record.framework_hash, record.path, db=db)
        return added

    def add_queries(self, records: Iterable[QueryRecord]) -> int:
        """Store many keyed queries in one transaction; returns how many were new."""
        with self.transaction() as db:
            return sum(self.add_query(r, db=db) for r in records)

    def queries(
        self, framework_hash: str | None = None, *, seed: int | None = None
    ) -> list[QueryRecord]:
        """Stored queries in the order they were stored."""
        where, params = _where({"framework_hash": framework_hash, "seed": seed})
        rows = self._db.execute(
            f"SELECT record FROM queries{where} ORDER BY seq", params
        ).fetchall()
        return [QueryRecord.model_validate_json(row[0]) for row in rows]

    def query(self, key: str) -> QueryRecord | None:
        row = self._db.execute("SELECT record FROM queries WHERE key = ?", (key,)).fetchone()
        return QueryRecord.model_validate_json(row[0]) if row else None

    def add_rejection(
        self,
        framework_hash: str,
        seed: int,
        slot: int,
        attempt: int,
        reason: str,
        text: str | None = None,
        *,
        db: sqlite3.Connection | None = None,
    ) -> None:
        """Record a query attempt the generator threw away, and why."""
        sql = (
            "INSERT OR REPLACE INTO rejected_queries "
            "(framework_hash, seed, slot, attempt, reason, text) VALUES (?, ?, ?, ?, ?, ?)"
        )
        params = (framework_hash, seed, slot, attempt, reason, text)
        if db is not None:
            db.execute(sql, params)
            return
        with self.transaction() as tx:
            tx.execute(sql, params)

    def rejections(self, framework_hash: str, seed: int) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT slot, attempt, reason, text FROM rejected_queries "
            "WHERE framework_hash = ? AND seed = ? ORDER BY slot, attempt",
            (framework_hash, seed),
        ).fetchall()
        return [dict(zip(("slot", "attempt", "reason", "text"), row, strict=True)) for row in rows]

    # --- the sampler's counts and grown problem types ----------------------------------------

    def path_counts(self, framework_hash: str) -> dict[tuple[str, ...], int]:
        rows = self._db.execute(
            "SELECT path, count FROM path_counts WHERE framework_hash = ?", (framework_hash,)
        ).fetchall()
        return {tuple(json.loads(path)): count for path, count in rows}

    def bump_path(
        self,
        framework_hash: str,
        path: Sequence[str],
        delta: int = 1,
        *,
        db: sqlite3.Connection | None = None,
    ) -> None:
        sql = (
            "INSERT INTO path_counts (framework_hash, path, count) VALUES (?, ?, ?) "
            "ON CONFLICT (framework_hash, path) DO UPDATE SET count = count + excluded.count"
        )
        params = (framework_hash, json.dumps(list(path)), delta)
        if db is not None:
            db.execute(sql, params)
            return
        with self.transaction() as tx:
            tx.execute(sql, params)

    def add_grown_type(self, framework_hash: str, parent_id: str, node: dict[str, Any]) -> bool:
        """Add a problem type under ``parent_id``; False when its id is already taken.

        Concurrent growers are safe: the id is the primary key, inside one transaction.
        """
        with self.transaction() as db:
            seq = db.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM grown_types WHERE framework_hash = ?",
                (framework_hash,),
            ).fetchone()[0]
            cursor = db.execute(
                "INSERT OR IGNORE INTO grown_types (framework_hash, node_id, parent_id, node, seq) "
                "VALUES (?, ?, ?, ?, ?)",
                (framework_hash, str(node["id"]), parent_id, json.dumps(node), seq),
            )
            return cursor.rowcount == 1

    def grown_types(self, framework_hash: str) -> list[tuple[str, dict[str, Any]]]:
        """``(parent id, node)`` for each grown type, in the order they were added."""
        rows = self._db.execute(
            "SELECT parent_id, node FROM grown_types WHERE framework_hash = ? ORDER BY seq",
            (framework_hash,),
        ).fetchall()
        return [(parent, json.loads(node)) for parent, node in rows]

    # --- rollouts ----------------------------------------------------------------------------

    def plan_rollouts(self, items: Iterable[tuple[str, str, int]]) -> None:
        """Record ``(rollout key, query key, sample)`` as work to do (idempotent)."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO planned_rollouts (key, query_key, sample) VALUES (?, ?, ?)",
                list(items),
            )

    def claim_rollout(
        self, key: str, owner: ClaimOwner, *, lease_s: float, retry_failed: bool = False
    ) -> ClaimOutcome:
        """Claim rollout ``key`` for ``owner`` to run, unless it is stored (a failed one is
        claimable with ``retry_failed``) or another live writer holds it (``store_claims``)."""
        with self.transaction() as db:
            return claim(db, key, owner, lease_s=lease_s, retry_failed=retry_failed)

    def release_claims(self, owner: ClaimOwner) -> None:
        """End every claim ``owner`` still holds (what it did not store stays pending)."""
        with self.transaction() as db:
            release(db, owner)

    def put_rollout(self, record: RolloutRecord, *, owner: ClaimOwner | None = None) -> bool:
        """Store a rollout whole, and end ``owner``'s claim on it; True when the store now
        holds this record.

        A done rollout is never replaced: a different copy is discarded (False, logged). A
        failed one may be replaced by a later attempt; a replaced rollout loses its verdicts,
        which judged the content it no longer has.
        """
        text = record.model_dump_json()
        digest = rollout_hash(text)
        run_id = record.trajectory.run_id if record.trajectory is not None else None
        with self.transaction() as db:
            if owner is not None:
                release(db, owner, record.key)
            row = db.execute(
                "SELECT status, rollout_hash FROM rollouts WHERE key = ?", (record.key,)
            ).fetchone()
            if row is not None and row[1] == digest:
                return True
            if row is not None and row[0] == "done":
                log.warning(
                    "rollout %s is already stored as done: this other copy is discarded",
                    record.key,
                )
                return False
            db.execute("DELETE FROM verdicts WHERE rollout_key = ?", (record.key,))
            db.execute(
                "INSERT OR REPLACE INTO rollouts "
                "(key, query_key, sample, status, run_id, record, finished_at, rollout_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.key,
                    record.query_key,
                    record.sample,
                    record.status,
                    run_id,
                    text,
                    time.time(),
                    digest,
                ),
            )
        return True

    def rollout_states(self) -> dict[str, RolloutStatus]:
        rows = self._db.execute("SELECT key, status FROM rollouts").fetchall()
        return {key: status for key, status in rows}

    def rollout(self, ident: str) -> RolloutRecord | None:
        """A rollout by its key, its run id, or a unique prefix of either."""
        for column in ("key", "run_id"):
            row = self._db.execute(
                f"SELECT record FROM rollouts WHERE {column} = ?", (ident,)
            ).fetchone()
            if row:
                return RolloutRecord.model_validate_json(row[0])
        rows = self._db.execute(
            "SELECT record FROM rollouts WHERE key LIKE ? OR run_id LIKE ? LIMIT 2",
            (ident + "%", ident + "%"),
        ).fetchall()
        if len(rows) > 1:
            raise StoreError(f"{ident!r} matches more than one rollout: give more of it")
        return RolloutRecord.model_validate_json(rows[0][0]) if rows else None

    def rollouts(
        self, *, status: RolloutStatus | None = None, query_key: str | None = None
    ) -> Iterator[RolloutRecord]:
        """Stored rollouts, ordered by query then sample (stable across runs): those stored
        when iteration starts, read a page at a time (no statement stays open between
        records, so the caller may write to the store as it goes)."""
        where, params = _where({"r.status": status, "r.query_key": query_key})
        keys = [
            key
            for (key,) in self._db.execute(
                "SELECT r.key FROM rollouts r LEFT JOIN queries q ON q.key = r.query_key"
                f"{where} ORDER BY q.seq, r.query_key, r.sample",
                params,
            ).fetchall()
        ]
        for start in range(0, len(keys), PAGE):
            page = keys[start : start + PAGE]
            marks = ", ".join("?" * len(page))
            also = where.replace(" WHERE ", " AND ", 1)
            found = dict(
                self._db.execute(
                    f"SELECT r.key, r.record FROM rollouts r WHERE r.key IN ({marks}){also}",
                    [*page, *params],
                ).fetchall()
            )
            for key in page:
                if key in found:  # not replaced by a record outside the filter meanwhile
                    yield RolloutRecord.model_validate_json(found[key])

    # --- frameworks --------------------------------------------------------------------------

    def remember_framework(self, framework_hash: str, name: str | None, path: str | Path) -> None:
        """Record where the framework with this hash lives (the latest path wins)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO frameworks (hash, name, path, recorded_at) "
                "VALUES (?, ?, ?, ?)",
                (framework_hash, name, str(Path(path).resolve()), time.time()),
            )

    def frameworks(self) -> dict[str, tuple[str | None, Path]]:
        """Framework hash -> (name, folder or file) as last recorded by queries/rollouts."""
        rows = self._db.execute("SELECT hash, name, path FROM frameworks").fetchall()
        return {fh: (name, Path(path)) for fh, name, path in rows}

    # --- verdicts ----------------------------------------------------------------------------

    def put_verdicts(self, verdicts: Sequence[Verdict], *, replace: bool = False) -> int:
        """Store verdicts; a stage's new verdict on the same rollout and turn replaces the old.
        Returns how many were stored.

        Each verdict must say which content it judged (``records.judged``). One whose rollout
        no longer holds that content (stored again meanwhile) is not stored: it judged
        another trajectory. ``replace``: each (rollout, stage) the stored verdicts belong to
        is replaced as a set, so a turn-level verdict of an earlier run that this one did
        not repeat is removed.
        """
        if any(v.rollout_hash is None for v in verdicts):
            raise ValueError("a verdict must name the content it judged: see records.judged")
        with self.transaction() as db:
            current = self._content_hashes(db, {v.rollout_key for v in verdicts})
            kept = [v for v in verdicts if current.get(v.rollout_key) == v.rollout_hash]
            if replace:
                db.executemany(
                    "DELETE FROM verdicts WHERE rollout_key = ? AND stage = ?",
                    sorted({(v.rollout_key, v.stage) for v in kept}),
                )
            db.executemany(
                "INSERT OR REPLACE INTO verdicts "
                "(rollout_key, stage, turn, passed, record, rollout_hash) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        v.rollout_key,
                        v.stage,
                        -1 if v.turn is None else v.turn,
                        int(v.passed),
                        v.model_dump_json(),
                        v.rollout_hash,
                    )
                    for v in kept
                ],
            )
        if len(kept) < len(verdicts):
            log.info(
                "%d verdicts not stored: their rollouts were stored again while they were "
                "judged (verify again to judge the new content)",
                len(verdicts) - len(kept),
            )
        return len(kept)

    @staticmethod
    def _content_hashes(db: sqlite3.Connection, keys: set[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        ordered = sorted(keys)
        for start in range(0, len(ordered), PAGE):
            page = ordered[start : start + PAGE]
            marks = ", ".join("?" * len(page))
            found.update(
                db.execute(
                    f"SELECT key, rollout_hash FROM rollouts WHERE key IN ({marks})", page
                ).fetchall()
            )
        return found

    def verdicts(self, rollout_key: str) -> list[Verdict]:
        """The verdicts on the content the rollout holds now."""
        rows = self._db.execute(
            f"SELECT v.record FROM verdicts v {BOUND} WHERE v.rollout_key = ? ORDER BY v.rowid",
            (rollout_key,),
        ).fetchall()
        return [Verdict.model_validate_json(row[0]) for row in rows]

    def all_verdicts(self) -> dict[str, list[Verdict]]:
        """Every verdict on a rollout's current content, grouped by rollout key (each group
        ordered as ``verdicts``)."""
        grouped: dict[str, list[Verdict]] = {}
        rows = self._db.execute(f"SELECT v.record FROM verdicts v {BOUND} ORDER BY v.rowid")
        for (record,) in rows.fetchall():
            verdict = Verdict.model_validate_json(record)
            grouped.setdefault(verdict.rollout_key, []).append(verdict)
        return grouped

    # --- status ------------------------------------------------------------------------------

    def status(self) -> StoreStatus:
        """Counts per stage and state (``nexforge status``)."""
        return read_status(self._db)


def _where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """`` WHERE a = ? AND ...`` for the filters that are set (column names are ours)."""
    used = {column: value for column, value in filters.items() if value is not None}
    if not used:
        return "", []
    return " WHERE " + " AND ".join(f"{c} = ?" for c in used), list(used.values())
