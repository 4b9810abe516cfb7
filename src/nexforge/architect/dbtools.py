"""Row helpers the generated environment tools call: one table, one operation each.

A generated tools module (see ``toolgen``) is a list of small ``@env_tool`` functions
whose bodies are one call to a helper here. The database describes itself, so the
helpers need no schema argument: ``seedgen`` declares each column with one of
``COLUMN_TYPES`` and each reference with a ``REFERENCES`` clause, and the helpers read
those back (``PRAGMA table_info`` / ``foreign_key_list``).

- Table and column names are checked against ``spec.IDENTIFIER`` and the table's real
  columns, then quoted; values are always bound as parameters.
- Booleans are stored as 0/1 and returned as ``bool``; dates are ``YYYY-MM-DD`` text.
- A reference must name an existing row of the referenced table. SQLite's own foreign key
  enforcement cannot be switched on inside the environment's per-call savepoint, so the
  helpers check references themselves.
- Whatever the model got wrong is a ``ToolInputError`` with a one-line message; the
  environment then rolls the call back. A wrong table or column name is a bug in the tools
  module and raises ``ValueError``.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import date
from typing import Any

from nexforge.architect.spec import FieldType, is_identifier
from nexforge.tools.env_state import EnvState
from nexforge.tools.errors import ToolInputError

__all__ = [
    "COLUMN_TYPES",
    "MAX_LIMIT",
    "all_rows",
    "get_row",
    "insert_row",
    "list_rows",
    "search_rows",
    "transition",
    "update_row",
]

MAX_LIMIT = 50
COLUMN_TYPES: dict[FieldType, str] = {
    "text": "TEXT",
    "integer": "INTEGER",
    "real": "REAL",
    "boolean": "BOOLEAN",
    "date": "DATE",
}
"""Declared SQL type per field type. BOOLEAN and DATE have NUMERIC affinity, which keeps
0/1 as integers and ``2026-01-05`` as text; the names tell the helpers how to convert."""
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class _Column:
    name: str
    type: str
    references: str | None


def get_row(state: EnvState, table: str, row_id: int) -> dict[str, Any]:
    """The row of ``table`` with this id; ToolInputError when there is none."""
    columns = _columns(state, table)
    return _fetch(state, table, columns, row_id)


def all_rows(state: EnvState, table: str) -> list[dict[str, Any]]:
    """Every row of ``table`` by id (what a custom tool's compute receives)."""
    columns = _columns(state, table)
    return _select(state, columns, f"SELECT * FROM {_quote(table)} ORDER BY id", [])


def list_rows(
    state: EnvState, table: str, filters: dict[str, Any], limit: int
) -> list[dict[str, Any]]:
    """Rows whose columns equal the non-None ``filters``, by id, at most ``limit`` (<= 50)."""
    columns = _columns(state, table)
    where: list[str] = []
    params: list[Any] = []
    for name, value in filters.items():
        column = _column(columns, table, name)
        if value is not None:
            where.append(f"{_quote(name)} = ?")
            params.append(_to_db(table, column, value))
    sql = f"SELECT * FROM {_quote(table)}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return _select(state, columns, sql + " ORDER BY id LIMIT ?", [*params, _cap(limit)])


def search_rows(
    state: EnvState, table: str, columns: list[str], text: str, limit: int
) -> list[dict[str, Any]]:
    """Rows where any of the text ``columns`` contains ``text`` (ASCII case-insensitive)."""
    known = _columns(state, table)
    needle = text.strip()
    if not needle:
        raise ToolInputError("give some text to search for")
    if not columns:
        raise ValueError(f"search over {table!r} needs at least one column")
    tests = [
        f"instr(lower({_quote(_column(known, table, c).name)}), lower(?)) > 0" for c in columns
    ]
    sql = f"SELECT * FROM {_quote(table)} WHERE {' OR '.join(tests)} ORDER BY id LIMIT ?"
    return _select(state, known, sql, [*([needle] * len(columns)), _cap(limit)])


def insert_row(state: EnvState, table: str, values: dict[str, Any]) -> dict[str, Any]:
    """Insert a row (every column but ``id`` given, none None); returns it with its id."""
    columns = _columns(state, table)
    for name in columns:
        if name != "id" and values.get(name) is None:
            raise ToolInputError(f"{table}: {name} is required")
    row = _checked(state, table, columns, values)
    names = ", ".join(_quote(n) for n in row)
    marks = ", ".join("?" for _ in row)
    cursor = _write(state, f"INSERT INTO {_quote(table)} ({names}) VALUES ({marks})", row, table)
    assert cursor.lastrowid is not None
    return _fetch(state, table, columns, cursor.lastrowid)


def update_row(state: EnvState, table: str, row_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """Set the non-None ``values`` of one row; returns the updated row."""
    columns = _columns(state, table)
    _fetch(state, table, columns, row_id)
    given = {k: v for k, v in values.items() if v is not None}
    if not given:
        names = ", ".join(values) or "none"
        raise ToolInputError(f"nothing to update: give at least one of {names}")
    row = _checked(state, table, columns, given)
    assignments = ", ".join(f"{_quote(n)} = ?" for n in row)
    sql = f"UPDATE {_quote(table)} SET {assignments} WHERE id = ?"
    _write(state, sql, {**row, "id": row_id}, table)
    return _fetch(state, table, columns, row_id)


def transition(
    state: EnvState,
    table: str,
    row_id: int,
    field: str,
    value: Any,
    allowed_from: list[Any],
) -> dict[str, Any]:
    """Set ``field`` of one row to ``value`` if its current value is in ``allowed_from``
    (empty: always); otherwise a ToolInputError naming the current and allowed values."""
    columns = _columns(state, table)
    row = _fetch(state, table, columns, row_id)
    current = row[_column(columns, table, field).name]
    if allowed_from and current not in allowed_from:
        allowed = ", ".join(repr(v) for v in allowed_from)
        raise ToolInputError(
            f"{table} row {row_id} has {field} {current!r}; "
            f"this is only allowed when {field} is one of: {allowed}"
        )
    return update_row(state, table, row_id, {field: value})


def _columns(state: EnvState, table: str) -> dict[str, _Column]:
    if not is_identifier(table):
        raise ValueError(f"not a table name: {table!r}")
    info = state.db.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
    if not info:
        raise ValueError(f"the database has no table {table!r}")
    keys = state.db.execute(f"PRAGMA foreign_key_list({_quote(table)})").fetchall()
    references = {key[3]: key[2] for key in keys}
    return {row[1]: _Column(row[1], str(row[2]).upper(), references.get(row[1])) for row in info}


def _column(columns: dict[str, _Column], table: str, name: str) -> _Column:
    if not is_identifier(name) or name not in columns:
        raise ValueError(f"table {table!r} has no column {name!r}")
    return columns[name]


def _checked(
    state: EnvState, table: str, columns: dict[str, _Column], values: dict[str, Any]
) -> dict[str, Any]:
    """``values`` in their stored form, after the reference checks."""
    row: dict[str, Any] = {}
    for name, value in values.items():
        column = _column(columns, table, name)
        if name == "id":
            raise ValueError(f"{table}: the id is assigned by the database")
        row[name] = _to_db(table, column, value)
        if column.references is not None and value is not None:
            found = state.db.execute(
                f"SELECT 1 FROM {_quote(column.references)} WHERE id = ?", (value,)
            ).fetchone()
            if found is None:
                raise ToolInputError(f"{name}: no {column.references} row with id {value}")
    return row


def _to_db(table: str, column: _Column, value: Any) -> Any:
    if value is None:
        return None
    if column.type == "BOOLEAN":
        return int(bool(value))
    if column.type == "DATE":
        text = str(value).strip()
        if not _DATE.match(text):
            raise ToolInputError(f"{column.name}: a date is YYYY-MM-DD, got {value!r}")
        try:
            date.fromisoformat(text)
        except ValueError:
            raise ToolInputError(f"{column.name}: {text} is not a calendar date") from None
        return text
    return value


def _from_db(
    columns: dict[str, _Column], names: list[str], values: tuple[Any, ...]
) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, value in zip(names, values, strict=True):
        column = columns.get(name)
        is_bool = column is not None and column.type == "BOOLEAN" and value is not None
        row[name] = bool(value) if is_bool else value
    return row


def _fetch(state: EnvState, table: str, columns: dict[str, _Column], row_id: int) -> dict[str, Any]:
    rows = _select(state, columns, f"SELECT * FROM {_quote(table)} WHERE id = ?", [row_id])
    if not rows:
        raise ToolInputError(f"no {table} row with id {row_id}")
    return rows[0]


def _select(
    state: EnvState, columns: dict[str, _Column], sql: str, params: list[Any]
) -> list[dict[str, Any]]:
    cursor = state.db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [_from_db(columns, names, row) for row in cursor.fetchall()]


def _write(state: EnvState, sql: str, row: dict[str, Any], table: str) -> sqlite3.Cursor:
    try:
        return state.db.execute(sql, list(row.values()))
    except sqlite3.IntegrityError as exc:
        # A CHECK (allowed values, 0/1, date shape) or NOT NULL the model's values broke.
        raise ToolInputError(f"{table}: rejected by the database ({exc})") from None


def _cap(limit: int) -> int:
    return max(1, min(int(limit), MAX_LIMIT))


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
