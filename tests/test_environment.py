"""Environment: per-run state copies, canonical hashes, deterministic clock/ids, replay."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from nexforge.core.trajectory import Trajectory
from nexforge.models.base import ModelRequest
from nexforge.runtime import Agent
from nexforge.testing import ScriptedModel, call, calls, say
from nexforge.tools import RunInfo, RunResources, ToolContext, ToolInputError, execute_tool
from nexforge.tools.env_state import DeterministicClock, IdGenerator
from nexforge.tools.environment import Environment, EnvState, ReplayError, env_tool

SCHEMA = """
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE tickets (code TEXT PRIMARY KEY, note_id INTEGER NOT NULL);
CREATE TABLE tags (label TEXT);
"""


@env_tool
def add_note(state: EnvState, body: str) -> dict[str, Any]:
    """Add a note.

    Args:
        body: The text.
    """
    now = state.clock.iso()
    cur = state.db.execute("INSERT INTO notes (body, created_at) VALUES (?, ?)", (body, now))
    return {"id": cur.lastrowid, "created_at": now}


@env_tool
def open_ticket(state: EnvState, note_id: int) -> str:
    """Open a ticket for a note."""
    code = state.ids.next("T")
    state.db.execute("INSERT INTO tickets VALUES (?, ?)", (code, note_id))
    return code


@env_tool
def add_note_then_fail(state: EnvState, body: str) -> None:
    """Writes, draws an id, then refuses: the whole call must be undone."""
    state.db.execute("INSERT INTO notes (body, created_at) VALUES (?, ?)", (body, "x"))
    state.ids.next("T")
    raise ToolInputError("refused")


@env_tool(read_only=True)
def list_notes(state: EnvState) -> list[str]:
    """All notes, oldest first."""
    return [f"{r[0]}|{r[1]}|{r[2]}" for r in state.db.execute("SELECT * FROM notes ORDER BY id")]


@env_tool(read_only=True)
def sneaky_read(state: EnvState) -> None:
    """Claims to be read-only but writes."""
    state.db.execute("INSERT INTO notes (body, created_at) VALUES ('sneaky', 'x')")


@env_tool(read_only=True)
def fingerprint(state: EnvState) -> str:
    """The state's hash (lets a scripted run report its own end state)."""
    return state.state_hash()


@env_tool
def save_file(state: EnvState, name: str, text: str) -> str:
    """Write a file into the environment's files."""
    state.file(name).write_text(text, encoding="utf-8")
    return name


@env_tool(timeout_s=0.2)
def slow_write(state: EnvState) -> None:
    """Writes, then takes longer than its timeout."""
    state.db.execute("INSERT INTO notes (body, created_at) VALUES ('slow', 'x')")
    time.sleep(0.6)


TOOLS = [add_note, open_ticket, add_note_then_fail, list_notes, sneaky_read, fingerprint]


def make_seed(path: Path, rows: list[tuple[int, str, str]], tags: tuple[str, ...] = ()) -> Path:
    db = sqlite3.connect(path)
    with db:
        db.executescript(SCHEMA)
        db.executemany("INSERT INTO notes VALUES (?, ?, ?)", rows)
        db.executemany("INSERT INTO tags VALUES (?)", [(t,) for t in tags])
    db.close()
    return path


@pytest.fixture
def env(tmp_path: Path) -> Environment:
    seed = make_seed(tmp_path / "seed.sqlite", [(1, "seeded", "2025-12-31T00:00:00Z")])
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "readme.txt").write_text("hello\n")
    return Environment(
        "notes", [*TOOLS, save_file, slow_write], seed=seed, files=tmp_path / "files"
    )


async def call_tool(ctx: ToolContext, env: Environment, name: str, /, **args: Any) -> str:
    outcome = await execute_tool(env.tool(name), args, ctx)
    assert not outcome.is_error, outcome.content
    return outcome.content


def run_context(run_id: str = "r1") -> ToolContext:
    resources = RunResources(RunInfo(run_id, Path("/nonexistent")))
    return ToolContext(workspace=Path("/nonexistent"), run_id=run_id, resources=resources)


def test_state_parameter_is_not_part_of_the_schema(env: Environment) -> None:
    spec = env.tool("add_note").spec
    assert list(spec.parameters["properties"]) == ["body"]
    assert not spec.read_only and env.tool("list_notes").spec.read_only
    assert env.write_tool_names == {
        "add_note",
        "open_ticket",
        "add_note_then_fail",
        "save_file",
        "slow_write",
    }


