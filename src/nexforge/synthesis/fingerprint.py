"""Content fingerprints: a framework folder's hash and a model file's hash (provenance)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from nexforge.runtime.config.framework import Framework

# Build state, reports and the query kit do not change what a rollout runs.
_IGNORED_DIRS = frozenset({".build", "__pycache__", "kit", ".git", ".pytest_cache"})
_IGNORED_FILES = frozenset({"report.json"})
_IGNORED_SUFFIXES = (".pyc", ".sqlite-wal", ".sqlite-shm", ".db-wal", ".db-shm")
_CHUNK = 1 << 20


def framework_hash(framework: Framework) -> str:
    """sha256 (24 hex digits) over the relative paths and bytes of the framework's files.

    For a ``framework.yaml`` folder that is the whole folder; for a standalone agent YAML,
    the folder holding it.
    """
    root = framework.root if framework.source.name == "framework.yaml" else framework.source.parent
    digest = hashlib.sha256()
    for file in sorted(_files(root)):
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()[:24]


def _files(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root).parts
        if any(part in _IGNORED_DIRS for part in relative[:-1]) or not path.is_file():
            continue
        if path.name in _IGNORED_FILES or path.name.endswith(_IGNORED_SUFFIXES):
            continue
        found.append(path)
    return found


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
