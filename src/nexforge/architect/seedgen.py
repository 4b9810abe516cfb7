"""Seed rows: what the model is asked for, how its answer is fixed or sent back, and the
SQLite database the rows become.

A build seeds ``SEED_ROWS`` rows per entity: the columns ``seed_values`` can draw
(names of people, contacts, numbers, dates, statuses, references) are drawn; the model
writes the rest (``model_part``), and its rows go back to it with the quality rung's
reasons while they look like placeholders (``realism_problems``). The schema for rows
offers exactly the ids of the rows of referenced entities: a reference field is an
integer ``enum`` of ``1..counts[referenced entity]``.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from nexforge.architect.dbtools import COLUMN_TYPES
from nexforge.architect.quality_rung import Column, Table, table_seed_problems
from nexforge.architect.seed_values import drawn
from nexforge.architect.spec import (
    RESERVED_FIELDS,
    DomainSpec,
    EntitySpec,
    FieldSpec,
    Row,
    SeedData,
)

MIN_SEED_ROWS = 5
MAX_SEED_ROWS = 8
SEED_ROWS = 6
"""Rows a build writes per entity (within MIN..MAX_SEED_ROWS)."""
TEXT_MAX_LENGTH = 80
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"  # llguidance has no \d
_DATE_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ].*)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_TRUE = frozenset({"true", "yes", "y", "t", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "f", "0", "off"})


def seed_order(domain: DomainSpec) -> list[str]:
    """Entity names, each after the entities it references (domain order otherwise).

    Raises ValueError for a repeated entity or field name, a field named ``id`` (every
    table has one already), a reference to an unknown entity, a reference field that is
    not an integer, and a reference cycle (a self-reference included).
    """
    names = [e.name for e in domain.entities]
    if len(set(names)) < len(names):
        raise ValueError(f"repeated entity name in: {', '.join(names)}")
    for entity in domain.entities:
        fields = [f.name for f in entity.fields]
        if len(set(fields)) < len(fields) or RESERVED_FIELDS & set(fields):
            raise ValueError(f"{entity.name}: field names must be unique and not id: {fields}")
    needs: dict[str, set[str]] = {}
    for entity in domain.entities:
        needs[entity.name] = set()
        for f in entity.fields:
            if f.references is None:
                continue
            where = f"{entity.name}.{f.name}"
            if f.references not in names:
                raise ValueError(f"{where} references unknown entity {f.references!r}")
            if f.type != "integer":
                raise ValueError(f"{where} references {f.references} but is {f.type}, not integer")
            needs[entity.name].add(f.references)
    order: list[str] = []
    while len(order) < len(names):
        ready = [n for n in names if n not in order and needs[n] <= set(order)]
        if not ready:
            stuck = ", ".join(n for n in names if n not in order)
            raise ValueError(f"reference cycle among entities: {stuck}")
        order.append(ready[0])
    return order


TEXT_SYSTEM = """You write sample rows for one table of a business's database: values as
they appear in real records, each row different. Never number names ("Bike 1") and never
use placeholders ("John Doe", "Item", "example", "lorem ipsum").
Example. A car rental desk, table cars, 3 rows of name, colour:
{"rows": [{"name": "Toyota Corolla 2022", "colour": "silver"},
{"name": "Ford Focus Estate", "colour": "dark blue"},
{"name": "Kia Niro EV", "colour": "white"}]}
Call submit_rows."""


def model_part(entity: EntitySpec) -> EntitySpec | None:
    """``entity`` with only the columns the model writes (``None``: nothing to write)."""
    fields = [f for f in entity.fields if not drawn(entity, f)]
    return entity.model_copy(update={"fields": fields}) if fields else None


def text_prompt(domain: DomainSpec, part: EntitySpec, rows: int) -> str:
    columns = ", ".join(
        f"{f.name} (e.g. {f.example!r})" if f.example else f.name for f in part.fields
    )
    return (
        f"{domain.title}: {domain.purpose}\nTable {part.name} ({part.description}), "
        f"{rows} rows of {columns}:"
    )


def normalize_text_rows(
    part: EntitySpec, raw_rows: list[Any], count: int
) -> tuple[list[Row], list[str]]:
    """The model's text for ``count`` rows (they join drawn rows, so text may repeat
    across rows: ``realism_problems`` judges that), and what cannot be fixed."""
    rows: list[Row] = []
    problems: list[str] = []
    for index, raw in enumerate(raw_rows[:count]):
        row, row_problems = _normalize_row(part, index, raw, {})
        problems += row_problems
        if row is not None:
            rows.append(row)
    if len(raw_rows) < count:
        problems.append(f"only {len(raw_rows)} rows of {part.name}; write {count}")
    return rows, problems


KEPT_TEXT = frozenset({"name", "title", "reason"})
"""Text columns a table keeps even when the model cannot fill them well (others go)."""


def realism_problems(part: EntitySpec, rows: list[Row]) -> dict[str, str]:
    """What the quality rung would say about these rows, by column: feedback for the
    model, and after the last repair the columns to drop (``unfillable``)."""
    columns = [Column(f.name, f.type, tuple(f.values)) for f in part.fields]
    problems = table_seed_problems(Table(part.name, columns, rows))
    return {p.where.split(".", 1)[-1]: str(p) for p in problems}


def unfillable(problems: dict[str, str]) -> list[str]:
    """The columns to drop after the last repair: all that failed but KEPT_TEXT ones."""
    return [c for c in problems if c not in KEPT_TEXT]


def seeded_domain(domain: DomainSpec, seed: SeedData) -> DomainSpec:
    """``domain`` without the columns its seed rows dropped (``unfillable``)."""
    entities = []
    for entity in domain.entities:
        rows = seed.rows.get(entity.name) or [{}]
        kept = [f for f in entity.fields if f.name in rows[0]] or entity.fields
        entities.append(entity.model_copy(update={"fields": kept}))
    return domain.model_copy(update={"entities": entities})


def seed_request_schema(
    domain: DomainSpec,
    entity: EntitySpec,
    counts: dict[str, int],
    *,
    min_rows: int = MIN_SEED_ROWS,
    max_rows: int = MAX_SEED_ROWS,
) -> dict[str, Any]:
    """The JSON Schema the model fills with ``entity``'s seed rows.

    Only keywords llguidance enforces in constrained decoding are used. ``counts`` holds
    the rows already made per entity; a reference to an entity without rows is a
    ValueError (seed in ``seed_order``).
    """
    properties = {f.name: _field_schema(entity, f, counts) for f in entity.fields}
    row = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    rows = {"type": "array", "minItems": min_rows, "maxItems": max_rows, "items": row}
    return {
        "type": "object",
        "properties": {"rows": rows},
        "required": ["rows"],
        "additionalProperties": False,
    }


def _field_schema(entity: EntitySpec, f: FieldSpec, counts: dict[str, int]) -> dict[str, Any]:
    if f.references is not None:
        n = counts.get(f.references, 0)
        if n < 1:
            raise ValueError(
                f"{entity.name}.{f.name} references {f.references}, which has no rows yet"
            )
        return {"type": "integer", "enum": list(range(1, n + 1))}
    if f.type == "integer":
        return {"type": "integer"}
    if f.type == "real":
        return {"type": "number"}
    if f.type == "boolean":
        return {"type": "boolean"}
    if f.type == "date":
        return {"type": "string", "pattern": DATE_PATTERN}
    if f.values:
        return {"type": "string", "enum": list(f.values)}
    return {"type": "string", "maxLength": TEXT_MAX_LENGTH}


def coerce_value(f: FieldSpec, value: Any) -> Any:
    """``value`` as ``f``'s type (``"12"`` -> 12, ``"yes"`` -> True, strings stripped, a
    value matched to ``f.values`` case-insensitively); ValueError saying why it cannot be."""
    if value is None:
        raise ValueError("is null")
    if f.type == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INTEGER.match(value.strip()):
            return int(value.strip())
        raise ValueError(f"{value!r} is not an integer")
    if f.type == "real":
        number = _real(value)
        if number is None:
            raise ValueError(f"{value!r} is not a number")
        return number
    if f.type == "boolean":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower() if isinstance(value, str | int) else ""
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ValueError(f"{value!r} is not true or false")
    if f.type == "date":
        match = _DATE_PREFIX.match(value.strip()) if isinstance(value, str) else None
        if match is None or not _is_calendar_date(match.group(1)):
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")
        return match.group(1)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not text")
    text = str(value).strip()
    if f.values:
        canonical = {v.casefold(): v for v in reversed(f.values)}
        if text.casefold() not in canonical:
            allowed = ", ".join(repr(v) for v in f.values)
            raise ValueError(f"{text!r} is not one of: {allowed}")
        return canonical[text.casefold()]
    return text


def _real(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _is_calendar_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def normalize_seed_rows(
    domain: DomainSpec,
    entity: EntitySpec,
    raw_rows: list[Any],
    counts: dict[str, int],
    *,
    min_rows: int = MIN_SEED_ROWS,
    max_rows: int = MAX_SEED_ROWS,
) -> tuple[list[Row], list[str]]:
    """The model's rows for ``entity`` after deterministic fixes, and what cannot be fixed.

    Fixes: values coerced to their field's type, strings stripped, unknown keys (and
    ``id``) dropped, exact duplicates dropped, rows beyond ``max_rows`` dropped. Problems
    (one line each, naming ``rows[i].field``, to send back to the model): a row that is
    not an object, a missing field, a value of the wrong type or outside the field's
    ``values``, a reference to a row that does not exist, and too few rows. Only rows
    without problems are returned.
    """
    del domain  # the entity and counts say everything; kept for a uniform stage signature
    rows: list[Row] = []
    seen: set[tuple[Any, ...]] = set()
    problems: list[str] = []
    for index, raw in enumerate(raw_rows):
        row, row_problems = _normalize_row(entity, index, raw, counts)
        problems += row_problems
        if row is None:
            continue
        key = tuple((type(v).__name__, v) for v in row.values())
        if key not in seen:
            seen.add(key)
            rows.append(row)
    rows = rows[:max_rows]
    if len(rows) < min_rows:
        problems.append(
            f"only {len(rows)} valid distinct rows of {entity.name}; need at least {min_rows}"
        )
    return rows, problems


def _normalize_row(
    entity: EntitySpec, index: int, raw: Any, counts: dict[str, int]
) -> tuple[Row | None, list[str]]:
    if not isinstance(raw, dict):
        return None, [f"rows[{index}]: expected an object with the fields, got {_kind(raw)}"]
    row: Row = {}
    problems: list[str] = []
    for f in entity.fields:
        where = f"rows[{index}].{f.name}"
        if f.name not in raw:
            problems.append(f"{where}: missing")
            continue
        try:
            value = coerce_value(f, raw[f.name])
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if f.references is not None and not 1 <= value <= counts.get(f.references, 0):
            n = counts.get(f.references, 0)
            problems.append(f"{where}: {value} is not an id of {f.references} (1..{n})")
            continue
        row[f.name] = value
    return (None, problems) if problems else (row, [])


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def check_seed(domain: DomainSpec, seed: SeedData) -> tuple[dict[str, list[Row]], list[str]]:
    """Every entity's rows coerced (nothing dropped: ids stay ``1..n``), and the problems:
    an entity without rows, rows of an unknown entity, and each row problem."""
    problems = [f"seed rows for unknown entity {n!r}" for n in seed.rows if n not in _names(domain)]
    counts: dict[str, int] = {}
    checked: dict[str, list[Row]] = {}
    for name in seed_order(domain):
        entity = domain.entity(name)
        raw_rows = seed.rows.get(name, [])
        if not raw_rows:
            problems.append(f"{name}: no seed rows")
        rows: list[Row] = []
        for index, raw in enumerate(raw_rows):
            row, row_problems = _normalize_row(entity, index, raw, counts)
            problems += [f"{name} {p}" for p in row_problems]
            rows.append(row if row is not None else {})
        checked[name] = rows
        counts[name] = len(rows)
    return checked, problems


def _names(domain: DomainSpec) -> set[str]:
    return {e.name for e in domain.entities}


def create_table_sql(entity: EntitySpec) -> str:
    """``CREATE TABLE`` with typed columns, CHECKs for allowed values and a REFERENCES
    clause per reference (read back by ``dbtools``)."""
    lines = ['"id" INTEGER PRIMARY KEY']
    for f in entity.fields:
        name = _quote(f.name)
        column = f"{name} {COLUMN_TYPES[f.type]} NOT NULL"
        if f.references is not None:
            column += f' REFERENCES {_quote(f.references)} ("id")'
        elif f.values and f.type == "text":
            column += f" CHECK ({name} IN ({', '.join(_sql_text(v) for v in f.values)}))"
        elif f.type == "boolean":
            column += f" CHECK ({name} IN (0, 1))"
        elif f.type == "date":
            column += f" CHECK ({name} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]')"
        lines.append(column)
    body = ",\n    ".join(lines)
    return f"CREATE TABLE {_quote(entity.name)} (\n    {body}\n)"


def write_seed_database(domain: DomainSpec, seed: SeedData, path: Path) -> dict[str, int]:
    """Write the seed database (ids ``1..n`` per entity) and return the row counts.

    ValueError for any problem ``check_seed`` finds. The file is written whole: built
    next to ``path`` and renamed, then checked for row counts and dangling references.
    """
    rows, problems = check_seed(domain, seed)
    if problems:
        raise ValueError("seed rows are not valid: " + "; ".join(problems))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        db = sqlite3.connect(tmp)
        try:
            with db:
                for entity in domain.entities:
                    db.execute(create_table_sql(entity))
                    _insert(db, entity, rows[entity.name])
            _verify(db, domain, rows)
        finally:
            db.close()
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {name: len(entity_rows) for name, entity_rows in rows.items()}


def _insert(db: sqlite3.Connection, entity: EntitySpec, rows: list[Row]) -> None:
    names = ["id", *(f.name for f in entity.fields)]
    columns = ", ".join(_quote(n) for n in names)
    marks = ", ".join("?" for _ in names)
    sql = f"INSERT INTO {_quote(entity.name)} ({columns}) VALUES ({marks})"
    db.executemany(
        sql, [[i, *(row[f.name] for f in entity.fields)] for i, row in enumerate(rows, 1)]
    )


def _verify(db: sqlite3.Connection, domain: DomainSpec, rows: dict[str, list[Row]]) -> None:
    for entity in domain.entities:
        (count,) = db.execute(f"SELECT count(*) FROM {_quote(entity.name)}").fetchone()
        if count != len(rows[entity.name]):
            raise ValueError(
                f"{entity.name}: wrote {count} rows, expected {len(rows[entity.name])}"
            )
    dangling = db.execute("PRAGMA foreign_key_check").fetchall()
    if dangling:
        table, row_id, target, _ = dangling[0]
        raise ValueError(f"{table} row {row_id} references a missing {target} row")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _sql_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError(f"allowed value {value!r} contains a NUL character")
    return "'" + value.replace("'", "''") + "'"
