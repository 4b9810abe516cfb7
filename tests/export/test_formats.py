"""What one rollout becomes in each chat format: one sample per episode, with provenance."""

from __future__ import annotations

import json
from typing import Any

from export_fixtures import (
    CHILD_FINAL,
    CHILD_SYSTEM,
    ERROR_RESULT,
    FINAL,
    LEAD_SYSTEM,
    LOOKUP_RESULT,
    REASONING,
    USER_TEXT,
    child_episode,
    lead_episode,
    rollout,
    trajectory,
)

from nexforge.core.messages import Message
from nexforge.export import rollout_samples
from nexforge.export.sharegpt import RESULT_JOIN
from nexforge.synthesis.records import QueryRecord, RolloutRecord, Verdict


def samples(
    record: RolloutRecord, query: QueryRecord, verdicts: list[Verdict], fmt: str, **options: Any
) -> list[dict[str, Any]]:
    return rollout_samples(record, query, verdicts, format=fmt, **options).rows


def calls_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [call for m in messages for call in m.get("tool_calls", [])]


def test_each_episode_is_one_sample_and_says_where_it_came_from(
    record: RolloutRecord, shop_query: QueryRecord, verdicts: list[Verdict]
) -> None:
    lead, child = samples(record, shop_query, verdicts, "trl")

    assert record.trajectory is not None
    assert lead["provenance"] == {
        "run_id": record.trajectory.run_id,
        "rollout_key": record.key,
        "query_key": shop_query.key,
        "sample": 0,
        "framework": "shop",
        "framework_hash": "fh-shop",
        "query": {
            "persona": {"id": "p1", "name": "Jörg", "user_type": "customer"},
            "path": ["orders", "refunds"],
            "path_labels": ["Orders", "Refunds"],
            "difficulty": "medium",
        },
        "verdicts": {
            "structure": {"passed": True, "score": None, "reason": ""},
            "tool_validity": {"passed": True, "score": None, "reason": ""},
            "behaviour": {"passed": True, "score": None, "reason": ""},
            "query": {"passed": True, "score": None, "reason": ""},
            "answer": {"passed": True, "score": None, "reason": ""},
            "grounded": {"passed": True, "score": None, "reason": ""},
            "dedup": {"passed": True, "score": None, "reason": ""},
            "judge": {"passed": True, "score": 0.8, "reason": ""},
        },
        "episode_id": f"{record.trajectory.run_id}-e0",
        "parent_episode_id": None,
        "parent_tool_call_id": None,
        "agent": "lead",
        "model": "test-model",
        "tool_call_format": "structured",
        "recovered_turns": [1],
    }
    assert child["provenance"]["agent"] == "billing"
    assert child["provenance"]["parent_episode_id"] == lead["provenance"]["episode_id"]
    assert child["provenance"]["parent_tool_call_id"] == "c2"
    assert child["provenance"]["recovered_turns"] == []
    assert [t["function"]["name"] for t in lead["tools"]] == ["lookup_order", "billing", "refund"]
    assert [t["function"]["name"] for t in child["tools"]] == ["lookup_order", "refund"]


def test_a_parent_sample_holds_the_sub_agent_call_and_result_not_its_inner_steps(
    record: RolloutRecord, shop_query: QueryRecord, verdicts: list[Verdict]
) -> None:
    lead, child = samples(record, shop_query, verdicts, "trl")

    delegation = next(c for c in calls_of(lead["messages"]) if c["function"]["name"] == "billing")
    result = next(m for m in lead["messages"] if m.get("tool_call_id") == delegation["id"])
    assert result["content"] == CHILD_FINAL
    assert "d1" not in {c["id"] for c in calls_of(lead["messages"])}
    assert child["messages"][:2] == [
        {"role": "system", "content": CHILD_SYSTEM},
        {"role": "user", "content": delegation["function"]["arguments"]["task"]},
    ]
    assert [c["id"] for c in calls_of(child["messages"])] == ["d1"]


def test_trl_sample_is_the_hugging_face_shape_with_dict_arguments(
    record: RolloutRecord, shop_query: QueryRecord, verdicts: list[Verdict]
) -> None:
    lead = samples(record, shop_query, verdicts, "hf")[0]
    messages = lead["messages"]

    assert [m["role"] for m in messages] == [
        "system", "user", "assistant", "tool", "tool", "assistant", "tool", "assistant", "tool",
        "assistant",
    ]  # fmt: skip
    assert messages[0] == {"role": "system", "content": LEAD_SYSTEM}
    assert messages[1] == {"role": "user", "content": USER_TEXT}
    assert messages[2] == {
        "role": "assistant",
        "content": "Ich schaue nach.",
        "reasoning_content": REASONING,
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {
                    "name": "lookup_order",
                    "arguments": {"order_id": 42, "note": "prüfen ✓"},
                },
            },
            {
                "id": "c2",
                "type": "function",
                "function": {"name": "billing", "arguments": {"task": "Refund 20 € on order 42"}},
            },
        ],
    }
    assert messages[3] == {
        "role": "tool",
        "tool_call_id": "c1",
        "name": "lookup_order",
        "content": LOOKUP_RESULT,
    }
    assert messages[6]["content"] == ERROR_RESULT
    # Llama-3.1 and DeepSeek-V3 test `'tool_calls' in message`: a plain answer has no key.
    assert messages[-1] == {"role": "assistant", "content": FINAL}
    assert lead["tools"][0] == {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look an order up by its id.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "integer"}, "note": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }


