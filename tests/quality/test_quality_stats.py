"""``compute_stats``: pass rates, export decisions and distributions, overall and by group."""

from __future__ import annotations

from typing import Any

from quality_builders import (
    GOOD_OUTCOME,
    asks,
    episode,
    good_messages,
    good_trajectory,
    result,
    store_rollouts,
    tool_call,
    trajectory,
)

from nexforge.core.messages import Message
from nexforge.quality.cascade import VerifyOptions, verify_store
from nexforge.quality.stats import compute_stats
from nexforge.synthesis.store import SynthesisStore
from nexforge.testing import ScriptedModel, call

RECOVERED_QUERY = "Could you cancel order 1003 for me? I do not need it any more."
CUT_OFF_QUERY = "Where is my order 1001? It has not arrived yet."


async def verified_store(store: SynthesisStore) -> None:
    """easy: a clean run and one that recovered from a bad call; hard: a run cut off by a
    timeout and a rollout that failed without a trajectory. The judge passes both easy."""
    recovered = good_messages(RECOVERED_QUERY)
    recovered[1:1] = [
        asks(tool_call("c0", "get_order", order_id="1003")),
        result("c0", "get_order", "'1003' is not of type 'integer'", error=True),
    ]
    store_rollouts(
        store,
        good_trajectory(),
        trajectory(episode(*recovered), query=RECOVERED_QUERY),
        difficulty="easy",
        expected=GOOD_OUTCOME,
    )
    cut_off = episode(
        Message.user(CUT_OFF_QUERY), asks(tool_call("c1", "get_order", order_id=1001))
    )
    store_rollouts(
        store,
        trajectory(cut_off, query=CUT_OFF_QUERY, final=None, stop_reason="timeout"),
        None,
        difficulty="hard",
        expected=GOOD_OUTCOME,
    )
    scores = {"completeness": 1.0, "correctness": 0.9, "tool_use": 0.8, "reason": "Good."}
    judge = ScriptedModel([call("submit_judge", **scores)] * 2, name="judge")
    await verify_store(store, VerifyOptions(judge=judge, judge_backoff_s=0.0))
    judge.assert_done()


async def test_stats_count_stages_decisions_and_what_trajectories_hold(
    store: SynthesisStore,
) -> None:
    await verified_store(store)
    overall: dict[str, Any] = compute_stats(store).to_dict()["overall"]
    assert overall["rollouts"] == 4
    assert overall["status"] == {"done": 3, "failed": 1}
    assert overall["stages"]["structure"] == {
        "passed": 3,
        "failed": 1,
        "not_run": 0,
        "pass_rate": 0.75,
        "top_reasons": {"no trajectory": 1},
    }
    assert overall["stages"]["behaviour"]["pass_rate"] == 0.5
    # the failed rollout's query ("Refund my last order.") is a fragment
    assert overall["stages"]["query"]["top_reasons"] == {"a fragment, not a request": 1}
    assert overall["stages"]["answer"]["top_reasons"] == {"no answer": 1, "no trajectory": 1}
    assert overall["stages"]["grounded"] == {
        "passed": 2,
        "failed": 2,
        "not_run": 0,
        "pass_rate": 0.5,
        "top_reasons": {"missing facts": 1, "no trajectory": 1},
    }
    assert overall["stages"]["judge"]["passed"] == 2
    default, strict = overall["decisions"]["default"], overall["decisions"]["strict"]
    assert (default["kept"], default["dropped"], default["top_reasons"]["behaviour"]) == (2, 2, 1)
    assert (strict["kept"], strict["dropped"]) == (1, 3)
    assert strict["top_reasons"]["a turn failed (recovered; strict keeps only clean runs)"] == 1
    assert strict["top_reasons"]["behaviour"] == 1
    distributions = overall["distributions"]
    assert distributions["turns_per_rollout"] == {
        "n": 3,
        "min": 1,
        "mean": 2.667,
        "p50": 3,
        "p90": 4,
        "max": 4,
    }
    assert distributions["tool_calls_per_rollout"]["max"] == 3
    assert distributions["messages_per_episode"]["n"] == 3
    assert distributions["judge_scores"]["mean"] == 0.9
    assert distributions["sub_agent_episodes_per_rollout"]["max"] == 0
    assert overall["tool_usage"] == {"get_order": 4, "cancel_order": 2}
    assert overall["stop_reasons"] == {"completed": 2, "timeout": 1}
    assert (overall["recovered_turns"], overall["rollouts_with_recovered_turns"]) == (1, 1)


async def test_stats_are_split_by_framework_and_difficulty(store: SynthesisStore) -> None:
    await verified_store(store)
    stats = compute_stats(store).to_dict()
    assert list(stats["by_framework"]) == ["desk"]
    assert stats["by_framework"]["desk"]["rollouts"] == 4
    easy, hard = stats["by_difficulty"]["easy"], stats["by_difficulty"]["hard"]
    assert (easy["rollouts"], hard["rollouts"]) == (2, 2)
    assert easy["decisions"]["default"]["kept"] == 2
    assert hard["decisions"]["default"]["kept"] == 0
    assert hard["stages"]["behaviour"]["top_reasons"] == {
        "stopped: timeout": 1,
        "truncated": 1,
        "rollout failed": 1,
        "no trajectory": 1,
    }


async def test_a_rollout_that_failed_without_a_trajectory_is_dropped_for_its_structure(
    store: SynthesisStore,
) -> None:
    await verified_store(store)
    decisions = compute_stats(store).to_dict()["overall"]["decisions"]
    assert decisions["default"]["top_reasons"] == {"structure": 1, "behaviour": 1}
    assert decisions["strict"]["top_reasons"] == {
        "a turn failed (recovered; strict keeps only clean runs)": 1,
        "structure": 1,
        "behaviour": 1,
    }


def test_an_unverified_store_says_so_in_its_decisions(store: SynthesisStore) -> None:
    store_rollouts(store, good_trajectory(), expected=GOOD_OUTCOME)
    overall = compute_stats(store).to_dict()["overall"]
    assert overall["stages"]["structure"]["pass_rate"] is None
    assert overall["decisions"]["default"]["top_reasons"] == {
        "not verified (structure, tool_validity, behaviour, query, answer, grounded, dedup)": 1
    }
