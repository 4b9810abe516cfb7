"""search_files: the model's regex runs in a grep child process, never in this one.

A catastrophic pattern matched by Python's ``re`` would hold the GIL and stall every
concurrent run, and no timeout could interrupt it. GNU ``grep -E`` matches with a DFA
where it can; where it cannot (backreferences) the child is bounded by the search's
deadline, after which its process group is killed (see ``run_subprocess``).

Files are chosen here (sorted; size-capped; binaries, VCS and dependency directories
and links leaving the workspace skipped) and passed to grep by real path in batches, so
grep walks nothing itself and its output keeps our order. grep runs with
``isolated=False``: it executes no model code, and it must read what ``read_file`` reads,
which the sandbox user may not be allowed to.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import Field

from nexforge.tools.base import Tool, ToolContext, ToolOutcome
from nexforge.tools.builtins.files import clip_line, existing_in_workspace, is_binary_file
from nexforge.tools.builtins.options import CommonOptions, parse_options
from nexforge.tools.errors import ToolInputError
from nexforge.tools.sandbox import run_subprocess
from nexforge.tools.schema import tool_from_function

_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv"}
_BATCH_ARG_CHARS = 100_000  # well below ARG_MAX, so one grep takes many files
_CAPTURE_CHARS = 1_000_000
# Our own deadline fires first and reports partial results; the tool's is a backstop.
_BACKSTOP_S = 5.0
_GREP_FLAGS = ["-E", "-n", "-H", "-a", "-s", "-Z", "--devices=skip"]


class SearchOptions(CommonOptions):
    """``timeout_s`` bounds the whole search, grep included."""

    max_results: int = Field(default=200, gt=0)
    max_file_bytes: int = Field(default=5 * 1024**2, gt=0)


def make_search_files(options: dict[str, Any] | None, base_dir: Path | None) -> Tool:
    opts = parse_options("search_files", SearchOptions, options)

    async def search_files(
        ctx: ToolContext, pattern: str, path: str = ".", glob: str | None = None
    ) -> ToolOutcome:
        """Search text files in the workspace for a regular expression, like grep -rnE.
        Prints one 'file:line: text' per matching line. Skips binary files and
        .git/node_modules style directories. The pattern is a POSIX extended regular
        expression (grep -E) with GNU extensions: \\w \\s \\b \\< \\> work; \\d does not,
        write [0-9]; no lookaround, lazy quantifiers or inline flags like (?i).

        Args:
            pattern: Extended regular expression (grep -E) searched for in each line.
            path: File or directory to search, relative to the workspace.
            glob: Only search files whose name (or relative path, if it has a '/') matches
                this glob, e.g. '*.py'.
        """
        _check_pattern(pattern)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + opts.timeout_s
        root, files = await asyncio.to_thread(
            _searchable, ctx.workspace, path, glob, opts.max_file_bytes
        )
        hits: list[str] = []
        notes: list[str] = []
        for batch in _batches(files):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return _timed_out(hits, opts.timeout_s)
            per_file = str(opts.max_results + 1 - len(hits))
            result = await run_subprocess(
                ["grep", *_GREP_FLAGS, "-m", per_file, "-e", pattern, "--", *batch],
                cwd=root,
                timeout_s=remaining,
                max_output_chars=_CAPTURE_CHARS,
                isolated=False,
            )
            if result.timed_out:
                return _timed_out(hits, opts.timeout_s)
            message = " ".join(result.stderr.replace("grep: ", "").split())
            if result.exit_code == 2 and message and not result.stdout:
                raise ToolInputError(f"invalid regular expression: {message}")
            hits += _parse(result.stdout, set(batch))
            if result.truncated:
                notes.append("grep output too large; narrow path or glob to see every match")
                break
            if result.exit_code not in (0, 1, 2):
                return ToolOutcome(
                    f"search failed: grep exited with {result.exit_code}", is_error=True
                )
            if message and message not in notes:
                notes.append(message)
            if len(hits) > opts.max_results:
                break
        if len(hits) > opts.max_results:
            hits[opts.max_results :] = [f"[... stopped after {opts.max_results} matches]"]
        lines = hits or ["no matches"]
        return ToolOutcome("\n".join(lines + [f"[{note}]" for note in notes]))

    return tool_from_function(
        search_files,
        read_only=True,
        timeout_s=opts.timeout_s + _BACKSTOP_S,
        max_output_chars=opts.max_output_chars,
    )


def _timed_out(hits: list[str], timeout_s: float) -> ToolOutcome:
    head = (
        f"search timed out after {timeout_s:g}s (grep killed); simplify the pattern "
        "(backreferences can be very slow) or narrow path or glob"
    )
    found = f"\nmatches found before the timeout:\n{chr(10).join(hits)}" if hits else ""
    return ToolOutcome(head + found, is_error=True)


def _check_pattern(pattern: str) -> None:
    """Refuse what grep would misread silently: it takes ``\\d`` for a plain 'd'."""
    if "\x00" in pattern or "\n" in pattern:
        raise ToolInputError("pattern must be one line without NUL bytes")
    escaped = False
    for char in pattern:
        if escaped and char in "dD":
            raise ToolInputError(r"grep -E has no \d or \D; write [0-9] or [^0-9] instead")
        escaped = not escaped and char == "\\"


def _parse(stdout: str, searched: set[str]) -> list[str]:
    """grep -nHZ records ('name NUL line:text') as 'path:line: text' lines."""
    hits: list[str] = []
    for record in stdout.split("\n"):
        name, nul, rest = record.partition("\x00")
        number, colon, text = rest.partition(":")
        # Anything else is the truncation marker or a record cut short.
        if nul and colon and number.isdigit() and name in searched:
            hits.append(f"{name}:{number}: {clip_line(text.rstrip())}")
    return hits


def _batches(names: list[str]) -> Iterator[list[str]]:
    """Argument lists for grep; one empty batch when there is nothing to search, so an
    invalid pattern is still reported (grep then reads an empty stdin)."""
    batch: list[str] = []
    size = 0
    for name in names:
        if batch and size + len(name) > _BATCH_ARG_CHARS:
            yield batch
            batch, size = [], 0
        batch.append(name)
        size += len(name) + 1
    yield batch


def _searchable(
    workspace: Path, path: str, glob: str | None, max_bytes: int
) -> tuple[Path, list[str]]:
    """The workspace's real path, and the files to search in order, relative to it.

    Only regular text files under ``max_bytes`` whose real path stays inside. Files are
    named by real path (a link's target is searched once, under its own name), so a link
    swapped after this check cannot redirect grep.
    """
    root = Path(os.path.realpath(workspace))
    start = existing_in_workspace(workspace, path)
    candidates: list[Path] = []
    if start.is_file():
        candidates.append(start)
    else:
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
            candidates.extend(Path(dirpath) / f for f in sorted(filenames))
    found: dict[str, None] = {}
    for file in candidates:
        real = Path(os.path.realpath(file))
        if root not in real.parents or not real.is_file():
            continue
        walked = file.relative_to(root).as_posix()
        if glob and not fnmatch.fnmatch(walked if "/" in glob else file.name, glob):
            continue
        try:
            if real.stat().st_size > max_bytes or is_binary_file(real):
                continue
        except OSError:  # vanished or unreadable since the walk: nothing to search
            continue
        found[real.relative_to(root).as_posix()] = None
    return root, list(found)
