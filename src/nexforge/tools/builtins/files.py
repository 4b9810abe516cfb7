"""File built-ins: read_file, write_file, list_dir — confined to the workspace.

They act on descriptors from ``tools.workspace`` (no link followed, nothing reopened by
name, only regular files and directories), so the run's own sandboxed children, changing
the tree at the same moment, cannot point them elsewhere. search_files lives in
``search`` (it runs grep in a sandboxed child process).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

from pydantic import Field

from nexforge.tools.base import Tool, ToolContext
from nexforge.tools.builtins.options import CommonOptions, parse_options
from nexforge.tools.errors import ToolInputError
from nexforge.tools.schema import tool_from_function
from nexforge.tools.workspace import open_entry, write_bytes

_SNIFF_BYTES = 8192
_LINE_CHARS = 300


class ListOptions(CommonOptions):
    max_entries: int = Field(default=1000, gt=0)


def is_binary(fd: int) -> bool:
    """True when the first 8 KiB of the open file hold a NUL byte."""
    return b"\x00" in os.pread(fd, _SNIFF_BYTES, 0)


def clip_line(line: str) -> str:
    """One line of file text, cut so a minified file cannot fill the output."""
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
        if offset_line < 1 or max_lines < 1:
            raise ToolInputError("offset_line and max_lines must be at least 1")
        with open_entry(ctx.workspace, path) as entry:
            if entry.is_dir:
                raise ToolInputError(f"'{path}' is a directory; use list_dir")
            if is_binary(entry.fd):
                raise ToolInputError(f"'{path}' is a binary file")
            with open(entry.fd, encoding="utf-8", errors="replace", closefd=False) as fh:
                stop = offset_line - 1 + max_lines + 1
                chosen = list(itertools.islice(fh, offset_line - 1, stop))
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
        write_bytes(ctx.workspace, path, content.encode("utf-8"))
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
        with open_entry(ctx.workspace, path) as entry:
            if not entry.is_dir:
                raise ToolInputError(f"'{path}' is not a directory; use read_file")
            with os.scandir(entry.fd) as entries:
                # Links are listed, not followed: where one leads is not the tool's to say.
                names = sorted(
                    e.name + ("/" if e.is_dir(follow_symlinks=False) else "") for e in entries
                )
        if not names:
            return "(empty directory)"
        shown = names[: opts.max_entries]
        if len(names) > len(shown):
            shown.append(f"[... {len(names) - len(shown)} more entries]")
        return "\n".join(shown)

    return tool_from_function(
        list_dir, read_only=True, timeout_s=opts.timeout_s, max_output_chars=opts.max_output_chars
    )
