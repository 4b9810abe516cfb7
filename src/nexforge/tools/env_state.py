"""EnvState: one run's private copy of an environment's state, and its canonical hash.

The state is a SQLite database and/or a folder of files, copied from the seed when the
run starts, plus a clock and an id generator owned by the run. Tools reach it through a
parameter (see ``nexforge.tools.environment``); the environment serializes their calls,
so the connection is shared between worker threads under one lock.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import shutil
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nexforge.tools.workspace import resolve_in_workspace

log = logging.getLogger(__name__)

DEFAULT_EPOCH = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
DEFAULT_STEP = timedelta(minutes=1)
# Small UTF-8 files are shown as text in snapshots so a diff of two snapshots is readable.
SNAPSHOT_TEXT_LIMIT = 64 * 1024


@dataclass
class DeterministicClock:
    """A run's clock: ``start + ticks * step``. The environment ticks it once before each
    state-changing call, so a call sees the same time in the original run and in replay."""

    start: datetime = DEFAULT_EPOCH
    step: timedelta = DEFAULT_STEP
    ticks: int = 0

    def now(self) -> datetime:
        return self.start + self.ticks * self.step

    def iso(self) -> str:
        """``now()`` as ISO 8601 in UTC with a ``Z`` suffix, e.g. ``2026-01-01T09:01:00Z``."""
        return self.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def tick(self) -> None:
        self.ticks += 1


@dataclass
class IdGenerator:
    """Deterministic ids per prefix: ``next("RF")`` -> ``RF-0001``, ``RF-0002``..."""

    counters: dict[str, int] = field(default_factory=dict)

    def next(self, prefix: str = "ID") -> str:
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return f"{prefix}-{n:04d}"


@dataclass(frozen=True)
class Seed:
    """Where a fresh state comes from; either part may be absent."""

    database: Path | None
    files: Path | None
    clock_start: datetime = DEFAULT_EPOCH
    clock_step: timedelta = DEFAULT_STEP


class EnvState:
    """The run's own copy of the state. ``db`` and ``files`` are what tools act on."""

    def __init__(self, seed: Seed, directory: Path, run_id: str) -> None:
        self.run_id = run_id
        self.directory = directory
        self._seed = seed
        self.lock = threading.RLock()
        """Held by the environment around every tool call (the connection is shared)."""
        self.write_order = asyncio.Lock()
        """Queues the run's state-changing calls; FIFO, so they apply in arrival order."""
        self.clock = DeterministicClock(seed.clock_start, seed.clock_step)
        self.ids = IdGenerator()
        self._files = directory / "files"
        self._db: sqlite3.Connection | None = None
        if seed.database is not None:
            # isolation_level=None: the environment opens and ends each call's transaction
            # itself (a savepoint), so a failed call is rolled back as a whole.
            self._db = sqlite3.connect(
                directory / "state.sqlite", check_same_thread=False, isolation_level=None
            )
            # The copy is disposable; durability would only cost an fsync per call.
            self._db.execute("PRAGMA synchronous=OFF")
        self._copy_seed()

    @property
    def db(self) -> sqlite3.Connection:
        """The run's database connection. Tools must not commit or roll back themselves."""
        if self._db is None:
            raise RuntimeError("this environment has no database (declare a seed)")
        return self._db

    @property
    def has_db(self) -> bool:
        return self._db is not None

    @property
    def files(self) -> Path:
        """The run's copy of the files folder (empty when no files were seeded)."""
        return self._files

    def file(self, relative: str) -> Path:
        """``relative`` inside the files folder; a path that escapes it is a ToolInputError."""
        return resolve_in_workspace(self._files, relative)

    def reset(self) -> None:
        """Back to the seed: database content, files, clock and ids."""
        with self.lock:
            self._copy_seed()
            self.clock.ticks = 0
            self.ids.counters.clear()

    def close(self) -> None:
        with self.lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able canonical view: every table (schema, columns, sorted rows) and every
        file (sha256, size, and the text of small UTF-8 files), for diffs and debugging."""
        with self.lock:
            return {"tables": self._tables(), "files": self._file_entries(with_text=True)}

    def state_hash(self) -> str:
        """sha256 over the tables and the files' relative paths and bytes.

        Stable across copies, runs and processes; rows are ordered by content (primary key
        first), so it does not depend on the order rows were inserted in.
        """
        with self.lock:
            files = {p: e["sha256"] for p, e in self._file_entries(with_text=False).items()}
            view = {"tables": self._tables(), "files": files}
        return hashlib.sha256(canonical_json(view).encode()).hexdigest()

    def _copy_seed(self) -> None:
        if self._db is not None and self._seed.database is not None:
            # The backup API copies a consistent image even if the seed is open elsewhere
            # (a raw file copy of a live database can tear); read-only so it is never changed.
            source = sqlite3.connect(f"file:{self._seed.database}?mode=ro", uri=True)
            try:
                source.backup(self._db)
            finally:
                source.close()
        shutil.rmtree(self._files, ignore_errors=True)
        if self._seed.files is not None:
            shutil.copytree(self._seed.files, self._files, symlinks=True)
        else:
            self._files.mkdir(parents=True)

    def _tables(self) -> dict[str, Any]:
        if self._db is None:
            return {}
        db = self._db
        objects = db.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL"
        ).fetchall()
        tables: dict[str, Any] = {}
        for kind, name, _, sql in sorted(objects, key=lambda o: (o[0], o[1])):
            if kind != "table":
                continue
            info = db.execute(f"PRAGMA table_info({_quote(name)})").fetchall()
            columns = [row[1] for row in info]
            pk = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5] > 0]
            order = [columns.index(c) for c in pk] + list(range(len(columns)))
            rows = db.execute(f"SELECT * FROM {_quote(name)}").fetchall()
            rows.sort(key=lambda r: tuple(_sort_key(r[i]) for i in order))
            tables[name] = {
                "schema": sql,
                "columns": columns,
                "rows": [[_json_value(v) for v in r] for r in rows],
            }
        others = [[k, n, t, s] for k, n, t, s in sorted(objects) if k != "table"]
        if others:
            tables["(indexes, views, triggers)"] = others
        return tables

    def _file_entries(self, *, with_text: bool) -> dict[str, dict[str, Any]]:
        entries: dict[str, dict[str, Any]] = {}
        for path in sorted(self._files.rglob("*")):
            relative = path.relative_to(self._files).as_posix()
            if path.is_symlink():
                data = f"symlink -> {path.readlink()}".encode()
            elif path.is_file():
                data = path.read_bytes()
            else:
                continue
            entry: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            if with_text and len(data) <= SNAPSHOT_TEXT_LIMIT:
                # Binary files are left as hash and size.
                with contextlib.suppress(UnicodeDecodeError):
                    entry["text"] = data.decode("utf-8")
            entries[relative] = entry
        return entries


def canonical_json(value: Any) -> str:
    """The one serialization hashes are computed over (sorted keys, no whitespace)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _sort_key(value: Any) -> tuple[int, Any]:
    # SQLite's own ORDER BY would honour column collations (NOCASE ties are unordered);
    # sorting here by (storage class, value) is total and the same everywhere.
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, bytes(value))


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"blob": base64.b64encode(value).decode("ascii")}
    return value
