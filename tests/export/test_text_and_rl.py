"""Text styles (what a text-mode model of a style sees) and RL rows (one per model call)."""

from __future__ import annotations

from typing import Any

import pytest
from export_fixtures import (
    CHILD_FINAL,
    FINAL,
    LEAD_SYSTEM,
    LOOKUP_RESULT,
    REASONING,
    USER_TEXT,
    lead_episode,
    passing,
    query,
    rollout,
    trajectory,
)

from nexforge.core.messages import Message
from nexforge.export import TEXT_STYLES, rollout_samples
from nexforge.export.chat import hf_message
from nexforge.models.codecs import get_codec
from nexforge.quality.policy import reward
from nexforge.synthesis.records import QueryRecord, RolloutRecord, Verdict


def first(record: RolloutRecord, query: QueryRecord, fmt: str) -> dict[str, Any]:
    return rollout_samples(record, query, [], format=fmt).rows[0]


@pytest.mark.parametrize("style", TEXT_STYLES)
def test_text_style_sample_is_the_conversation_a_text_mode_model_sees(
    style: str, record: RolloutRecord, shop_query: QueryRecord
) -> None:
    codec = get_codec(style)
    episode = lead_episode()
    sample = first(record, shop_query, style)
    messages = sample["messages"]

    assert sample["format"] == style
    assert messages[0] == {
        "role": "system",
        "content": f"{LEAD_SYSTEM}\n\n{codec.system_prompt(episode.tools)}",
    }
    assert [m["role"] for m in messages] == [
        "system", "user", "assistant", "user", "assistant", "user", "assistant", "user",
        "assistant",
    ]  # fmt: skip
    assert messages[1]["content"] == USER_TEXT
    parallel = messages[2]["content"]
    parsed = codec.parse(parallel, episode.tools)
    assert [(c.name, c.arguments) for c in parsed.calls] == [
        ("lookup_order", {"order_id": 42, "note": "prüfen ✓"}),
        ("billing", {"task": "Refund 20 € on order 42"}),
    ]
    assert (parsed.content or "").endswith("Ich schaue nach.")
    if codec.reasoning_tags is not None:
        open_tag, close_tag = codec.reasoning_tags
        assert parallel.startswith(open_tag)
        assert REASONING in parallel.split(close_tag)[0]
    else:
        assert REASONING not in parallel
    results = [m for m in episode.messages if m.role == "tool"]
    assert messages[3]["content"] == codec.render_results(results[:2])
    assert LOOKUP_RESULT in messages[3]["content"] and CHILD_FINAL in messages[3]["content"]
    assert messages[-1]["content"] == FINAL


def test_raw_text_is_used_only_in_the_style_the_episode_ran_in(shop_query: QueryRecord) -> None:
    hermes = get_codec("hermes")
    episode = lead_episode(fmt="hermes")
    episode.system_prompt = f"{LEAD_SYSTEM}\n\n{hermes.system_prompt(episode.tools)}"
    episode.messages[0] = Message.system(episode.system_prompt)
    written = 'Ich schaue nach.\n<tool_call>\n{"name": "lookup_order", "arguments": {"order_id": 42}}\n</tool_call>'
    episode.messages[5] = episode.messages[5].model_copy(update={"raw": written})
    record = rollout(shop_query, traj=trajectory(episodes=[episode]))

    as_hermes = first(record, shop_query, "hermes")["messages"]
    as_xml = first(record, shop_query, "xml")["messages"]

    assert as_hermes[4]["content"] == written
    assert written not in as_xml[4]["content"]
    assert as_hermes[0]["content"] == episode.system_prompt  # its tool docs, once
    assert as_xml[0]["content"] == (
        f"{LEAD_SYSTEM}\n\n{get_codec('xml').system_prompt(episode.tools)}"
    )
    trl = first(record, shop_query, "trl")
    assert trl["messages"][0]["content"] == LEAD_SYSTEM  # the template renders the tools


def test_rl_rows_are_one_per_model_call_with_everything_seen_before_it(
    record: RolloutRecord, shop_query: QueryRecord, verdicts: list[Verdict]
) -> None:
    rows = rollout_samples(record, shop_query, verdicts, format="rl").rows
    assert record.trajectory is not None
    lead = record.trajectory.episodes[0]

    assert [r["provenance"]["turn"] for r in rows] == [0, 1, 2, 3, 4, 5]
    assert [r["provenance"]["agent"] for r in rows] == ["lead"] * 4 + ["billing"] * 2
    assert all(r["reward"] == reward(verdicts) == 0.8 for r in rows)
    second = rows[1]
    assert second["messages"] == [
        {"role": "system", "content": LEAD_SYSTEM},
        *(hf_message(m) for m in lead.messages[1:5]),
    ]
    assert second["completion"] == hf_message(lead.messages[5])
    assert second["completion"]["tool_calls"][0]["function"]["arguments"] == {"order_id": 42}
    assert [t["function"]["name"] for t in second["tools"]] == ["lookup_order", "billing", "refund"]
    assert rows[4]["messages"][-1] == {"role": "user", "content": "Refund 20 € on order 42"}
    assert rows[5]["completion"] == {"role": "assistant", "content": CHILD_FINAL}


def test_rl_groups_are_the_samples_of_a_query_and_sub_agents_by_query_and_agent() -> None:
    one, other = query("Erstatte Bestellung 42"), query("Erstatte Bestellung 43")
    rows = [
        row
        for q, sample in ((one, 0), (one, 1), (other, 0))
        for row in rollout_samples(
            rollout(q, sample), q, passing(rollout(q, sample)), format="rl"
        ).rows
    ]

    groups: dict[str, set[tuple[str, int]]] = {}
    for row in rows:
        origin = (row["provenance"]["agent"], row["provenance"]["sample"])
        groups.setdefault(row["group_id"], set()).add(origin)
    assert groups == {
        one.key: {("lead", 0), ("lead", 1)},
        f"{one.key}/billing": {("billing", 0), ("billing", 1)},
        other.key: {("lead", 0)},
        f"{other.key}/billing": {("billing", 0)},
    }
