"""Content fingerprints: a framework folder's hash and a model file's hash (provenance).

The framework hash keys every query (DESIGN §6), so it must change when what a rollout
runs changes, and only then: a hash that moved whenever a command wrote next to the
framework re-keyed every query on each re-run (a store inside the folder gave new
queries and rollouts every time, and left the old ones pending forever).

The rule: the hash covers every file under the framework's root (the folder holding
``framework.yaml``, or a standalone agent's folder) except

- tool state and caches: hidden files and folders (``.git``, ``.build``, ``.venv``...),
  ``__pycache__`` and ``*.pyc``;
- the query kit (``kit/``): it shapes which queries get written, not what a rollout runs;
- what NexForge commands write next to a framework: ``report.json`` (``check``), the
  ``out/`` folder at the root (``eval``'s default), JSONL and Parquet files at the root
  (query files, exports), any NexForge store (a SQLite database holding the store's
  tables, whatever its name) and every SQLite journal (``-wal``, ``-shm``, ``-journal``).

Other SQLite databases (a tool's read-only data) are part of the framework, and the
environment's declared seed database and files folder always are.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import urllib.parse
from pathlib import Path

from nexforge.runtime.config.framework import Framework

_CACHE_DIRS = frozenset({"__pycache__"})
_KIT_DIR = "kit"
_OUTPUT_DIR = "out"
_OUTPUT_SUFFIXES = (".jsonl", ".parquet")
_IGNORED_FILES = frozenset({"report.json"})
_IGNORED_SUFFIXES = (".pyc", "-wal", "-shm", "-journal")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_STORE_TABLES = frozenset({"meta", "planned_rollouts", "rollouts"})
_CHUNK = 1 << 20


def framework_hash(framework: Framework) -> str:
    """sha256 (24 hex digits) over the relative paths and bytes of the framework's files
    (the module docstring says which files those are)."""
    root = framework.root if framework.source.name == "framework.yaml" else framework.source.parent
    digest = hashlib.sha256()
    for file in sorted(_files(root, _declared_seed(framework))):
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()[:24]


def _declared_seed(framework: Framework) -> list[Path]:
    environment = framework.environment
    if environment is None:
        return []
    seed = environment.seed
    return [path.resolve() for path in (seed.database, seed.files) if path is not None]


def _files(root: Path, seed: list[Path]) -> list[Path]:
    found = []
    for folder, subfolders, names in os.walk(root):
        # Pruned, not walked: a .git or .venv can be far larger than the framework.
        subfolders[:] = [s for s in subfolders if not _hidden_or_cache(s)]
        for name in names:
            path = Path(folder) / name
            if not path.is_file():
                continue
            if _in_seed(path, seed) or _defines_the_framework(path.relative_to(root).parts, path):
                found.append(path)
    return found


def _in_seed(path: Path, seed: list[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved == part or resolved.is_relative_to(part) for part in seed)


def _hidden_or_cache(name: str) -> bool:
    return name.startswith(".") or name in _CACHE_DIRS


def _defines_the_framework(relative: tuple[str, ...], path: Path) -> bool:
    folders, name = relative[:-1], relative[-1]
    if _hidden_or_cache(name):
        return False
    if folders and folders[0] in (_KIT_DIR, _OUTPUT_DIR):
        return False
    if name in _IGNORED_FILES or name.endswith(_IGNORED_SUFFIXES):
        return False
    if not folders and name.endswith(_OUTPUT_SUFFIXES):
        return False
    return not _is_store(path)


def _is_store(path: Path) -> bool:
    """Whether ``path`` is a NexForge store (a SQLite database holding the store's tables).

    Read through SQLite, read-only, so a live store's uncheckpointed tables count; a file
    SQLite cannot read is not a store.
    """
    with path.open("rb") as handle:
        if handle.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
            return False
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=5.0)
        try:
            names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        finally:
            db.close()
    except sqlite3.Error:
        return False
    return names >= _STORE_TABLES


_file_hashes: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) for the life of the process."""
    file = Path(path)
    stat = file.stat()
    key = (str(file.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _file_hashes:
        digest = hashlib.sha256()
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        _file_hashes[key] = digest.hexdigest()
    return _file_hashes[key]