def test_string_args_encoding_makes_arguments_json_text(
    record: RolloutRecord, shop_query: QueryRecord, verdicts: list[Verdict]
) -> None:
    lead = samples(record, shop_query, verdicts, "trl", args_encoding="string")[0]

    arguments = [c["function"]["arguments"] for c in calls_of(lead["messages"])]
    assert all(isinstance(a, str) for a in arguments)
    assert json.loads(arguments[0]) == {"order_id": 42, "note": "prüfen ✓"}


def test_openai_sample_has_string_arguments_ids_and_no_reasoning(
    record: RolloutRecord, shop_query: QueryRecord, verdicts: list[Verdict]
) -> None:
    lead = samples(record, shop_query, verdicts, "openai")[0]
    messages = lead["messages"]

    assert set(lead) == {"messages", "tools", "parallel_tool_calls", "provenance"}
    assert lead["parallel_tool_calls"] is True
    assert messages[2] == {
        "role": "assistant",
        "content": "Ich schaue nach.",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {
                    "name": "lookup_order",
                    "arguments": '{"order_id": 42, "note": "prüfen ✓"}',
                },
            },
            {
                "id": "c2",
                "type": "function",
                "function": {"name": "billing", "arguments": '{"task": "Refund 20 € on order 42"}'},
            },
        ],
    }
    assert messages[3] == {"role": "tool", "tool_call_id": "c1", "content": LOOKUP_RESULT}
    assert messages[5]["content"] is None  # a call without prose, as the API returns it
    assert REASONING not in json.dumps(messages, ensure_ascii=False)


def test_undecodable_arguments_are_exported_as_the_text_the_model_wrote(
    shop_query: QueryRecord,
) -> None:
    episode = lead_episode()
    broken = episode.messages[5].tool_calls[0]
    episode.messages[5].tool_calls[0] = broken.model_copy(
        update={"arguments": {}, "invalid_arguments": '{"order_id": 42,'}
    )
    record = rollout(shop_query, traj=trajectory(episodes=[episode]))

    trl = samples(record, shop_query, [], "trl")[0]
    openai = samples(record, shop_query, [], "openai")[0]

    assert trl["messages"][5]["tool_calls"][0]["function"]["arguments"] == '{"order_id": 42,'
    assert openai["messages"][5]["tool_calls"][0]["function"]["arguments"] == '{"order_id": 42,'


def test_sharegpt_turns_alternate_and_merge_the_results_of_a_parallel_step(
    record: RolloutRecord, shop_query: QueryRecord, verdicts: list[Verdict]
) -> None:
    lead, child = samples(record, shop_query, verdicts, "sharegpt")
    turns = lead["conversations"]

    assert [t["from"] for t in turns] == [
        "human", "function_call", "observation", "function_call", "observation",
        "function_call", "observation", "gpt",
    ]  # fmt: skip
    assert lead["system"] == LEAD_SYSTEM
    thought = f"<think>\n{REASONING}\n</think>\n\n"
    assert turns[1]["value"].startswith(thought)
    assert json.loads(turns[1]["value"][len(thought) :]) == [
        {"name": "lookup_order", "arguments": {"order_id": 42, "note": "prüfen ✓"}},
        {"name": "billing", "arguments": {"task": "Refund 20 € on order 42"}},
    ]
    assert turns[2]["value"] == RESULT_JOIN.join([LOOKUP_RESULT, CHILD_FINAL])
    assert json.loads(turns[3]["value"]) == {"name": "refund", "arguments": {"order_id": 42}}
    assert turns[-1] == {"from": "gpt", "value": FINAL}
    assert json.loads(lead["tools"])[1] == {
        "name": "billing",
        "description": "Delegate a billing task to the billing agent.",
        "parameters": {
            "type": "object",
            "properties": {"task": {"type": "string"}},
            "required": ["task"],
        },
    }
    assert [t["from"] for t in child["conversations"]] == [
        "human", "function_call", "observation", "gpt",
    ]  # fmt: skip


def test_sharegpt_skips_episodes_that_cannot_alternate_and_says_why(
    shop_query: QueryRecord,
) -> None:
    cut_short = lead_episode()
    cut_short.messages = cut_short.messages[:5]  # ends on a tool result
    nudged = child_episode()
    nudged.messages.insert(4, Message.user("Please finish."))  # a result, then a user turn
    record = rollout(shop_query, traj=trajectory(episodes=[cut_short, nudged]))

    result = rollout_samples(record, shop_query, [], format="sharegpt")

    assert result.rows == []
    assert result.skipped == {
        "sharegpt: ends with a tool result": 1,
        "sharegpt: turns do not alternate (human at an odd position)": 1,
    }


def test_an_episode_without_a_model_turn_is_skipped_and_counted(shop_query: QueryRecord) -> None:
    silent = child_episode()
    silent.messages = silent.messages[:2]  # the sub-agent got its task and never answered
    record = rollout(shop_query, traj=trajectory(episodes=[lead_episode(), silent]))

    for fmt in ("trl", "openai", "sharegpt", "hermes"):
        result = rollout_samples(record, shop_query, [], format=fmt)
        assert [r["provenance"]["agent"] for r in result.rows] == ["lead"]
        assert result.skipped == {"no model turn in the episode": 1}
