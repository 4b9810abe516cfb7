"""Claims: which writer is running which rollout, so that writers sharing one store split
the work instead of running, and storing, the same rollout twice.

A writer claims a rollout in the transaction that checks it is not stored yet, and its
claim ends in the transaction that stores the rollout (or when the writer finishes). A
claim also ends when its owner is gone: a process on this host that is no longer running
(a ``kill -9`` leaves its claims behind, and the next run takes them over at once), or a
lease past its expiry, which covers owners on other hosts and reused process ids. The
lease is the longest a rollout can take (every attempt timing out) plus a margin, so a
live owner keeps its claims without renewing them.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ClaimOutcome = Literal["claimed", "stored", "busy"]
"""``claimed``: the caller runs it; ``stored``: already stored (nothing to do); ``busy``:
another live writer is running it."""


@dataclass(frozen=True)
class ClaimOwner:
    """One writer: a run of the rollout engine in one process."""

    token: str
    host: str
    pid: int

    @classmethod
    def this_process(cls) -> ClaimOwner:
        return cls(uuid.uuid4().hex, socket.gethostname(), os.getpid())


def claim(
    db: sqlite3.Connection, key: str, owner: ClaimOwner, *, lease_s: float, retry_failed: bool
) -> ClaimOutcome:
    """Claim rollout ``key`` for ``owner`` (inside the caller's write transaction)."""
    row = db.execute("SELECT status FROM rollouts WHERE key = ?", (key,)).fetchone()
    if row is not None and not (retry_failed and row[0] == "failed"):
        return "stored"
    held = db.execute(
        "SELECT owner, host, pid, expires_at FROM rollout_claims WHERE key = ?", (key,)
    ).fetchone()
    now = time.time()
    if held is not None and held[0] != owner.token and _live(*held[1:], now=now):
        return "busy"
    db.execute(
        "INSERT OR REPLACE INTO rollout_claims (key, owner, host, pid, expires_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (key, owner.token, owner.host, owner.pid, now + lease_s),
    )
    return "claimed"


def release(db: sqlite3.Connection, owner: ClaimOwner, key: str | None = None) -> None:
    """End ``owner``'s claim on ``key``, or all of its claims."""
    if key is None:
        db.execute("DELETE FROM rollout_claims WHERE owner = ?", (owner.token,))
    else:
        db.execute("DELETE FROM rollout_claims WHERE key = ? AND owner = ?", (key, owner.token))


def _live(host: str, pid: int, expires_at: float, *, now: float) -> bool:
    if expires_at <= now:
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed process its parent has not reaped yet (Linux; elsewhere: not known)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
