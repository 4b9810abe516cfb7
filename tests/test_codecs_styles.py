"""Every text tool-call style: round trips, malformed blocks, tolerance, whole turns."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec_strategies import same_calls, tools_and_calls
from nexforge.core.errors import ToolCallFormatError
from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.models.codecs import (
    TEXT_FORMATS,
    DeepSeekCodec,
    GlmCodec,
    MiniMaxCodec,
    Qwen3CoderCodec,
    ToolCallCodec,
    get_codec,
    render_assistant,
)
from nexforge.models.codecs.deepseek import CALL_BEGIN, CALL_END, CALLS_BEGIN, CALLS_END, SEP

CODECS: list[ToolCallCodec] = [get_codec(name) for name in TEXT_FORMATS]
NEW_STYLES = ("qwen3-coder", "glm", "minimax", "deepseek")

READ = ToolSpec(
    name="read_file",
    parameters={
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "limit": {"type": "integer"},
            "follow": {"type": "boolean"},
            "encoding": {"type": ["string", "null"]},
        },
    },
)


def _ids(codec: ToolCallCodec) -> str:
    return codec.name


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS, ids=_ids)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_parse_inverts_render_calls(codec: ToolCallCodec, data: st.DataObject) -> None:
    # tools_and_calls leaves out only values the style's docstring declares ambiguous.
    tools, calls = data.draw(tools_and_calls(codec.name))
    parsed = codec.parse(codec.render_calls(calls), tools)
    same_calls(parsed.calls, calls)
    assert parsed.content is None


@pytest.mark.parametrize("codec", CODECS, ids=_ids)
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    content=st.text(st.characters(codec="utf-8", exclude_characters="<`{[")).filter(str.strip),
)
def test_parse_inverts_render_assistant(
    codec: ToolCallCodec, data: st.DataObject, content: str
) -> None:
    tools, calls = data.draw(tools_and_calls(codec.name))
    text = render_assistant(codec, Message.assistant(content, calls))
    parsed = codec.parse(text, tools)
    same_calls(parsed.calls, calls)
    assert parsed.content == content.strip()


@pytest.mark.parametrize("codec", CODECS, ids=_ids)
def test_parallel_calls_keep_their_order_and_take_ids_from_the_factory(
    codec: ToolCallCodec,
) -> None:
    calls = [ToolCall(id="x", name="b"), ToolCall(id="y", name="a", arguments={"path": "p"})]
    counter = iter(range(10))
    parsed = codec.parse(codec.render_calls(calls), [READ], id_factory=lambda: f"t{next(counter)}")
    assert [(c.id, c.name, c.arguments) for c in parsed.calls] == [
        ("t0", "b", {}),
        ("t1", "a", {"path": "p"}),
    ]


# --- whole assistant turns ----------------------------------------------------------------

_PING = ToolCall(id="c1", name="ping")
_TURNS = {
    "xml": "Checking.\n\n<tool_use>\n<tool_name>ping</tool_name>\n<parameter>\n</parameter>\n</tool_use>",
    "hermes": '<think>\nWhy.\n</think>\n\nChecking.\n<tool_call>\n{"name": "ping", "arguments": {}}\n</tool_call>',
    "qwen3-coder": "Checking.\n\n<tool_call>\n<function=ping>\n</function>\n</tool_call>",
    "glm": "<think>Why.</think>\nChecking.\n<tool_call>ping\n</tool_call>",
    "minimax": '<think>\nWhy.\n</think>\n\nChecking.\n<minimax:tool_call>\n<invoke name="ping">\n</invoke>\n</minimax:tool_call>',
    "deepseek": f"<think>Why.</think>Checking.{CALLS_BEGIN}{CALL_BEGIN}ping{SEP}{{}}{CALL_END}{CALLS_END}",
}


@pytest.mark.parametrize("codec", CODECS, ids=_ids)
def test_render_assistant_lays_out_reasoning_content_and_calls(codec: ToolCallCodec) -> None:
    message = Message.assistant(" Checking.\n", [_PING], reasoning="\nWhy. ")
    assert render_assistant(codec, message) == _TURNS[codec.name]
    assert ("Why." in _TURNS[codec.name]) == (codec.reasoning_tags is not None)
    unthought = message.model_copy(update={"reasoning": None})
    assert render_assistant(codec, message, reasoning=False) == render_assistant(codec, unthought)


def test_render_assistant_follows_each_template_when_parts_are_missing() -> None:
    calls_only = Message.assistant(None, [_PING])
    assert render_assistant(MiniMaxCodec(), calls_only).startswith("\n<minimax:tool_call>")
    assert render_assistant(GlmCodec(), calls_only).startswith("<tool_call>ping")
    thought = Message.assistant(None, [_PING], reasoning="Why.")
    assert render_assistant(GlmCodec(), thought).startswith("<think>Why.</think>\n<tool_call>")
    only_thought = Message.assistant(reasoning="Why.")
    assert render_assistant(GlmCodec(), only_thought) == "<think>Why.</think>"
    assert render_assistant(Qwen3CoderCodec(), Message.assistant("Done.", reasoning="x")) == "Done."


@pytest.mark.parametrize("codec", CODECS, ids=_ids)
def test_to_wire_keeps_the_runtime_layout(codec: ToolCallCodec) -> None:
    calls = [ToolCall(id="c1", name="read_file", arguments={"path": "a.py"})]
    history = [
        Message.user("hi"),
        Message.assistant("Reading.", calls, reasoning="private"),
        Message.tool("c1", "read_file", "A"),
    ]
    wire = codec.to_wire(history)
    assert wire[1].content == "Reading.\n\n" + codec.render_calls(calls)
    assert wire[2] == Message.user(codec.render_results(history[2:]))
    assert [c.arguments for c in codec.parse(wire[1].content or "", [READ]).calls] == [
        {"path": "a.py"}
    ]


# --- results and prompts ----------------------------------------------------------------

_RESULTS = [Message.tool("c1", "read_file", "ok"), Message.tool("c2", "run", "boom", is_error=True)]
_RESULT_TEXTS = {
    "qwen3-coder": "<tool_response>\nok\n</tool_response>\n<tool_response>\nError: boom\n</tool_response>\n",
    "glm": "<tool_response>\nok\n</tool_response>\n<tool_response>\nError: boom\n</tool_response>",
    "minimax": "<response>ok</response>\n<response>Error: boom</response>",
    "deepseek": "<｜tool▁output▁begin｜>ok<｜tool▁output▁end｜><｜tool▁output▁begin｜>Error: boom<｜tool▁output▁end｜>",  # noqa: RUF001
}


@pytest.mark.parametrize("style", NEW_STYLES)
def test_render_results_in_order_with_error_marker(style: str) -> None:
    assert get_codec(style).render_results(_RESULTS) == _RESULT_TEXTS[style]


SEARCH = ToolSpec(
    name="search_files",
    description="Search files for a regex.",
    parameters={
        "type": "object",
        "properties": {"pattern": {"type": "string"}, "max_results": {"type": "integer"}},
        "required": ["pattern"],
    },
)


@pytest.mark.parametrize("style", NEW_STYLES)
def test_system_prompt_documents_every_tool_and_both_call_forms(style: str) -> None:
    codec = get_codec(style)
    prompt = codec.system_prompt([SEARCH, READ])
    assert "Search files for a regex." in prompt
    assert "max_results" in prompt and "read_file" in prompt
    one = ToolCall(id="e", name="search_files", arguments={"pattern": "..."})
    two = ToolCall(id="f", name="read_file", arguments={"path": "..."})
    assert codec.render_calls([one]) in prompt
    assert codec.render_calls([one, two]) in prompt
    assert codec.system_prompt([]) == ""


# --- malformed blocks ---------------------------------------------------------------------

_QWEN = "<tool_call>\n<function=read_file>\n"
_GLM = "<tool_call>read_file\n"
_MINIMAX = '<minimax:tool_call>\n<invoke name="read_file">\n'
_DS = CALLS_BEGIN + CALL_BEGIN


@pytest.mark.parametrize(
    ("style", "text", "message"),
    [
        ("qwen3-coder", "<tool_call>\n<parameter=path>\na\n</parameter>", "tool call 1: expected <function=NAME> after <tool_call>, got '<parameter=path>"),
        ("qwen3-coder", "<tool_call>\n<function=>\n</function>", "tool call 1: <function=> has no function name"),
        ("qwen3-coder", f"{_QWEN}<parameter=path>\na.py\n</function>", "tool call 1 (read_file): <parameter=path> is not closed with </parameter>"),
        ("qwen3-coder", f"{_QWEN}path=a.py\n</function>", "tool call 1 (read_file): expected <parameter=ARGUMENT> or </function>, got 'path=a.py"),
        ("qwen3-coder", f"{_QWEN}<parameter=>\nx\n</parameter>", "tool call 1 (read_file): <parameter=> has no argument name"),
        ("qwen3-coder", f"{_QWEN}</function>\nand more", "tool call 1 (read_file): expected </tool_call> after </function>, got 'and more'"),
        ("qwen3-coder", f"{_QWEN}</function>\n</tool_call>\n<tool_call>oops", "tool call 2: expected <function=NAME>"),
        ("glm", "<tool_call>\n<arg_key>path</arg_key>", "tool call 1: expected the function name right after <tool_call>"),
        ("glm", '<tool_call>{"name": "read_file"}</tool_call>', "tool call 1: expected the function name right after <tool_call>, got JSON"),
        ("glm", f"{_GLM}path: a.py\n</tool_call>", "tool call 1 (read_file): expected <arg_key> or </tool_call>, got 'path: a.py"),
        ("glm", f"{_GLM}<arg_key>path\n<arg_value>a</arg_value>", "tool call 1 (read_file): <arg_key> is not closed with </arg_key>"),
        ("glm", f"{_GLM}<arg_key> </arg_key>", "tool call 1 (read_file): <arg_key> is empty"),
        ("glm", f"{_GLM}<arg_key>path</arg_key>\na.py\n</tool_call>", "tool call 1 (read_file): argument 'path': expected <arg_value>, got 'a.py"),
        ("glm", f"{_GLM}<arg_key>path</arg_key>\n<arg_value>a.py\n</tool_call>", "tool call 1 (read_file): argument 'path': <arg_value> is not closed with </arg_value>"),
        ("minimax", "<minimax:tool_call>\n</minimax:tool_call>", "tool call 1: empty <minimax:tool_call> block"),
        ("minimax", "<minimax:tool_call>\n<invoke>\n</invoke>", 'tool call 1: expected <invoke name="..."> or </minimax:tool_call>'),
        ("minimax", '<minimax:tool_call>\n<invoke name="">\n</invoke>', "tool call 1: <invoke> has an empty name"),
        ("minimax", f"{_MINIMAX}path=a.py\n</invoke>", "tool call 1 (read_file): expected <parameter name=\"...\"> or </invoke>, got 'path=a.py"),
        ("minimax", f'{_MINIMAX}<parameter name="path">a.py\n</invoke>', "tool call 1 (read_file): <parameter name='path'> is not closed with </parameter>"),
        ("minimax", f'{_MINIMAX}</invoke>\n<invoke name="run">\nx', "tool call 2 (run): expected <parameter name="),
        ("deepseek", f"{CALLS_BEGIN}read_file{SEP}{{}}{CALL_END}", f"tool call 1: expected {CALL_BEGIN} or {CALLS_END}, got 'read_file"),
        ("deepseek", f"{_DS}read_file {{}}{CALL_END}", f"tool call 1: {SEP} missing between the function name and its arguments"),
        ("deepseek", f"{_DS}{SEP}{{}}{CALL_END}", f"tool call 1: empty function name before {SEP}"),
        ("deepseek", f'{_DS}read_file{SEP}{{"path": "a"}}', f"tool call 1 (read_file): arguments are not closed with {CALL_END}"),
        ("deepseek", f"{CALLS_BEGIN}{CALLS_END}", f"tool call 1: empty {CALLS_BEGIN} block"),
    ],
)  # fmt: skip
def test_malformed_blocks_raise_one_line_messages(style: str, text: str, message: str) -> None:
    with pytest.raises(ToolCallFormatError) as error:
        get_codec(style).parse(text, [READ])
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


# --- what models actually write -------------------------------------------------------------


def _one(codec: ToolCallCodec, text: str) -> dict[str, object]:
    (call,) = codec.parse(text, [READ]).calls
    assert call.name == "read_file"
    return call.arguments


def test_qwen3_coder_reads_template_values_and_inline_or_cut_off_blocks() -> None:
    codec = Qwen3CoderCodec()
    text = f"{_QWEN}<parameter=limit>\n5\n</parameter>\n<parameter=follow>\nTrue\n</parameter>\n<parameter=encoding>\nNone\n</parameter>\n</function>\n</tool_call>"
    assert _one(codec, text) == {"limit": 5, "follow": True, "encoding": None}
    inline = f"{_QWEN}<parameter=path>a.py</parameter></function></tool_call>"
    assert _one(codec, inline) == {"path": "a.py"}
    cut_off = f"{_QWEN}<parameter=path>\na.py\n</parameter>\n"
    assert _one(codec, cut_off) == {"path": "a.py"}
    see = f"{_QWEN}<parameter=path>\nsee </parameter> here\n</parameter>\n</function>\n</tool_call>"
    assert _one(codec, see) == {"path": "see </parameter> here"}


def test_glm_reads_json_values_and_a_name_on_its_own_line() -> None:
    codec = GlmCodec()
    text = "Reading.\n<tool_call>\nread_file\n<arg_key>limit</arg_key>\n<arg_value>5</arg_value>\n<arg_key>follow</arg_key><arg_value>true</arg_value>\n</tool_call>\nDone?"
    parsed = codec.parse(text, [READ])
    assert parsed.content == "Reading.\n\nDone?"
    assert parsed.calls[0].arguments == {"limit": 5, "follow": True}
    inner_close = f"{_GLM}<arg_key>path</arg_key>\n<arg_value>a</arg_value>b</arg_value>\n"
    assert _one(codec, inner_close) == {"path": "a</arg_value>b"}


@pytest.mark.parametrize("quoted", ['"read_file"', "'read_file'", "read_file"])
def test_minimax_accepts_any_quoting_of_names(quoted: str) -> None:
    text = f"<minimax:tool_call>\n<invoke name={quoted}>\n<parameter name={quoted.replace('read_file', 'path')}>a.py</parameter>\n</invoke>"
    assert _one(MiniMaxCodec(), text) == {"path": "a.py"}


def test_minimax_reads_several_blocks_and_keeps_values_verbatim() -> None:
    block = '<minimax:tool_call>\n<invoke name="read_file">\n<parameter name="path">\n x \n</parameter>\n</invoke>\n</minimax:tool_call>'
    parsed = MiniMaxCodec().parse(f"{block}\n{block}", [READ])
    assert [c.arguments for c in parsed.calls] == [{"path": "\n x \n"}] * 2


def test_deepseek_keeps_undecodable_arguments_and_writes_them_back() -> None:
    codec = DeepSeekCodec()
    text = f"{_DS}read_file{SEP}{{path: a.py{CALL_END}{CALLS_END}"
    (call,) = codec.parse(text, [READ]).calls
    assert (call.arguments, call.invalid_arguments) == ({}, "{path: a.py")
    assert codec.render_calls([call]) == text
    (listed,) = codec.parse(f"{_DS}read_file{SEP}[1]{CALL_END}{CALLS_END}", [READ]).calls
    assert listed.invalid_arguments == "[1]"


@pytest.mark.parametrize(
    ("written", "arguments"),
    [
        ('{"limit": "5", "follow": "true"}', {"limit": 5, "follow": True}),
        (json.dumps(json.dumps({"path": "a.py"})), {"path": "a.py"}),
        ("", {}),
        (' {"path": "x"} ', {"path": "x"}),
    ],
)
def test_deepseek_coerces_decodes_double_encoding_and_accepts_empty_arguments(
    written: str, arguments: dict[str, object]
) -> None:
    text = f"{CALL_BEGIN}read_file{SEP}{written}{CALL_END}"  # even without the outer tokens
    (call,) = DeepSeekCodec().parse(f"Reading.{text}", [READ]).calls
    assert (call.arguments, call.invalid_arguments) == (arguments, None)
