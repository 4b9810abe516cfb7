"""Hypothesis strategies for tool calls, shared by the codec style and template tests.

Every text style can represent every value the strategies draw, except what a style's
module docstring declares ambiguous; ``representable`` states those limits once, so a
round trip test that drops a value says exactly why.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import strategies as st

from nexforge.core.messages import ToolCall
from nexforge.core.tools import ToolSpec

_CHARS = st.characters(codec="utf-8")  # lone surrogates are not text
_MARKUP = ("<", ">", "&amp;", "a < b && c > d", "<div class='x'>hi</div>", "héllo ✓ 日本語", '"q"')
# Every style's own delimiters, so values that contain them are drawn often.
_STYLE_TAGS = (
    "</parameter>",
    "</tool_use>",
    "<tool_call>",
    "</tool_call>",
    "<parameter=x>",
    "</function>",
    "<arg_key>",
    "</arg_value>",
    '<parameter name="x">',
    "</invoke>",
    "</minimax:tool_call>",
    "<｜tool▁call▁end｜>",  # noqa: RUF001 (DeepSeek's tokens use U+FF5C)
    "<｜tool▁calls▁end｜>",  # noqa: RUF001
    "<think>",
)
_LOOKALIKES = ("3", "-2.5", "true", "True", "null", "None", "[1, 2]", '{"a": 1}', "\n", "  ")
_CODE = ("def f(x):\n    return x < 3 and '<b>'\n", "SELECT * FROM t WHERE a <> 'b';")
_SNIPPETS = st.sampled_from([*_MARKUP, *_STYLE_TAGS, *_LOOKALIKES, *_CODE])
STRINGS = st.lists(st.one_of(_SNIPPETS, st.text(_CHARS, max_size=20)), max_size=4).map("".join)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
_KEYS = st.text(_CHARS, max_size=8)
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), FLOATS)
JSON_VALUES = st.recursive(
    _SCALARS | STRINGS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=8,
)

# Parameter kinds: the schema a tool declares and the values a call may pass.
KINDS: dict[str, tuple[dict[str, Any], st.SearchStrategy[Any]]] = {
    "string": ({"type": "string"}, STRINGS),
    "integer": ({"type": "integer"}, st.integers()),
    "number": ({"type": "number"}, FLOATS),
    "boolean": ({"type": "boolean"}, st.booleans()),
    "array": ({"type": "array"}, st.lists(JSON_VALUES, max_size=3)),
    "object": ({"type": "object"}, st.dictionaries(_KEYS, JSON_VALUES, max_size=3)),
    "optional integer": ({"type": ["integer", "null"]}, st.none() | st.integers()),
    "optional string": ({"type": ["string", "null"]}, st.none() | STRINGS),
}
TOOL_NAMES = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)
PARAM_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)

# A value's text is ambiguous when it holds its closing delimiter followed (after
# whitespace) by what may follow a value; see each codec module's docstring.
_AMBIGUOUS = {
    "qwen3-coder": re.compile(r"</parameter>\s*(?:<parameter=|</function>|</tool_call>)"),
    "glm": re.compile(r"</arg_value>\s*(?:<arg_key>|</tool_call>)"),
    "minimax": re.compile(r"</parameter>\s*(?:<parameter name=|</invoke>|</minimax:tool_call>)"),
}


def representable(style: str, param: str, schema: dict[str, Any], value: Any) -> bool:
    """Whether ``style`` can write ``value`` so that it parses back to itself."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if style == "xml" and f"</{param}>" in text:  # xml.py's simpler rule
        return False
    pattern = _AMBIGUOUS.get(style)
    if pattern is not None and pattern.search(text):
        return False
    # Every style coerces string values to the schema, so under a nullable schema the
    # string "null" (or "None") reads back as null.
    types = schema.get("type")
    nullable = isinstance(types, list) and "null" in types
    return not (nullable and isinstance(value, str) and value.strip() in ("null", "None"))


@st.composite
def tools_and_calls(draw: st.DrawFn, style: str) -> tuple[list[ToolSpec], list[ToolCall]]:
    """Tools with generated schemas and 1-4 calls whose arguments match them, leaving out
    values ``style`` cannot represent."""
    names = draw(st.lists(TOOL_NAMES, min_size=1, max_size=3, unique=True))
    kinds: dict[str, dict[str, str]] = {}
    tools = []
    for name in names:
        params = draw(st.lists(PARAM_NAMES, max_size=4, unique=True))
        kinds[name] = {param: draw(st.sampled_from(sorted(KINDS))) for param in params}
        properties = {param: KINDS[kind][0] for param, kind in kinds[name].items()}
        tools.append(ToolSpec(name=name, parameters={"type": "object", "properties": properties}))
    calls = []
    for index in range(draw(st.integers(1, 4))):
        tool = draw(st.sampled_from(tools))
        arguments = {}
        for param, kind in kinds[tool.name].items():
            schema, values = KINDS[kind]
            value = draw(values)
            if representable(style, param, schema, value):
                arguments[param] = value
        calls.append(ToolCall(id=f"call_{index}", name=tool.name, arguments=arguments))
    return tools, calls


def same_calls(parsed: list[ToolCall], expected: list[ToolCall]) -> None:
    """Same names and arguments in the same order; JSON text compares types too (True != 1)."""
    assert [(c.name, json.dumps(c.arguments)) for c in parsed] == [
        (c.name, json.dumps(c.arguments)) for c in expected
    ]
