"""The default export filter against the labelled set (tests/quality/labelled/cases.py):
no junk kept, and at least 90% of the good rollouts kept."""

from __future__ import annotations

from pathlib import Path

from cases import CASES, GOOD, Case
from labelled_store import labelled_outcomes
from run_builder import Delegate

from nexforge.quality.stats import compute_stats
from nexforge.synthesis.store import SynthesisStore


def test_the_set_is_large_and_spans_two_frameworks_and_every_kind() -> None:
    assert len(CASES) >= 40
    assert {c.framework for c in CASES} == {"shop", "library"}
    assert sum(c.label == GOOD for c in CASES) >= 20
    assert len({c.label for c in CASES if c.label != GOOD}) >= 15
    assert len({c.query for c in CASES}) == len(CASES)


async def test_the_default_filter_keeps_no_junk_and_nearly_all_good_rollouts(
    tmp_path: Path,
) -> None:
    outcomes = await labelled_outcomes(tmp_path)
    junk_kept = [f"{o.case.name} ({o.case.label})" for o in outcomes if o.junk_kept]
    assert junk_kept == []
    good = [o for o in outcomes if o.case.label == GOOD]
    dropped = [f"{o.case.name}: {o.decision.reason}" for o in good if not o.decision.keep]
    assert len(dropped) <= len(good) // 10, dropped


def _delegates_to(case: Case, agent: str) -> bool:
    return any(isinstance(s, Delegate) and s.agent == agent for s in case.steps)


async def test_stats_report_relevance_sub_agents_and_specialists_never_used(
    tmp_path: Path,
) -> None:
    shop_without_catalog = [
        c for c in CASES if c.framework == "shop" and not _delegates_to(c, "catalog")
    ]
    await labelled_outcomes(tmp_path, shop_without_catalog)
    with SynthesisStore(tmp_path / "labelled.sqlite") as store:
        stats = compute_stats(store).to_dict()

    assert stats["findings"] == [
        f"framework shop: 1 of 2 specialists never work in its {len(shop_without_catalog)} "
        "rollouts (catalog)"
    ]
    shop = stats["by_framework"]["shop"]
    assert shop["sub_agent_episodes_by_agent"]["orders"] >= 10
    assert "catalog" not in shop["sub_agent_episodes_by_agent"]
    coverage = shop["distributions"]["type_tool_coverage"]
    assert coverage["n"] == len(shop_without_catalog) and 0 <= coverage["min"] < coverage["max"]
    assert shop["distributions"]["off_type_calls_per_rollout"]["max"] >= 1  # the off-topic one