def test_a_function_without_a_state_parameter_or_async_is_refused() -> None:
    def no_state(x: int) -> int:
        return x

    async def is_async(state: EnvState) -> None:
        return None

    with pytest.raises(TypeError, match="EnvState"):
        Environment("e", [no_state])
    with pytest.raises(TypeError, match="sync"):
        Environment("e", [is_async])


async def test_concurrent_runs_see_only_their_own_writes(env: Environment, tmp_path: Path) -> None:
    seed_bytes = (tmp_path / "seed.sqlite").read_bytes()
    both_wrote = asyncio.Barrier(2)

    async def respond(request: ModelRequest) -> Any:
        last = request.messages[-1]
        if last.role == "user":
            return call("add_note", body=last.content)
        if last.name == "add_note":
            await both_wrote.wait()  # each run reads only after both have written
            return call("list_notes")
        return say(last.content or "")

    agent = Agent(name="a", tools=env.tools, model=ScriptedModel(respond))
    first, second = await asyncio.gather(agent.arun("from A"), agent.arun("from B"))

    assert "from A" in (first.final_output or "") and "from B" not in (first.final_output or "")
    assert "from B" in (second.final_output or "") and "from A" not in (second.final_output or "")
    # Both runs got note id 2 at the same clock time: each wrote to its own copy.
    assert "2|from A|2026-01-01T09:01:00Z" in (first.final_output or "")
    assert "2|from B|2026-01-01T09:01:00Z" in (second.final_output or "")
    assert (tmp_path / "seed.sqlite").read_bytes() == seed_bytes


async def scripted_run(env: Environment, steps: list[Any]) -> tuple[Trajectory, str]:
    """Run ``steps``; return the trajectory and the run's end-state hash."""
    end: dict[str, str] = {}
    env.on_close = lambda state: end.__setitem__(state.run_id, state.state_hash())
    model = ScriptedModel(steps)
    with model:
        result = await Agent(name="a", tools=env.tools, model=model).arun("go")
    assert result.stop_reason == "completed"
    return result.trajectory, end[result.trajectory.run_id]


WRITES: list[tuple[str, dict[str, Any]]] = [
    ("add_note", {"body": "a"}),
    ("add_note", {"body": "b"}),
    ("open_ticket", {"note_id": 2}),
    ("open_ticket", {"note_id": 3}),
]


async def test_replaying_a_trajectory_reproduces_its_end_state(env: Environment) -> None:
    trajectory, end_hash = await scripted_run(
        env,
        [
            calls(WRITES[0], WRITES[1]),  # parallel: applied in their listed order
            call("list_notes"),  # reads do not tick the clock
            call("add_note_then_fail", body="nope"),  # errored: rolled back, not replayed
            call("sneaky_read"),  # a read-only tool cannot write
            call("open_ticket", note_id=2),
            call("open_ticket", note_id=3),
            say("done"),
        ],
    )
    messages = trajectory.root_episode().messages
    assert [m.is_error for m in messages if m.role == "tool"] == [0, 0, 0, 1, 1, 0, 0]
    assert end_hash != await env.seed_hash()

    assert await env.replay(trajectory) == end_hash
    assert await env.replay_calls(WRITES) == end_hash  # reference calls, same end state
    assert await env.replay_calls([WRITES[0], WRITES[2], WRITES[1], WRITES[3]]) != end_hash
    assert await env.replay_calls(WRITES[:3]) != end_hash  # a dropped write


async def test_replay_follows_sub_agent_calls_where_they_happened(env: Environment) -> None:
    child = Agent(name="child", tools=env.tools)
    parent = Agent(name="parent", tools=env.tools, sub_agents=[child])
    end: dict[str, str] = {}
    env.on_close = lambda state: end.__setitem__(state.run_id, state.state_hash())
    model = ScriptedModel(
        {
            "parent": [
                call("add_note", body="parent first"),
                call("child", task="write"),
                call("open_ticket", note_id=3),
                say("done"),
            ],
            "child": [call("add_note", body="child"), say("ok")],
        }
    )
    with model:
        result = await parent.arun("go", model=model)
    trajectory = result.trajectory
    expected = [
        ("add_note", {"body": "parent first"}),
        ("add_note", {"body": "child"}),
        ("open_ticket", {"note_id": 3}),
    ]
    assert await env.replay_calls(expected) == end[trajectory.run_id]
    assert await env.replay(trajectory) == end[trajectory.run_id]
    # Without spans, the episodes give the same order.
    assert await env.replay(trajectory.model_copy(update={"spans": []})) == end[trajectory.run_id]


