"""Tool-call codecs: round trips, schema coercion, tolerance and history conversion."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexforge.core.errors import ToolCallFormatError
from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.models.codecs import (
    TEXT_FORMATS,
    TOOL_CALL_FORMATS,
    HermesCodec,
    ToolCallCodec,
    XmlCodec,
    coerce_arguments,
    coerce_value,
    get_codec,
)

CODECS: list[ToolCallCodec] = [XmlCodec(), HermesCodec()]

# --- strategies -------------------------------------------------------------------------

_CHARS = st.characters(codec="utf-8")  # lone surrogates are not text
_MARKUP = ("<", ">", "&amp;", "a < b && c > d", "<div class='x'>hi</div>", "héllo ✓ 日本語")
_OUR_TAGS = ("</parameter>", "</tool_use>", "<tool_use>", "<tool_call>", "</tool_call>")
_LOOKALIKES = ("3", "-2.5", "true", "null", "[1, 2]", '{"a": 1}', "\n", "\n\n", "  ")
_CODE = ("def f(x):\n    return x < 3 and '<b>'\n", "SELECT * FROM t WHERE a <> 'b';")
_SNIPPETS = st.sampled_from([*_MARKUP, *_OUR_TAGS, *_LOOKALIKES, *_CODE])
STRINGS = st.lists(st.one_of(_SNIPPETS, st.text(_CHARS, max_size=20)), max_size=4).map("".join)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
KEYS = st.text(_CHARS, max_size=8)
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), FLOATS)
JSON_VALUES = st.recursive(
    _SCALARS | STRINGS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)
KINDS: dict[str, st.SearchStrategy[Any]] = {
    "string": STRINGS,
    "integer": st.integers(),
    "number": FLOATS,
    "boolean": st.booleans(),
    "array": st.lists(JSON_VALUES, max_size=3),
    "object": st.dictionaries(KEYS, JSON_VALUES, max_size=3),
}
TOOL_NAMES = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)
PARAM_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)


@st.composite
def tools_and_calls(draw: st.DrawFn) -> tuple[list[ToolSpec], list[ToolCall]]:
    """Tools with generated schemas, and 1-4 calls whose arguments match those schemas."""
    names = draw(st.lists(TOOL_NAMES, min_size=1, max_size=3, unique=True))
    tools = []
    for name in names:
        params = draw(st.lists(PARAM_NAMES, max_size=4, unique=True))
        kinds = {param: draw(st.sampled_from(sorted(KINDS))) for param in params}
        properties = {param: {"type": kind} for param, kind in kinds.items()}
        tools.append(ToolSpec(name=name, parameters={"type": "object", "properties": properties}))
    calls = []
    for index in range(draw(st.integers(1, 4))):
        tool = draw(st.sampled_from(tools))
        arguments = {}
        for param, schema in tool.parameters["properties"].items():
            value = draw(KINDS[schema["type"]])
            # Genuinely ambiguous in XML (see codecs/xml.py): a value holding its closing tag.
            if isinstance(value, str) and f"</{param}>" in value:
                continue
            arguments[param] = value
        calls.append(ToolCall(id=f"call_{index}", name=tool.name, arguments=arguments))
    return tools, calls


def _same(parsed: list[ToolCall], expected: list[ToolCall]) -> None:
    # JSON text compares types too (True != 1) and keeps argument order.
    assert [(c.name, json.dumps(c.arguments)) for c in parsed] == [
        (c.name, json.dumps(c.arguments)) for c in expected
    ]


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(case=tools_and_calls())
def test_parse_inverts_render_calls(
    codec: ToolCallCodec, case: tuple[list[ToolSpec], list[ToolCall]]
) -> None:
    tools, calls = case
    parsed = codec.parse(codec.render_calls(calls), tools)
    _same(parsed.calls, calls)
    assert parsed.content is None


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
@given(
    case=tools_and_calls(),
    before=st.text(st.characters(codec="utf-8", exclude_characters="<`{[")).filter(str.strip),
)
def test_round_trip_keeps_content_before_calls(
    codec: ToolCallCodec, case: tuple[list[ToolSpec], list[ToolCall]], before: str
) -> None:
    tools, calls = case
    parsed = codec.parse(f"{before}\n{codec.render_calls(calls)}", tools)
    _same(parsed.calls, calls)
    assert parsed.content == before.strip()


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_ids_come_from_the_factory_and_are_unique_by_default(codec: ToolCallCodec) -> None:
    calls = [ToolCall(id="x", name="a"), ToolCall(id="y", name="b")]
    text = codec.render_calls(calls)
    default_ids = [c.id for c in codec.parse(text, []).calls]
    assert len(set(default_ids)) == 2
    assert all(i.startswith("call_") and len(i) == 17 for i in default_ids)
    counter = iter(range(10))
    ids = [c.id for c in codec.parse(text, [], id_factory=lambda: f"t{next(counter)}").calls]
    assert ids == ["t0", "t1"]


# --- coercion ---------------------------------------------------------------------------


_COERCIONS: list[tuple[dict[str, Any], list[tuple[str, Any]]]] = [
    ({"type": "integer"}, [("3", 3), (" 3\n", 3), ("3.0", 3), ("3.5", "3.5")]),
    ({"type": "number"}, [("2.5", 2.5), ("2", 2), ("1e3", 1000.0)]),
    ({"type": "boolean"}, [("true", True), ("False", False), ("yes", "yes")]),
    ({"type": "array"}, [("[1, 2]", [1, 2]), ('{"a": 1}', '{"a": 1}')]),
    ({"type": "object"}, [('{"a": 1}', {"a": 1})]),
    ({"type": "string"}, [(" 3 ", " 3 "), ("true", "true")]),
    ({"type": ["string", "null"]}, [("null", None), ("x", "x")]),
    ({"type": "integer", "nullable": True}, [("null", None)]),
    ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, [("null", None), ("7", 7)]),
    ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, [("7", 7), ("x", "x")]),
    ({"anyOf": [{"type": "string"}, {"type": "array"}]}, [('["a"]', ["a"])]),
    ({"enum": [1, 2, 3]}, [("2", 2)]),
    ({}, [("3", "3")]),
    ({"description": "no type"}, [("3", "3")]),
]


@pytest.mark.parametrize(
    ("value", "schema", "expected"),
    [(value, schema, expected) for schema, pairs in _COERCIONS for value, expected in pairs],
)
def test_coerce_value(value: str, schema: dict[str, Any], expected: Any) -> None:
    result = coerce_value(value, schema)
    assert result == expected
    assert type(result) is type(expected)


def test_coerce_arguments_follows_refs_and_leaves_unknowns_alone() -> None:
    spec = ToolSpec(
        name="paint",
        parameters={
            "type": "object",
            "properties": {
                "color": {"$ref": "#/$defs/Color"},
                "box": {"$ref": "#/$defs/Box"},
                "count": {"type": "integer"},
            },
            "$defs": {
                "Color": {"enum": ["1", "red"], "type": "string"},
                "Box": {"type": "object", "properties": {"w": {"type": "integer"}}},
            },
        },
    )
    args = {"color": "1", "box": '{"w": 2}', "count": 4, "extra": "5"}
    assert coerce_arguments(args, spec) == {"color": "1", "box": {"w": 2}, "count": 4, "extra": "5"}
    assert coerce_arguments({"count": "4"}, None) == {"count": "4"}


SEARCH = ToolSpec(
    name="search_files",
    description="Search files for a regex.",
    parameters={
        "type": "object",
        "properties": {
            "pattern": {"type": "string"},
            "max_results": {"type": "integer"},
            "regex": {"type": "boolean"},
        },
        "required": ["pattern"],
    },
)
READ = ToolSpec(
    name="read_file",
    parameters={"type": "object", "properties": {"path": {"type": "string"}}},
)


_READ = "<tool_use><tool_name>read_file</tool_name>"

# --- XML --------------------------------------------------------------------------------


def test_xml_parses_model_style_text_with_coercion_and_content() -> None:
    text = (
        "I'll search first.\n"
        "<tool_use>\n  <tool_name> search_files </tool_name>\n  <parameter>\n"
        "    <pattern>a < b && c</pattern>\n    <max_results>5</max_results>\n"
        "    <regex>true</regex>\n  </parameter>\n</tool_use>\nThen read."
    )
    parsed = XmlCodec().parse(text, [SEARCH])
    assert parsed.content == "I'll search first.\n\nThen read."
    assert parsed.calls[0].name == "search_files"
    assert parsed.calls[0].arguments == {"pattern": "a < b && c", "max_results": 5, "regex": True}


def test_xml_parses_parallel_blocks_with_and_without_wrapper() -> None:
    one = "<tool_use><tool_name>read_file</tool_name><parameter><path>a.py</path></parameter></tool_use>"
    two = one.replace("a.py", "b.py")
    for text in (
        f"{one}\n{two}",
        f"<use_parallel_tool_calls>\n{one}\n{two}\n</use_parallel_tool_calls>",
    ):
        parsed = XmlCodec().parse(text, [READ])
        assert [c.arguments["path"] for c in parsed.calls] == ["a.py", "b.py"]
        assert parsed.content is None


def test_xml_multiline_value_strips_only_the_layout_newlines() -> None:
    text = "<tool_use>\n<tool_name>read_file</tool_name>\n<parameter>\n<path>\n\n  x\n\n</path>\n</parameter>\n</tool_use>"
    assert XmlCodec().parse(text, [READ]).calls[0].arguments == {"path": "\n  x\n"}


def test_xml_value_may_contain_its_closing_tag_when_no_tag_follows_it() -> None:
    text = "<tool_use><tool_name>read_file</tool_name><parameter><path>see </path> here</path></parameter></tool_use>"
    assert XmlCodec().parse(text, [READ]).calls[0].arguments == {"path": "see </path> here"}


def test_xml_tolerates_a_block_cut_off_by_a_stop_sequence() -> None:
    text = "<tool_use>\n<tool_name>read_file</tool_name>\n<parameter>\n<path>a.py</path>\n</parameter>\n"
    assert XmlCodec().parse(text, [READ]).calls[0].arguments == {"path": "a.py"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<tool_use>\n<parameter></parameter>\n</tool_use>", "tool call 1: <tool_name> missing"),
        ("<tool_use><tool_name>  </tool_name></tool_use>", "tool call 1: <tool_name> is empty"),
        (f"{_READ}<parameter><path>a.py</parameter>", "tool call 1 (read_file): <path> is not"),
        (f"{_READ}<parameter>path=a.py</parameter>", "tool call 1 (read_file): expected <arg"),
        (f"{_READ}</tool_use>\n<tool_use>oops</tool_use>", "tool call 2: <tool_name> missing"),
    ],
)
def test_xml_malformed_blocks_raise_one_line_messages(text: str, message: str) -> None:
    with pytest.raises(ToolCallFormatError) as error:
        XmlCodec().parse(text, [READ])
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_xml_renders_results_with_error_marker() -> None:
    text = XmlCodec().render_results(
        [Message.tool("c1", "read_file", "1 < 2"), Message.tool("c2", "run", "boom", is_error=True)]
    )
    assert "<tool_name>read_file</tool_name>\n<result>1 < 2</result>" in text
    assert "<tool_name>run</tool_name>\n<error>boom</error>" in text


# --- Hermes -----------------------------------------------------------------------------


def test_hermes_decodes_string_arguments_and_coerces_values() -> None:
    text = '<tool_call>\n{"name": "search_files", "arguments": "{\\"pattern\\": \\"x\\", \\"max_results\\": \\"5\\"}"}\n</tool_call>'
    call = HermesCodec().parse(text, [SEARCH]).calls[0]
    assert call.arguments == {"pattern": "x", "max_results": 5}
    assert call.invalid_arguments is None


def test_hermes_keeps_undecodable_arguments_for_the_runtime_to_reject() -> None:
    text = '<tool_call>{"name": "read_file", "arguments": "{path: a.py"}</tool_call>'
    call = HermesCodec().parse(text, [READ]).calls[0]
    assert (call.arguments, call.invalid_arguments) == ({}, "{path: a.py")


_JSON_CALL = '{"name": "read_file", "arguments": {"path": "a.py"}}'


@pytest.mark.parametrize(
    ("text", "content"),
    [
        (f"Reading it.\n```json\n{_JSON_CALL}\n```", "Reading it."),
        (f"```\n{_JSON_CALL.replace('arguments', 'parameters')}\n```\nOK?", "OK?"),
        (f" {_JSON_CALL}\n", None),
    ],
)
def test_hermes_tolerates_fenced_or_bare_json_naming_an_offered_tool(
    text: str, content: str | None
) -> None:
    parsed = HermesCodec().parse(text, [READ])
    assert parsed.content == content
    assert [(c.name, c.arguments) for c in parsed.calls] == [("read_file", {"path": "a.py"})]


@pytest.mark.parametrize(
    ("text", "tools"),
    [
        (_JSON_CALL, []),
        ('{"name": "delete_all", "arguments": {}}', [READ]),
        ('{"name": "read_file", "size": 3}', [READ]),
        (f"```json\n{_JSON_CALL}\n```", []),
        ("```json\n{not json\n```", [READ]),
    ],
)
def test_hermes_json_that_is_not_an_offered_call_stays_content(
    text: str, tools: list[ToolSpec]
) -> None:
    parsed = HermesCodec().parse(text, tools)
    assert (parsed.content, parsed.calls) == (text, [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('<tool_call>{"name": "x", "arguments": {', "tool call 1: invalid JSON in <tool_call>: "),
        ('<tool_call>{"arguments": {}}</tool_call>', 'tool call 1: "name" missing in <tool_call>'),
        ("<tool_call>\n</tool_call>", "tool call 1: empty <tool_call> block"),
        ('<tool_call>"read_file"</tool_call>', "tool call 1: expected a JSON object"),
    ],
)
def test_hermes_malformed_blocks_raise_one_line_messages(text: str, message: str) -> None:
    with pytest.raises(ToolCallFormatError) as error:
        HermesCodec().parse(text, [READ])
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_hermes_renders_results_in_order_with_error_marker() -> None:
    text = HermesCodec().render_results(
        [Message.tool("c1", "read_file", "ok"), Message.tool("c2", "run", "boom", is_error=True)]
    )
    ok, error = (
        "<tool_response>\nok\n</tool_response>",
        "<tool_response>\nError: boom\n</tool_response>",
    )
    assert text == f"{ok}\n{error}"


# --- shared behaviour -------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_to_wire_flattens_calls_and_groups_tool_results(codec: ToolCallCodec) -> None:
    calls = [ToolCall(id=f"c{i}", name="read_file", arguments={"path": f"{i}.py"}) for i in (1, 2)]
    history = [
        Message.system("sys"),
        Message.user("hi"),
        Message.assistant("Reading both.", calls),
        Message.tool("c1", "read_file", "A"),
        Message.tool("c2", "read_file", "B"),
        Message.assistant(raw="exactly what the model wrote", tool_calls=[calls[0]]),
        Message.tool("c1", "read_file", "A again"),
        Message.assistant("done"),
    ]
    wire = codec.to_wire(history)
    assert " ".join(m.role for m in wire) == "system user assistant user assistant user assistant"
    assert wire[:2] == history[:2]
    assert wire[2].content == "Reading both.\n\n" + codec.render_calls(calls)
    assert wire[3].content == codec.render_results(history[3:5])
    assert wire[4].content == "exactly what the model wrote"
    assert wire[5].content == codec.render_results(history[6:7])
    assert wire[6].content == "done"
    assert all(not m.tool_calls for m in wire)
    reparsed = codec.parse(wire[2].content or "", [READ])
    assert [c.arguments for c in reparsed.calls] == [c.arguments for c in calls]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_system_prompt_documents_every_tool_and_the_parallel_form(codec: ToolCallCodec) -> None:
    prompt = codec.system_prompt([SEARCH, READ])
    assert SEARCH.name in prompt and READ.name in prompt
    assert "Search files for a regex." in prompt
    assert '"max_results"' in prompt
    assert "several" in prompt
    example = ToolCall(id="e", name="search_files", arguments={"pattern": "..."})
    assert codec.render_calls([example]) in prompt
    assert codec.system_prompt([]) == ""


def test_registry() -> None:
    styles = ("xml", "hermes", "qwen3-coder", "glm", "minimax", "deepseek")
    assert styles == TEXT_FORMATS
    assert ("structured", *styles) == TOOL_CALL_FORMATS
    assert [get_codec(name).name for name in TEXT_FORMATS] == list(styles)
    assert all(isinstance(get_codec(name), ToolCallCodec) for name in TEXT_FORMATS)
    with pytest.raises(ValueError, match="native tool_calls"):
        get_codec("structured")
    with pytest.raises(ValueError, match="structured, xml, hermes, qwen3-coder, glm"):
        get_codec("json")
