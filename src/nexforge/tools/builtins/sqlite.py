"""sqlite_query: one SQL statement against a configured SQLite database.

Reads and writes stay inside that one database file (and its journal). An authorizer
refuses, in both modes, what reaches other files or native code: ``ATTACH`` and ``VACUUM
INTO`` (SQLite authorizes it as an ATTACH of its target; either would create or open any
file as this process, root included), ``DETACH``, ``load_extension()``,
``fts3_tokenizer()`` and the pragmas that move temporary files or unlock the schema.
Read-only mode also refuses writes (``mode=ro``) and ``PRAGMA query_only``. A database
path (or journal) that is a symbolic link is refused: it could point anywhere.
"""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
from pathlib import Path
from typing import Any

from pydantic import Field

from nexforge.core.durations import Seconds
from nexforge.tools.base import Tool, ToolContext
from nexforge.tools.builtins.options import CommonOptions, parse_options
from nexforge.tools.errors import ToolInputError
from nexforge.tools.schema import parse_docstring, tool_from_function

_CELL_CHARS = 200
_PROGRESS_OPS = 1000
_BACKSTOP_S = 5.0
_DENIED_FUNCTIONS = {"load_extension", "fts3_tokenizer"}
_DENIED_PRAGMAS = {"temp_store_directory", "data_store_directory", "writable_schema"}
_READONLY_DENIED_PRAGMAS = _DENIED_PRAGMAS | {"query_only"}
_SIDE_FILES = ("-journal", "-wal", "-shm")


class SqliteOptions(CommonOptions):
    """``database`` is relative to the config file's directory, else to the workspace."""

    database: str
    readonly: bool = True
    max_rows: int = Field(default=200, gt=0)
    timeout_s: Seconds = 30.0


def make_sqlite_query(options: dict[str, Any] | None, base_dir: Path | None) -> Tool:
    opts = parse_options("sqlite_query", SqliteOptions, options)
    mode = "read-only" if opts.readonly else "read-write"

    def sqlite_query(ctx: ToolContext, sql: str) -> str:
        """Run one SQL statement on the database and return the result rows as a table.

        Args:
            sql: A single SQLite statement, e.g. "SELECT name FROM sqlite_master".
        """
        path = Path(opts.database).expanduser()
        if not path.is_absolute():
            path = (base_dir or ctx.workspace) / path
        if opts.readonly and not path.is_file():
            raise ToolInputError(f"database '{opts.database}' does not exist")
        if any(Path(f"{path}{side}").is_symlink() for side in ("", *_SIDE_FILES)):
            raise ToolInputError(f"database '{opts.database}' is a symbolic link; refused")
        conn = _connect(path, opts.readonly)
        deadline = time.monotonic() + opts.timeout_s
        # Returning non-zero from the progress handler aborts the running statement.
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_OPS)
        try:
            cursor = conn.execute(sql)
            if cursor.description is None:
                conn.commit()
                return f"ok: {max(cursor.rowcount, 0)} rows affected"
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchmany(opts.max_rows + 1)
            return _table(columns, rows, opts.max_rows)
        except sqlite3.OperationalError as exc:
            if time.monotonic() > deadline:
                raise ToolInputError(f"query interrupted after {opts.timeout_s:g}s") from None
            raise ToolInputError(f"sqlite error: {exc}") from None
        except (sqlite3.DatabaseError, sqlite3.Warning) as exc:
            raise ToolInputError(f"sqlite error: {exc}") from None
        finally:
            conn.close()

    summary, _ = parse_docstring(sqlite_query.__doc__ or "")
    return tool_from_function(
        sqlite_query,
        description=f"{summary} The database is opened {mode}.",
        read_only=opts.readonly,
        timeout_s=opts.timeout_s + _BACKSTOP_S,
        max_output_chars=opts.max_output_chars,
    )


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    # check_same_thread off: each call opens, uses and closes it in one worker thread.
    if not readonly:
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.set_authorizer(_readwrite_authorizer)
        return conn
    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    conn.set_authorizer(_readonly_authorizer)
    return conn


def _readwrite_authorizer(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    # A plain VACUUM attaches a temporary database named ''; VACUUM INTO and ATTACH name a file.
    if action == sqlite3.SQLITE_ATTACH and arg1 == "":
        return sqlite3.SQLITE_OK
    return _authorize(action, arg1, arg2, _DENIED_PRAGMAS)


def _readonly_authorizer(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    return _authorize(action, arg1, arg2, _READONLY_DENIED_PRAGMAS)


def _authorize(action: int, arg1: str | None, arg2: str | None, pragmas: set[str]) -> int:
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    # Reading a pragma (no argument) is harmless; setting one of these is not.
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in pragmas and arg2:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<blob {len(value)} bytes>"
    text = str(value).replace("\n", "\\n").replace("|", "\\|")
    return text if len(text) <= _CELL_CHARS else text[:_CELL_CHARS] + "..."


def _table(columns: list[str], rows: list[Any], max_rows: int) -> str:
    lines = [" | ".join(columns)]
    lines += [" | ".join(_cell(v) for v in row) for row in rows[:max_rows]]
    if len(rows) > max_rows:
        lines.append(f"(first {max_rows} rows shown; more rows exist)")
    else:
        lines.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(lines)
