"""The JSON schemas that constrain the local model's output to the offered tools."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from nexforge.core.tools import ToolSpec
from nexforge.models.base import NamedToolChoice
from nexforge.models.constraints import (
    AnswerOutput,
    CallOutput,
    build_constraint,
    parse_output,
    sanitize_schema,
)

READ = ToolSpec(
    name="read_number",
    description="Read the number in a file",
    parameters={
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
    },
)
WEATHER = ToolSpec(
    name="get_weather",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city", "unit"],
    },
)
TOOLS = [READ, WEATHER]


def valid(schema: dict[str, Any] | None, instance: Any) -> bool:
    assert schema is not None
    return jsonschema.Draft202012Validator(schema).is_valid(instance)


def test_required_accepts_each_tools_call_and_nothing_else() -> None:
    schema = build_constraint(TOOLS, "required")
    assert valid(schema, {"name": "read_number", "arguments": {"path": "numbers.txt"}})
    assert valid(schema, {"name": "get_weather", "arguments": {"city": "Oslo", "unit": "f"}})
    assert not valid(schema, {"answer": "42"})
    assert not valid(schema, {"name": "delete_all", "arguments": {}})


def test_anyof_ties_each_tools_arguments_to_its_name() -> None:
    schema = build_constraint(TOOLS, "required")
    # Arguments valid for the other tool are refused under this tool's name.
    assert not valid(schema, {"name": "read_number", "arguments": {"city": "Oslo", "unit": "c"}})
    assert not valid(schema, {"name": "get_weather", "arguments": {"path": "numbers.txt"}})


def test_named_choice_allows_only_that_tool() -> None:
    schema = build_constraint(TOOLS, NamedToolChoice(name="get_weather"))
    assert valid(schema, {"name": "get_weather", "arguments": {"city": "Oslo", "unit": "c"}})
    assert not valid(schema, {"name": "read_number", "arguments": {"path": "x"}})
    assert not valid(schema, {"answer": "sunny"})


def test_named_choice_of_a_tool_not_offered_is_refused() -> None:
    with pytest.raises(ValueError, match="'missing', not an offered tool"):
        build_constraint(TOOLS, NamedToolChoice(name="missing"))


def test_auto_allows_a_call_or_an_answer() -> None:
    schema = build_constraint(TOOLS, "auto")
    assert valid(schema, {"name": "read_number", "arguments": {"path": "numbers.txt"}})
    assert valid(schema, {"answer": "The number plus 5 is 42."})
    assert not valid(schema, {"answer": "x", "name": "read_number"})
    assert not valid(schema, "plain text")


def test_none_and_no_tools_mean_no_constraint() -> None:
    assert build_constraint(TOOLS, "none") is None
    assert build_constraint([], "auto") is None
    assert build_constraint([], "required") is None


def test_a_tool_without_parameters_takes_an_empty_object() -> None:
    schema = build_constraint([ToolSpec(name="now", parameters={})], "required")
    assert valid(schema, {"name": "now", "arguments": {}})
    assert not valid(schema, {"name": "now", "arguments": "soon"})


def test_local_refs_are_rebased_so_they_still_resolve() -> None:
    order = ToolSpec(
        name="order",
        parameters={
            "type": "object",
            "properties": {"item": {"$ref": "#/$defs/Item"}},
            "required": ["item"],
            "$defs": {
                "Item": {
                    "type": "object",
                    "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
                    "required": ["sku", "qty"],
                }
            },
        },
    )
    schema = build_constraint([order, READ], "auto")
    assert valid(schema, {"name": "order", "arguments": {"item": {"sku": "A1", "qty": 2}}})
    assert not valid(schema, {"name": "order", "arguments": {"item": {"sku": "A1", "qty": "two"}}})


def test_sanitize_drops_what_llguidance_cannot_compile() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Args",
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "anything": True,
            "forbidden": False,
            "remote": {"$ref": "https://example.com/schema.json"},
            "maybe": {"type": "string", "nullable": True},
            "never": {"type": "array", "items": False},
            "not": {"type": "string", "not": {"const": "x"}},
        },
        "if": {"required": ["tags"]},
        "then": {"required": ["maybe"]},
        "propertyNames": {"pattern": "^[a-z]+$"},
    }
    assert sanitize_schema(schema) == {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"}},
            "anything": {},
            "remote": {},
            "maybe": {"type": ["string", "null"]},
            "never": {"type": "array", "maxItems": 0},
            "not": {"type": "string"},  # a property *named* "not" stays; the keyword goes
        },
    }


def test_sanitize_keeps_enforceable_keywords_and_leaves_the_input_alone() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 9}},
        "required": ["n"],
        "additionalProperties": False,
    }
    before = repr(schema)
    assert sanitize_schema(schema) == schema
    assert repr(schema) == before


def test_parse_output_reads_a_call_or_an_answer() -> None:
    assert parse_output('{"name": "read_number", "arguments": {"path": "a"}}') == CallOutput(
        "read_number", {"path": "a"}
    )
    assert parse_output('{"answer": "42"}') == AnswerOutput("42")


@pytest.mark.parametrize("text", ['{"name": "read_number", "argu', "[1]", '{"other": 1}'])
def test_parse_output_refuses_incomplete_or_foreign_output(text: str) -> None:
    with pytest.raises(ValueError, match="constrained output"):
        parse_output(text)


def test_one_of_becomes_any_of_and_property_counts_are_dropped() -> None:
    schema = {
        "type": "object",
        "properties": {"v": {"oneOf": [{"type": "string"}, {"type": "integer"}]}},
        "minProperties": 1,
        "maxProperties": 3,
    }
    clean = sanitize_schema(schema)
    assert clean["properties"]["v"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert "minProperties" not in clean and "maxProperties" not in clean
