"""What ``nexforge status`` reports: counts per stage and state of a synthesis store."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from nexforge.synthesis.store_schema import BOUND


@dataclass
class StoreStatus:
    """Counts per stage and state, as ``nexforge status`` prints them."""

    queries: int = 0
    queries_by_framework: dict[str, int] = field(default_factory=dict)
    rejected_queries: int = 0
    planned_rollouts: int = 0
    rollouts: dict[str, int] = field(default_factory=dict)
    """``done`` / ``failed`` / ``pending`` (planned and not yet stored)."""
    verdicts: dict[str, dict[str, int]] = field(default_factory=dict)
    """Stage -> {"passed": n, "failed": n} rollouts (turn-level verdicts are not counted,
    nor verdicts on content a rollout no longer holds)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "queries": {
                "total": self.queries,
                "rejected": self.rejected_queries,
                "by_framework": self.queries_by_framework,
            },
            "rollouts": {"planned": self.planned_rollouts, **self.rollouts},
            "verdicts": self.verdicts,
        }


def read_status(db: sqlite3.Connection) -> StoreStatus:
    """Counts per stage and state, read from the store's tables."""
    status = StoreStatus()
    by_framework = db.execute(
        "SELECT json_extract(record, '$.framework'), COUNT(*) FROM queries GROUP BY 1"
    ).fetchall()
    status.queries_by_framework = {str(name or "-"): n for name, n in by_framework}
    status.queries = sum(status.queries_by_framework.values())
    status.rejected_queries = db.execute("SELECT COUNT(*) FROM rejected_queries").fetchone()[0]
    status.planned_rollouts = db.execute("SELECT COUNT(*) FROM planned_rollouts").fetchone()[0]
    counts = dict(db.execute("SELECT status, COUNT(*) FROM rollouts GROUP BY status"))
    pending = db.execute(
        "SELECT COUNT(*) FROM planned_rollouts p "
        "WHERE NOT EXISTS (SELECT 1 FROM rollouts r WHERE r.key = p.key)"
    ).fetchone()[0]
    status.rollouts = {
        "done": counts.get("done", 0),
        "failed": counts.get("failed", 0),
        "pending": pending,
    }
    for stage, passed, n in db.execute(
        f"SELECT v.stage, v.passed, COUNT(*) FROM verdicts v {BOUND} "
        "WHERE v.turn = -1 GROUP BY v.stage, v.passed"
    ):
        status.verdicts.setdefault(stage, {"passed": 0, "failed": 0})[
            "passed" if passed else "failed"
        ] = n
    return status
