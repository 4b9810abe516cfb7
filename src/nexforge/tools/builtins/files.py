"""File built-ins: read_file, write_file, list_dir, search_files — confined to the workspace."""

from __future__ import annotations

import fnmatch
import itertools
import os
import re
from pathlib import Path
from typing import Any

from pydantic import Field

from nexforge.tools.base import Tool, ToolContext
from nexforge.tools.builtins.options import CommonOptions, parse_options
from nexforge.tools.errors import ToolInputError
from nexforge.tools.schema import tool_from_function
from nexforge.tools.workspace import give_to_workspace_owner, resolve_in_workspace

_SNIFF_BYTES = 8192
_LINE_CHARS = 300
_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv"}


class ListOptions(CommonOptions):
    max_entries: int = Field(default=1000, gt=0)


class SearchOptions(CommonOptions):
    max_results: int = Field(default=200, gt=0)
    max_file_bytes: int = Field(default=5 * 1024**2, gt=0)


def _existing(ctx: ToolContext, path: str) -> Path:
    target = resolve_in_workspace(ctx.workspace, path)
    if not target.exists():
        raise ToolInputError(f"no such file or directory: '{path}'")
    return target


def _is_binary(path: Path) -> bool:
    with path.open("rb") as fh:
        return b"\x00" in fh.read(_SNIFF_BYTES)


def _clip(line: str) -> str:
    return line if len(line) <= _LINE_CHARS else line[:_LINE_CHARS] + "..."


def make_read_file(options: dict[str, Any] | None, base_dir: Path | None) -> Tool:
    opts = parse_options("read_file", CommonOptions, options)

    def read_file(ctx: ToolContext, path: str, offset_line: int = 1, max_lines: int = 500) -> str:
        """Read a text file from the workspace.

        Returns the lines as they are; when more lines remain, the last line says which
        offset_line to pass to continue.

        Args:
            path: File path, relative to the workspace.
            offset_line: First line to return, counting from 1.
            max_lines: Maximum number of lines to return.
        """
        target = _existing(ctx, path)
        if target.is_dir():
            raise ToolInputError(f"'{path}' is a directory; use list_dir")
        if offset_line < 1 or max_lines < 1:
            raise ToolInputError("offset_line and max_lines must be at least 1")
        if _is_binary(target):
            raise ToolInputError(f"'{path}' is a binary file")
        with target.open(encoding="utf-8", errors="replace") as fh:
            chosen = list(itertools.islice(fh, offset_line - 1, offset_line - 1 + max_lines + 1))
        if not chosen:
            return (
                "(empty file)" if offset_line == 1 else f"(no lines at offset_line={offset_line})"
            )
        text = "".join(chosen[:max_lines])
        if len(chosen) > max_lines:
            text += f"\n[... more lines; continue with offset_line={offset_line + max_lines}]"
        return text

    return tool_from_function(
        read_file, read_only=True, timeout_s=opts.timeout_s, max_output_chars=opts.max_output_chars
    )


def make_write_file(options: dict[str, Any] | None, base_dir: Path | None) -> Tool:
    opts = parse_options("write_file", CommonOptions, options)

    def write_file(ctx: ToolContext, path: str, content: str) -> str:
        """Create or overwrite a text file in the workspace, creating parent directories.

        Args:
            path: File path, relative to the workspace.
            content: The complete new content of the file.
        """
        target = resolve_in_workspace(ctx.workspace, path)
        if target.is_dir():
            raise ToolInputError(f"'{path}' is a directory")
        missing = [p for p in reversed(target.parents) if not p.exists()]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        for created in [*missing, target]:
            give_to_workspace_owner(ctx.workspace, created)
        return f"wrote {len(content)} chars to '{path}'"

    return tool_from_function(
        write_file, timeout_s=opts.timeout_s, max_output_chars=opts.max_output_chars
    )


def make_list_dir(options: dict[str, Any] | None, base_dir: Path | None) -> Tool:
    opts = parse_options("list_dir", ListOptions, options)

    def list_dir(ctx: ToolContext, path: str = ".") -> str:
        """List a workspace directory, sorted by name; directories end with '/'.

        Args:
            path: Directory path, relative to the workspace.
        """
        target = _existing(ctx, path)
        if not target.is_dir():
            raise ToolInputError(f"'{path}' is not a directory; use read_file")
        names = sorted(e.name + ("/" if e.is_dir() else "") for e in os.scandir(target))
        if not names:
            return "(empty directory)"
        shown = names[: opts.max_entries]
        if len(names) > len(shown):
            shown.append(f"[... {len(names) - len(shown)} more entries]")
        return "\n".join(shown)

    return tool_from_function(
        list_dir, read_only=True, timeout_s=opts.timeout_s, max_output_chars=opts.max_output_chars
    )


def make_search_files(options: dict[str, Any] | None, base_dir: Path | None) -> Tool:
    opts = parse_options("search_files", SearchOptions, options)

    def search_files(
        ctx: ToolContext, pattern: str, path: str = ".", glob: str | None = None
    ) -> str:
        """Search text files in the workspace for a regular expression, like grep -rn.

        Prints one 'file:line: text' per matching line. Skips binary files and
        .git/node_modules style directories.

        Args:
            pattern: Python regular expression searched for in each line.
            path: File or directory to search, relative to the workspace.
            glob: Only search files whose name (or relative path, if it has a '/') matches
                this glob, e.g. '*.py'.
        """
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ToolInputError(f"invalid regular expression: {exc}") from None
        root = Path(os.path.realpath(ctx.workspace))
        start = _existing(ctx, path)
        hits: list[str] = []
        for file in _walk(start, root, glob):
            if len(hits) > opts.max_results:
                break
            if file.stat().st_size > opts.max_file_bytes or _is_binary(file):
                continue
            rel = file.relative_to(root).as_posix()
            with file.open(encoding="utf-8", errors="replace") as fh:
                for number, line in enumerate(fh, 1):
                    if regex.search(line):
                        hits.append(f"{rel}:{number}: {_clip(line.rstrip())}")
                        if len(hits) > opts.max_results:
                            break
        if not hits:
            return "no matches"
        if len(hits) > opts.max_results:
            hits[opts.max_results :] = [f"[... stopped after {opts.max_results} matches]"]
        return "\n".join(hits)

    return tool_from_function(
        search_files,
        read_only=True,
        timeout_s=opts.timeout_s,
        max_output_chars=opts.max_output_chars,
    )


def _walk(start: Path, root: Path, glob: str | None) -> list[Path]:
    """Regular files under ``start`` in sorted order, skipping links that leave ``root``."""
    candidates: list[Path] = []
    if start.is_file():
        candidates.append(start)
    else:
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
            candidates.extend(Path(dirpath) / f for f in sorted(filenames))
    found: list[Path] = []
    for file in candidates:
        real = Path(os.path.realpath(file))
        if root not in real.parents or not real.is_file():
            continue
        rel = file.relative_to(root).as_posix()
        if glob and not fnmatch.fnmatch(rel if "/" in glob else file.name, glob):
            continue
        found.append(file)
    return found
