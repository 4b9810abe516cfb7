"""validate_arguments and execute_tool: what the model sees for every kind of call."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
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


def test_a_schema_is_compiled_once_not_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    def only_here(marker_for_this_test: str, count: int) -> str:
        return marker_for_this_test

    spec = make(only_here).spec
    compiled: list[Any] = []
    real = jsonschema.validators.validator_for

    def counting(schema: Any, *args: Any, **kwargs: Any) -> Any:
        if schema == spec.parameters:  # jsonschema also calls it for its meta-schemas
            compiled.append(schema)
        return real(schema, *args, **kwargs)

    monkeypatch.setattr(jsonschema.validators, "validator_for", counting)
    for _ in range(100):
        assert validate_arguments(spec, {"marker_for_this_test": "m", "count": 1}) is None
        assert validate_arguments(spec, {"count": "x"}) is not None
    # Compiling per call would cost milliseconds on every tool call.
    assert len(compiled) <= 1  # 0 if an earlier test already compiled an equal schema


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
    other_work_ran = threading.Event()

    def block() -> str:
        # Finishes only once another coroutine has run while this call was blocking.
        return "done" if other_work_ran.wait(timeout=30) else "the loop was blocked"

    async def other_work() -> None:
        other_work_ran.set()

    other = asyncio.create_task(other_work())
    outcome = await execute_tool(make(block), {}, CTX)
    await other

    assert outcome.content == "done"


async def test_sync_tool_timeout() -> None:
    def block() -> str:
        time.sleep(0.5)
        return "late"

    outcome = await execute_tool(make(block, timeout_s=0.05), {}, CTX)
    assert outcome == ToolOutcome("tool 'block' timed out after 0.05s", is_error=True)


HUNG_TOOL_SCRIPT = """
import asyncio, threading
from pathlib import Path
from nexforge.tools import ToolContext, execute_tool, tool_from_function

def hang() -> str:
    threading.Event().wait()  # never set: a tool stuck for good (a FIFO read, a lock...)
    return "never"

def quick() -> str:
    return "quick"

async def main() -> None:
    ctx = ToolContext(workspace=Path("/tmp"))
    hung = tool_from_function(hang, timeout_s=0.2)
    outcomes = await asyncio.gather(*(execute_tool(hung, {}, ctx) for _ in range(HUNG)))
    print(sum(o.is_error and "timed out" in o.content for o in outcomes))
    print((await execute_tool(tool_from_function(quick), {}, ctx)).content)

asyncio.run(main())
"""


def test_sync_tools_stuck_past_their_timeout_hold_no_shared_worker_nor_the_exit() -> None:
    # More stuck calls than the default executor has workers (min(32, cpus + 4)): with
    # asyncio.to_thread the quick tool after them would time out, and asyncio.run would
    # wait for the stuck threads at exit, forever.
    hung = (os.cpu_count() or 1) + 8
    script = HUNG_TOOL_SCRIPT.replace("HUNG", str(hung))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(hung), "quick"]


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
