"""Fixtures for the export tests: a real SQLite store, and one hand-built verified rollout."""

from __future__ import annotations

import pytest
from export_fixtures import passing, query, rollout

from nexforge.synthesis.records import QueryRecord, RolloutRecord, Verdict


@pytest.fixture
def shop_query() -> QueryRecord:
    return query()


@pytest.fixture
def record(shop_query: QueryRecord) -> RolloutRecord:
    return rollout(shop_query)


@pytest.fixture
def verdicts(record: RolloutRecord) -> list[Verdict]:
    """Passed, judged 0.8, and turn 1 (the lead's refund without an amount) recovered."""
    return passing(record, judge=0.8, recovered_turn=1)
