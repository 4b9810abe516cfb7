"""QUERIES files: one QueryRecord JSON object per line (only ``text`` is required)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from nexforge.core.errors import ConfigError, NexForgeError
from nexforge.synthesis.records import QueryRecord
from nexforge.tools.environment import Environment


def read_queries(path: str | Path, framework_hash: str) -> list[QueryRecord]:
    """Parse and key every non-blank line; a bad line is a ConfigError with its number.

    A line may also be a bare JSON string (the query text). Keys and framework hashes in
    the file are recomputed: a query file written for one framework can be run on another.
    """
    file = Path(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read queries: {exc}", file=file) from exc
    records: list[QueryRecord] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"not JSON: {exc.msg} (column {exc.colno})", file=file, line=number
            ) from exc
        if isinstance(data, str):
            data = {"text": data}
        if not isinstance(data, dict):
            raise ConfigError("expected a JSON object with a 'text' key", file=file, line=number)
        data = {k: v for k, v in data.items() if k not in ("key", "framework_hash")}
        try:
            record = QueryRecord.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or None
            raise ConfigError(first["msg"], file=file, line=number, key=where) from exc
        records.append(record.keyed(framework_hash))
    if not records:
        raise ConfigError("the file holds no queries", file=file)
    return records


async def with_reference_states(
    records: list[QueryRecord], environment: Environment | None
) -> list[QueryRecord]:
    """Hand-written or imported queries whose expected outcome has reference calls but no
    end state get one: the calls replayed on a fresh copy of the environment (as
    ``verify`` and ``eval framework`` do), so a run that changes the wrong record fails.
    Raises ConfigError for a reference call to a tool the environment does not have."""
    done: list[QueryRecord] = []
    for record in records:
        expected = record.expected
        if environment is None or expected is None or not expected.calls or expected.state_hash:
            done.append(record)
            continue
        try:
            state = await environment.replay_calls([(c.tool, c.arguments) for c in expected.calls])
        except (NexForgeError, ValueError) as exc:
            raise ConfigError(f"query {record.text[:60]!r}: reference calls: {exc}") from exc
        filled = expected.model_copy(update={"state_hash": state})
        done.append(record.model_copy(update={"expected": filled}))
    return done


def write_queries(path: str | Path, records: Iterable[QueryRecord]) -> int:
    """Write records as JSONL atomically (a temp file renamed into place); returns the count."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    temp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    count = 0
    with temp.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(record.model_dump_json(exclude_defaults=True) + "\n")
            count += 1
    temp.replace(file)
    return count
