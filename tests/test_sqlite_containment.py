"""sqlite_query, read-write or read-only, acts on its one database: ATTACH, VACUUM INTO,
extensions, temp-directory pragmas and symbolic links cannot reach other files."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexforge.runtime.config import load_agent
from nexforge.testing import ScriptedModel, call, say
from nexforge.tools import ToolContext, ToolOutcome, execute_tool, make_builtin, make_run_workspace

DENIED = ("sqlite error: not authorized", "sqlite error: authorization denied")


@pytest.fixture
def ctx() -> Iterator[ToolContext]:
    path = make_run_workspace()
    yield ToolContext(workspace=path, run_id="r1")
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the database's: nothing may appear in it."""
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "shop.db"
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO items (name) VALUES ('apple'), ('pear')")
    conn.close()
    return path


async def sql(db: Path, ctx: ToolContext, statement: str, *, readonly: bool) -> ToolOutcome:
    tool = make_builtin("sqlite_query", {"database": str(db), "readonly": readonly})
    return await execute_tool(tool, {"sql": statement}, ctx)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def attacks(outside: Path) -> list[str]:
    target = outside / "loot.db"
    return [
        f"VACUUM INTO '{target}'",
        f"VACUUM main INTO 'file:{target}?mode=rwc'",
        f"ATTACH DATABASE '{target}' AS loot",
        f"ATTACH DATABASE 'file:{target}' AS loot",
        "ATTACH DATABASE ':memory:' AS m",
        f"SELECT load_extension('{outside}/evil.so')",
        "SELECT fts3_tokenizer('simple')",
        f"PRAGMA temp_store_directory = '{outside}'",
        f"PRAGMA data_store_directory = '{outside}'",
        "PRAGMA writable_schema = ON",
        "DETACH DATABASE temp",
    ]


@pytest.mark.parametrize("readonly", [False, True], ids=["read-write", "read-only"])
async def test_no_statement_reaches_a_file_outside_the_database(
    db: Path, ctx: ToolContext, outside: Path, readonly: bool
) -> None:
    before = names(db.parent)
    for statement in attacks(outside):
        outcome = await sql(db, ctx, statement, readonly=readonly)
        assert outcome.is_error, statement
        # SQLite refuses at prepare time ("not authorized"), VACUUM INTO when it runs.
        assert outcome.content.startswith(DENIED), (statement, outcome.content)

    assert names(outside) == []
    assert names(db.parent) == before
    check = await sql(db, ctx, "SELECT count(*) AS n FROM items", readonly=readonly)
    assert check.content == "n\n2\n(1 row)"


async def test_read_write_still_writes_its_own_database(db: Path, ctx: ToolContext) -> None:
    statements = [
        "CREATE TABLE log (at TEXT, what TEXT)",
        "CREATE INDEX log_at ON log (at)",
        "CREATE TRIGGER t AFTER INSERT ON items BEGIN INSERT INTO log VALUES ('now', new.name); END",
        "INSERT INTO items (name) VALUES ('fig')",
        "UPDATE items SET name = 'Apple' WHERE id = 1",
        "DELETE FROM items WHERE name = 'pear'",
        "CREATE VIEW names AS SELECT name FROM items",
        "PRAGMA journal_mode = WAL",
        "PRAGMA user_version = 3",
        "VACUUM",
        "ANALYZE",
    ]
    for statement in statements:
        outcome = await sql(db, ctx, statement, readonly=False)
        assert not outcome.is_error, (statement, outcome.content)

    rows = await sql(
        db,
        ctx,
        "SELECT n.name, l.what FROM names n LEFT JOIN log l ON l.what = n.name ORDER BY n.name",
        readonly=False,
    )
    assert rows.content == "name | what\nApple | NULL\nfig | fig\n(2 rows)"


@pytest.mark.parametrize("side", ["", "-journal", "-wal"])
async def test_a_database_or_journal_that_is_a_symbolic_link_is_refused(
    ctx: ToolContext, outside: Path, side: str
) -> None:
    victim = outside / "victim.db"
    victim.write_bytes(b"")
    (ctx.workspace / f"w.db{side}").symlink_to(victim)

    tool = make_builtin("sqlite_query", {"database": "w.db", "readonly": False})
    outcome = await execute_tool(tool, {"sql": "CREATE TABLE t (x)"}, ctx)

    assert outcome == ToolOutcome("database 'w.db' is a symbolic link; refused", is_error=True)
    assert victim.read_bytes() == b""


async def test_an_agent_told_to_copy_the_database_out_gets_a_tool_error(
    tmp_path: Path, db: Path, outside: Path
) -> None:
    config = tmp_path / "clerk.yaml"
    config.write_text(
        "name: clerk\nsystem_prompt: You keep the shop's books.\ntools:\n"
        "  - builtin: sqlite_query\n    options: {database: data/shop.db, readonly: false}\n"
    )
    stolen = outside / "copy.db"
    model = ScriptedModel(
        [call("sqlite_query", sql=f"VACUUM INTO '{stolen}'"), say("I could not copy it.")]
    )

    result = await load_agent(config).arun("Back the database up to /tmp", model=model)

    tool_message = result.trajectory.episodes[0].messages[-2]
    assert tool_message.is_error and (tool_message.content or "").startswith(DENIED)
    assert not stolen.exists()
