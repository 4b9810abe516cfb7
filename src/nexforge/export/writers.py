"""Export files: JSONL (one object per line) or Parquet shards, never half-written.

Every file is written under a hidden temporary name next to its final one and renamed
into place only when the whole export succeeded, so a crash or an error never leaves a
partial file under a final name (and an older export stays intact until replaced).

Parquet keeps nested values (``messages``, ``tools``, ``provenance``...) as JSON strings:
Arrow needs one type per column and tool-call arguments differ from row to row. Rows go
out in row groups as they come, and a new shard starts every ``shard_rows`` rows; several
shards are named ``name-00000-of-00003.parquet`` (one keeps the name it was given).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from pathlib import Path
from types import ModuleType, TracebackType
from typing import IO, Any, Literal

from nexforge.export.options import ExportError

ColumnKind = Literal["json", "string", "bool", "float"]
ROW_GROUP = 1000


def _temp_path(final: Path, tag: str = "") -> Path:
    return final.with_name(f".{final.name}{tag}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def _pyarrow() -> tuple[ModuleType, ModuleType]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError("parquet output needs pyarrow: pip install 'nexforge[export]'") from None
    return pa, pq


class JsonlFile:
    """One JSON object per line, written as rows come (the line is already serialised)."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.rows = 0
        self._temp = _temp_path(final)
        self._file: IO[str] = self._temp.open("w", encoding="utf-8")

    def write(self, row: dict[str, Any], line: str) -> None:
        self._file.write(line)
        self._file.write("\n")
        self.rows += 1

    def finish(self) -> list[tuple[Path, Path, int]]:
        self._file.close()
        return [(self._temp, self.final, self.rows)]

    def discard(self) -> list[Path]:
        self._file.close()
        return [self._temp]


class ParquetFile:
    """Typed columns from each row's fields, in row groups, a new shard every N rows."""

    def __init__(self, final: Path, columns: dict[str, ColumnKind], shard_rows: int) -> None:
        self._pa, self._pq = _pyarrow()
        self.final = final
        self.rows = 0
        self._columns = columns
        self._shard_rows = shard_rows
        types = {"json": "string", "string": "string", "bool": "bool_", "float": "float64"}
        self._schema = self._pa.schema(
            [(name, getattr(self._pa, types[kind])()) for name, kind in columns.items()]
        )
        self._shards: list[tuple[Path, int]] = []
        self._writer: Any = None
        self._buffer: dict[str, list[Any]] = {name: [] for name in columns}
        self._buffered = 0

    def write(self, row: dict[str, Any], line: str) -> None:
        for name, kind in self._columns.items():
            value = row.get(name)
            if kind == "json" and value is not None:
                value = json.dumps(value, ensure_ascii=False)
            self._buffer[name].append(value)
        self._buffered += 1
        self.rows += 1
        in_shard = self._shards[-1][1] if self._writer is not None else 0
        if self._buffered >= ROW_GROUP or in_shard + self._buffered >= self._shard_rows:
            self._flush()

    def _flush(self) -> None:
        """Write the buffer as a row group of the open shard (opening one if needed)."""
        if self._writer is None:
            temp = _temp_path(self.final, f"-{len(self._shards):05d}")
            self._writer = self._pq.ParquetWriter(str(temp), self._schema)
            self._shards.append((temp, 0))
        self._writer.write_table(self._pa.Table.from_pydict(self._buffer, schema=self._schema))
        temp, count = self._shards[-1]
        self._shards[-1] = (temp, count + self._buffered)
        self._buffer = {name: [] for name in self._columns}
        self._buffered = 0
        if self._shards[-1][1] >= self._shard_rows:
            self._writer.close()
            self._writer = None

    def finish(self) -> list[tuple[Path, Path, int]]:
        if self._buffered or not self._shards:
            self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if len(self._shards) == 1:
            return [(self._shards[0][0], self.final, self._shards[0][1])]
        total = len(self._shards)
        return [
            (temp, shard_path(self.final, index, total), count)
            for index, (temp, count) in enumerate(self._shards)
        ]

    def discard(self) -> list[Path]:
        if self._writer is not None:
            with contextlib.suppress(Exception):  # the temp file is deleted either way
                self._writer.close()
        return [temp for temp, _ in self._shards]


def shard_path(final: Path, index: int, total: int) -> Path:
    return final.with_name(f"{final.stem}-{index:05d}-of-{total:05d}{final.suffix}")


def _stale_shards(final: Path) -> list[Path]:
    pattern = re.compile(rf"{re.escape(final.stem)}-\d{{5}}-of-\d{{5}}{re.escape(final.suffix)}")
    return [p for p in final.parent.glob(f"{final.stem}-*") if pattern.fullmatch(p.name)]


def split_path(output: Path, split: str | None) -> Path:
    """``out.jsonl`` -> ``out.train.jsonl`` for a named split; the output itself otherwise."""
    return output if split is None else output.with_name(f"{output.stem}.{split}{output.suffix}")


class OutputSet:
    """The files of one export, one per split; renamed into place by ``commit``."""

    def __init__(
        self,
        output: Path,
        splits: tuple[str, ...] | None,
        columns: dict[str, ColumnKind],
        shard_rows: int,
    ) -> None:
        output.parent.mkdir(parents=True, exist_ok=True)
        parquet = output.suffix == ".parquet"
        self.files: dict[str | None, JsonlFile | ParquetFile] = {}
        try:
            for split in splits or (None,):
                final = split_path(output, split)
                self.files[split] = (
                    ParquetFile(final, columns, shard_rows) if parquet else JsonlFile(final)
                )
        except BaseException:
            self.abort()
            raise

    def write(self, split: str | None, row: dict[str, Any], line: str) -> None:
        self.files[split].write(row, line)

    def commit(self) -> dict[Path, int]:
        """Rename every file into place; final path -> rows."""
        moves = [move for file in self.files.values() for move in file.finish()]
        for temp, final, _ in moves:
            temp.replace(final)
        # An earlier export of the same name may have had more (or no) shards: a glob over
        # the name must not pick up its leftovers.
        finals = {final for _, final, _ in moves}
        for file in self.files.values():
            for stale in [*_stale_shards(file.final), file.final]:
                if stale not in finals:
                    stale.unlink(missing_ok=True)
        return {final: rows for _, final, rows in moves}

    def abort(self) -> None:
        for file in self.files.values():
            for temp in file.discard():
                temp.unlink(missing_ok=True)

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is not None:
            self.abort()
