"""Agents declared in each new text style run end to end in the runtime's text mode."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from nexforge.models.codecs import get_codec
from nexforge.models.codecs.deepseek import CALL_BEGIN, CALL_END, CALLS_BEGIN, CALLS_END, SEP
from nexforge.runtime.config import load_agent
from nexforge.runtime.config.schema import SCHEMA_PATH
from nexforge.testing import ScriptedModel, say
from nexforge.tools import tool_from_function


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


# What a model in each style writes to call add(2, 40); "2" is text the schema coerces.
STYLE_CALLS = {
    "qwen3-coder": "Let me add.\n\n<tool_call>\n<function=add>\n<parameter=a>\n2\n</parameter>\n<parameter=b>\n40\n</parameter>\n</function>\n</tool_call>",
    "glm": "<tool_call>add\n<arg_key>a</arg_key>\n<arg_value>2</arg_value>\n<arg_key>b</arg_key>\n<arg_value>40</arg_value>\n</tool_call>",
    "minimax": 'Let me add.\n<minimax:tool_call>\n<invoke name="add">\n<parameter name="a">2</parameter>\n<parameter name="b">40</parameter>\n</invoke>\n</minimax:tool_call>',
    "deepseek": f'Let me add.{CALLS_BEGIN}{CALL_BEGIN}add{SEP}{{"a": "2", "b": 40}}{CALL_END}{CALLS_END}',
}


@pytest.mark.parametrize("fmt", sorted(STYLE_CALLS))
async def test_declared_style_runs_end_to_end(fmt: str, tmp_path: Path) -> None:
    text = f"name: calc\nsystem_prompt: You add numbers.\ntool_call_format: {fmt}\n"
    config = tmp_path / "calc.yaml"
    config.write_text(text, encoding="utf-8")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(text))) == []
    declared = load_agent(config)
    assert declared.tool_call_format == fmt

    raw = STYLE_CALLS[fmt]
    model = ScriptedModel([raw, say("The sum is 42.")])
    agent = dataclasses.replace(declared, model=model, tools=[tool_from_function(add)])
    with model:
        result = await agent.arun("2 + 40?")

    assert result.final_output == "The sum is 42."
    episode = result.trajectory.root_episode()
    assert episode.tool_call_format == fmt
    assistant, outcome = episode.messages[2], episode.messages[3]
    assert assistant.raw == raw
    assert [(c.name, c.arguments) for c in assistant.tool_calls] == [("add", {"a": 2, "b": 40})]
    assert outcome.role == "tool" and outcome.content == "42" and not outcome.is_error
    # Text mode: the style's convention is in the system prompt and no tool goes natively;
    # the second request carries the call as the model wrote it and the result in the style.
    codec = get_codec(fmt)
    first, second = model.requests
    assert first.tools == []
    assert codec.system_prompt([agent.tools[0].spec]) in (first.messages[0].content or "")
    assert all(not m.tool_calls for m in second.messages)
    assert second.messages[-2].content == raw
    assert second.messages[-1].role == "user"
    assert second.messages[-1].content == codec.render_results([outcome])
