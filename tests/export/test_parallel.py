"""``--parallel split|skip``: one call per turn for targets like Llama-3.1 (openai/trl/sharegpt)."""

from __future__ import annotations

import json

import pytest
from export_fixtures import CHILD_FINAL, LOOKUP_RESULT, REASONING, lead_episode, rollout, trajectory

from nexforge.export import rollout_samples
from nexforge.export.episodes import SKIP_PARALLEL
from nexforge.synthesis.records import QueryRecord, RolloutRecord


def test_split_turns_n_parallel_calls_into_n_call_and_result_pairs(
    record: RolloutRecord, shop_query: QueryRecord
) -> None:
    result = rollout_samples(record, shop_query, [], format="trl", parallel="split")
    messages = result.rows[0]["messages"]

    assert result.split_turns == 1
    assert [(m["role"], m.get("tool_call_id")) for m in messages[1:7]] == [
        ("user", None),
        ("assistant", None),
        ("tool", "c1"),
        ("assistant", None),
        ("tool", "c2"),
        ("assistant", None),
    ]
    first, second = messages[2], messages[4]
    assert [c["id"] for c in first["tool_calls"]] == ["c1"]
    assert (first["content"], first["reasoning_content"]) == ("Ich schaue nach.", REASONING)
    assert [c["id"] for c in second["tool_calls"]] == ["c2"]
    assert second["content"] == "" and "reasoning_content" not in second
    assert messages[3]["content"] == LOOKUP_RESULT and messages[5]["content"] == CHILD_FINAL


def test_split_pairs_each_call_with_its_own_result_whatever_order_results_came_in(
    shop_query: QueryRecord,
) -> None:
    episode = lead_episode()
    episode.messages[3], episode.messages[4] = episode.messages[4], episode.messages[3]
    record = rollout(shop_query, traj=trajectory(episodes=[episode]))

    messages = rollout_samples(record, shop_query, [], format="openai", parallel="split").rows[0][
        "messages"
    ]

    assert messages[2]["tool_calls"][0]["id"] == messages[3]["tool_call_id"] == "c1"
    assert messages[4]["tool_calls"][0]["id"] == messages[5]["tool_call_id"] == "c2"


def test_split_openai_samples_declare_parallel_tool_calls_off(
    record: RolloutRecord, shop_query: QueryRecord
) -> None:
    rows = rollout_samples(record, shop_query, [], format="openai", parallel="split").rows

    assert [r["parallel_tool_calls"] for r in rows] == [False, False]
    assert all(len(m.get("tool_calls", [])) <= 1 for r in rows for m in r["messages"])


def test_split_sharegpt_still_alternates(record: RolloutRecord, shop_query: QueryRecord) -> None:
    turns = rollout_samples(record, shop_query, [], format="sharegpt", parallel="split").rows[0][
        "conversations"
    ]

    assert [t["from"] for t in turns[:5]] == [
        "human", "function_call", "observation", "function_call", "observation",
    ]  # fmt: skip
    assert json.loads(turns[3]["value"])["name"] == "billing"


@pytest.mark.parametrize("fmt", ["openai", "trl", "sharegpt"])
def test_skip_leaves_out_samples_with_parallel_calls_and_counts_them(
    fmt: str, record: RolloutRecord, shop_query: QueryRecord
) -> None:
    result = rollout_samples(record, shop_query, [], format=fmt, parallel="skip")

    assert [r["provenance"]["agent"] for r in result.rows] == ["billing"]
    assert result.skipped == {SKIP_PARALLEL: 1}


def test_text_styles_keep_parallel_calls_parallel(
    record: RolloutRecord, shop_query: QueryRecord
) -> None:
    result = rollout_samples(record, shop_query, [], format="hermes", parallel="split")

    assert result.split_turns == 0
    assert result.rows[0]["messages"][2]["content"].count("<tool_call>") == 2
