"""``openai`` rows checked with the openai package's own types; ``sharegpt`` rows checked with
LLaMA-Factory's rules.

LLaMA-Factory cannot be imported here (its data package imports torch and peft), so its
rules are restated below exactly as ``data/converter.py`` (``SharegptDatasetConverter``)
and ``data/formatter.py`` (``FunctionFormatter``, ``ToolFormatter``) apply them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming
from pydantic import TypeAdapter, ValidationError

from nexforge.export import rollout_samples
from nexforge.synthesis.records import QueryRecord, RolloutRecord

MESSAGES = TypeAdapter(list[ChatCompletionMessageParam])
TOOLS = TypeAdapter(list[ChatCompletionFunctionToolParam])
REQUEST = TypeAdapter(CompletionCreateParamsNonStreaming)


def settled(value: Any) -> Any:
    """Consume every iterator of a validated value: the openai types declare ``Iterable``
    fields (``tool_calls``...), which pydantic validates lazily, only when iterated."""
    if isinstance(value, dict):
        return {key: settled(item) for key, item in value.items()}
    if isinstance(value, list | tuple | Iterator) or type(value).__name__ == "ValidatorIterator":
        return [settled(item) for item in value]
    return value


@pytest.mark.parametrize("parallel", ["keep", "split"])
def test_openai_rows_are_valid_chat_messages_tools_and_request_fields(
    parallel: str, record: RolloutRecord, shop_query: QueryRecord
) -> None:
    for row in rollout_samples(record, shop_query, [], format="openai", parallel=parallel).rows:
        messages = settled(MESSAGES.validate_python(row["messages"]))
        assert messages == row["messages"]
        assert settled(TOOLS.validate_python(row["tools"])) == row["tools"]
        request = {key: value for key, value in row.items() if key != "provenance"}
        REQUEST.validate_python({**request, "model": "any"})


def test_dict_arguments_are_what_the_openai_types_reject(
    record: RolloutRecord, shop_query: QueryRecord
) -> None:
    trl = rollout_samples(record, shop_query, [], format="trl").rows[0]

    with pytest.raises(ValidationError, match=r"function\.arguments"):
        settled(MESSAGES.validate_python(trl["messages"]))


def test_provenance_is_not_called_metadata_because_openai_types_metadata_as_strings(
    record: RolloutRecord, shop_query: QueryRecord
) -> None:
    row = rollout_samples(record, shop_query, [], format="openai").rows[0]

    assert "provenance" not in CompletionCreateParamsNonStreaming.__annotations__
    with pytest.raises(ValidationError, match="metadata"):
        REQUEST.validate_python({"model": "any", "messages": [], "metadata": row["provenance"]})


# --- LLaMA-Factory's sharegpt rules (default dataset_info tags) -------------------------------

THOUGHT = re.compile(r"<think>\n(.*?)\n</think>\n\n", re.DOTALL)  # default thought_words


def llamafactory_convert(example: dict[str, Any]) -> dict[str, Any]:
    """SharegptDatasetConverter.__call__; raises where it logs "Skipping this abnormal example"."""
    odd_tags, even_tags = ("human", "observation"), ("gpt", "function_call")
    accept_tags = (odd_tags, even_tags)
    messages = example["conversations"]
    if messages and messages[0]["from"] == "system":
        system, messages = messages[0]["value"], messages[1:]
    else:
        system = example["system"]
    for turn_idx, message in enumerate(messages):
        if message["from"] not in accept_tags[turn_idx % 2]:
            raise AssertionError(f"Invalid role tag in {messages}")
    if len(messages) % 2 != 0:
        raise AssertionError(f"Invalid message count in {messages}")
    return {"prompt": messages[:-1], "response": messages[-1:], "system": system}


def llamafactory_functions(content: str) -> list[tuple[str, str]]:
    """FunctionFormatter.apply: strip the thought, then one call object or a list of them."""
    thought = THOUGHT.search(content)
    if thought:
        content = content.replace(thought.group(0), "")
    tool_calls = json.loads(content)
    if not isinstance(tool_calls, list):
        tool_calls = [tool_calls]
    return [(c["name"], json.dumps(c["arguments"], ensure_ascii=False)) for c in tool_calls]


@pytest.mark.parametrize("parallel", ["keep", "split"])
def test_sharegpt_rows_pass_llamafactorys_converter_and_formatters(
    parallel: str, record: RolloutRecord, shop_query: QueryRecord
) -> None:
    rows = rollout_samples(record, shop_query, [], format="sharegpt", parallel=parallel).rows

    assert len(rows) == 2
    for row in rows:
        converted = llamafactory_convert(row)
        assert converted["system"] == row["system"]
        assert converted["response"][0]["from"] == "gpt"
        for turn in row["conversations"]:
            if turn["from"] == "function_call":
                assert all(
                    json.loads(arguments) for _, arguments in llamafactory_functions(turn["value"])
                )
        tools = json.loads(row["tools"])  # ToolFormatter: a JSON list of function objects
        assert all({"name", "description", "parameters"} <= set(tool) for tool in tools)
    first_call = rows[0]["conversations"][1]["value"]
    expected = [("lookup_order", '{"order_id": 42, "note": "prüfen ✓"}')]
    if parallel == "keep":
        expected.append(("billing", '{"task": "Refund 20 € on order 42"}'))
    assert llamafactory_functions(first_call) == expected


def test_the_llamafactory_rules_here_do_reject_a_broken_sample() -> None:
    with pytest.raises(AssertionError, match="message count"):
        llamafactory_convert({"system": "", "conversations": [{"from": "human", "value": "hi"}]})
    with pytest.raises(AssertionError, match="role tag"):
        llamafactory_convert({"system": "", "conversations": [{"from": "gpt", "value": "hi"}] * 2})
