"""validate_arguments and execute_tool: what the model sees for every kind of call."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from nexforge.core.tools import ToolSpec
from nexforge.tools import (
    Tool,
    ToolContext,
    ToolInputError,
    ToolOutcome,
    execute_tool,
    tool_from_function,
    validate_arguments,
)

CTX = ToolContext(workspace=Path("/tmp"))


def make(fn: Any, **kwargs: Any) -> Tool:
    return tool_from_function(fn, **kwargs)


def copy(path: str, count: int, mode: str = "a", tags: list[str] | None = None) -> str:
    return path


SPEC = make(copy).spec


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"path": "p", "count": 1}, None),
        ({"path": "p", "count": "abc"}, "argument 'count': 'abc' is not of type 'integer'"),
        ({"count": 1}, "missing required argument 'path'"),
        ({"path": "p", "count": 1, "foo": 2}, "unexpected argument 'foo'"),
        ({"path": "p", "count": True}, "argument 'count': True is not of type 'integer'"),
        (
            {"path": "p", "count": 1, "tags": ["a", 3]},
            "argument 'tags[1]': 3 is not of type 'string'",
        ),
        (["p"], "arguments must be a JSON object, got ['p']"),
    ],
)
def test_validation_messages(arguments: Any, message: str | None) -> None:
    assert validate_arguments(SPEC, arguments) == message


def test_validation_message_is_one_short_line() -> None:
    message = validate_arguments(SPEC, {"path": "p", "count": "line\n" * 1000})
    assert message is not None
    assert "\n" not in message and len(message) < 300


def test_enum_and_explicit_schema_messages() -> None:
    spec = ToolSpec(
        name="t",
        parameters={
            "type": "object",
            "properties": {"kind": {"enum": ["x", "y"]}, "opts": {"type": "object"}},
            "required": ["kind"],
        },
    )
    assert (
        validate_arguments(spec, {"kind": "z"}) == "argument 'kind': 'z' is not one of ['x', 'y']"
    )
    assert validate_arguments(spec, {"kind": "x", "extra": 1}) is None  # additional allowed


def test_valid_call_costs_microseconds() -> None:
    arguments = {"path": "p", "count": 1}
    validate_arguments(SPEC, arguments)
    n = 5000
    start = time.perf_counter()
    for _ in range(n):
        validate_arguments(SPEC, arguments)
    per_call_us = (time.perf_counter() - start) / n * 1e6
    # Compiling the validator per call would cost milliseconds.
    assert per_call_us < 50


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=4,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["path", "count", "mode", "other"]), json_values))
def test_fast_path_agrees_with_jsonschema(arguments: dict[str, Any]) -> None:
    import jsonschema

    expected = jsonschema.Draft202012Validator(SPEC.parameters).is_valid(arguments)
    assert (validate_arguments(SPEC, arguments) is None) == expected


async def test_invalid_arguments_never_reach_the_function() -> None:
    calls: list[int] = []

    def count(n: int) -> int:
        calls.append(n)
        return n

    outcome = await execute_tool(make(count), {"n": "x"}, CTX)

    assert outcome == ToolOutcome("argument 'n': 'x' is not of type 'integer'", is_error=True)
    assert calls == []


async def test_async_tool_timeout() -> None:
    async def slow() -> str:
        await asyncio.sleep(10)
        return "late"

    outcome = await execute_tool(make(slow, timeout_s=0.1), {}, CTX)

    assert outcome == ToolOutcome("tool 'slow' timed out after 0.1s", is_error=True)


async def test_blocking_sync_tool_does_not_block_the_loop() -> None:
    def block() -> str:
        time.sleep(0.3)
        return "done"

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    outcome = await execute_tool(make(block), {}, CTX)
    ticking.cancel()

    assert outcome.content == "done"
    assert ticks >= 10


async def test_sync_tool_timeout() -> None:
    def block() -> str:
        time.sleep(0.5)
        return "late"

    outcome = await execute_tool(make(block, timeout_s=0.05), {}, CTX)
    assert outcome == ToolOutcome("tool 'block' timed out after 0.05s", is_error=True)


async def test_timeout_error_raised_by_the_tool_is_not_reported_as_our_timeout() -> None:
    async def upstream() -> str:
        raise TimeoutError("upstream took too long")

    outcome = await execute_tool(make(upstream), {}, CTX)
    assert outcome == ToolOutcome("TimeoutError: upstream took too long", is_error=True)


async def test_output_is_capped_with_a_marker() -> None:
    async def big() -> str:
        return "x" * 250

    outcome = await execute_tool(make(big, max_output_chars=100), {}, CTX)

    assert outcome.content == "x" * 100 + "\n[... truncated: 150 more chars not shown]"
    assert not outcome.is_error


async def test_exceptions_become_one_line(caplog: pytest.LogCaptureFixture) -> None:
    def broken(path: str) -> str:
        raise ValueError(f"cannot parse {path}\nsecond line")

    with caplog.at_level(logging.DEBUG, logger="nexforge.tools"):
        outcome = await execute_tool(make(broken), {"path": "a.txt"}, CTX)

    assert outcome == ToolOutcome("ValueError: cannot parse a.txt second line", is_error=True)
    assert "Traceback" not in outcome.content
    assert "Traceback" in caplog.text  # the traceback is logged for humans


async def test_tool_input_error_passes_verbatim() -> None:
    async def picky() -> str:
        raise ToolInputError("no such file: 'x'")

    outcome = await execute_tool(make(picky), {}, CTX)
    assert outcome == ToolOutcome("no such file: 'x'", is_error=True)


class Answer(BaseModel):
    value: int
    label: str


@pytest.mark.parametrize(
    ("result", "content"),
    [
        ({"città": "Roma", "n": 1}, '{"città": "Roma", "n": 1}'),
        ([1, "a", None], '[1, "a", null]'),
        (Answer(value=1, label="x"), '{"value":1,"label":"x"}'),
        (None, "(no output)"),
        ("", "(no output)"),
        (42, "42"),
        (ToolOutcome("custom", is_error=True), "custom"),
    ],
)
async def test_results_are_rendered_as_text(result: Any, content: str) -> None:
    async def give() -> Any:
        return result

    outcome = await execute_tool(make(give), {}, CTX)
    assert outcome.content == content


async def test_cancellation_propagates() -> None:
    started = asyncio.Event()

    async def wait_forever() -> str:
        started.set()
        await asyncio.sleep(100)
        return ""

    task = asyncio.create_task(execute_tool(make(wait_forever), {}, CTX))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