async def test_failed_and_read_only_calls_leave_clock_ids_and_rows_untouched(
    env: Environment,
) -> None:
    ctx = run_context()
    assert ctx.resources is not None
    await call_tool(ctx, env, "list_notes")
    failed = await execute_tool(env.tool("add_note_then_fail"), {"body": "x"}, ctx)
    sneaky = await execute_tool(env.tool("sneaky_read"), {}, ctx)
    assert failed.is_error and failed.content == "refused"
    assert sneaky.is_error and "readonly" in sneaky.content
    assert '"created_at": "2026-01-01T09:01:00Z"' in await call_tool(ctx, env, "add_note", body="a")
    assert await call_tool(ctx, env, "open_ticket", note_id=2) == "T-0001"
    state = await ctx.resources.get(env)
    assert [r[1] for r in state.db.execute("SELECT * FROM notes")] == ["seeded", "a"]
    await ctx.resources.aclose()


async def test_a_write_that_times_out_is_rolled_back(env: Environment) -> None:
    ctx = run_context()
    assert ctx.resources is not None
    outcome = await execute_tool(env.tool("slow_write"), {}, ctx)
    assert outcome.is_error and "timed out" in outcome.content
    # The read waits for the abandoned worker, which rolls back instead of committing.
    assert "slow" not in await call_tool(ctx, env, "list_notes")
    state = await ctx.resources.get(env)
    assert state.clock.ticks == 0
    await ctx.resources.aclose()


async def test_reset_returns_to_the_seed(env: Environment) -> None:
    ctx = run_context()
    assert ctx.resources is not None
    seed_hash = await env.seed_hash()
    await call_tool(ctx, env, "add_note", body="a")
    await call_tool(ctx, env, "open_ticket", note_id=2)
    await call_tool(ctx, env, "save_file", name="out.txt", text="written")
    state = await ctx.resources.get(env)
    assert state.state_hash() != seed_hash
    state.reset()
    assert state.state_hash() == seed_hash
    assert (state.clock.ticks, state.ids.counters) == (0, {})
    assert not (state.files / "out.txt").exists()
    assert (state.files / "readme.txt").read_text() == "hello\n"
    await ctx.resources.aclose()


async def test_files_are_part_of_the_state_and_confined(env: Environment) -> None:
    one = await env.replay_calls([("save_file", {"name": "a.txt", "text": "one"})])
    two = await env.replay_calls([("save_file", {"name": "a.txt", "text": "two"})])
    assert len({one, two, await env.seed_hash()}) == 3
    ctx = run_context()
    assert ctx.resources is not None
    escape = await execute_tool(env.tool("save_file"), {"name": "../x.txt", "text": "x"}, ctx)
    assert escape.is_error and "escapes" in escape.content
    state = await ctx.resources.get(env)
    assert state.snapshot()["files"]["readme.txt"]["text"] == "hello\n"
    await ctx.resources.aclose()


async def test_state_hash_ignores_insertion_order_but_not_content(tmp_path: Path) -> None:
    rows = [(1, "a", "t"), (2, "b", "t"), (3, "c", "t")]
    forward = make_seed(tmp_path / "f.sqlite", rows, tags=("x", "y"))
    backward = make_seed(tmp_path / "b.sqlite", rows[::-1], tags=("y", "x"))
    changed = make_seed(tmp_path / "c.sqlite", [*rows[:2], (3, "C", "t")], tags=("x", "y"))
    hashes = [await Environment("e", TOOLS, seed=s).seed_hash() for s in (forward, backward)]
    assert hashes[0] == hashes[1]
    assert await Environment("e", TOOLS, seed=changed).seed_hash() != hashes[0]
    assert await Environment("e", TOOLS, seed=forward).seed_hash() == hashes[0]  # fresh copy


async def test_reference_calls_must_name_tools_of_the_environment(env: Environment) -> None:
    with pytest.raises(ReplayError, match="no tool 'drop_table'"):
        await env.replay_calls([("drop_table", {})])


def test_clock_and_ids_are_deterministic() -> None:
    clock = DeterministicClock()
    assert clock.iso() == "2026-01-01T09:00:00Z"
    clock.tick()
    clock.tick()
    assert clock.iso() == "2026-01-01T09:02:00Z"
    ids = IdGenerator()
    assert [ids.next("A"), ids.next("B"), ids.next("A")] == ["A-0001", "B-0001", "A-0002"]
