"""search_files: the model's regex runs in a grep child process, never in this one.

A catastrophic pattern matched by Python's ``re`` would hold the GIL and stall every
concurrent run, and no timeout could interrupt it. GNU ``grep -E`` matches with a DFA
where it can; where it cannot (backreferences) the child is bounded by the search's
deadline, after which its process group is killed (see ``run_subprocess``).

Files are chosen here (sorted; size-capped; only regular files, no links; binaries, VCS
and dependency directories skipped) by walking descriptors (``os.fwalk`` below a folder
opened by ``tools.workspace``), and passed to grep by name in batches, so grep walks
nothing itself and its output keeps our order. grep runs in the sandbox like the run's own
children, as the same uid: it opens those names itself, and a name the children swap for
a link meanwhile leads it only to what they could read anyway. (So in a workspace given by
the user it finds only what the sandbox user may read.)
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import Field

from nexforge.tools.base import Tool, ToolContext, ToolOutcome
from nexforge.tools.builtins.files import clip_line, is_binary
from nexforge.tools.builtins.options import CommonOptions, parse_options
from nexforge.tools.errors import ToolInputError
from nexforge.tools.sandbox import run_subprocess
from nexforge.tools.schema import tool_from_function
from nexforge.tools.threads import run_in_thread
from nexforge.tools.workspace import open_entry

_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv"}
_BATCH_ARG_CHARS = 100_000  # well below ARG_MAX, so one grep takes many files
_CAPTURE_CHARS = 1_000_000
# Our own deadline fires first and reports partial results; the tool's is a backstop.
_BACKSTOP_S = 5.0
_GREP_FLAGS = ["-E", "-n", "-H", "-a", "-s", "-Z", "--devices=skip"]
_SNIFF_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC


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
        root, files = await run_in_thread(
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
    """The workspace's real path, and the files to search in order, relative to it: regular
    text files under ``max_bytes``, found without following any link."""
    root = Path(os.path.realpath(workspace))
    with open_entry(workspace, path) as start:
        named = PurePosixPath(start.relative)
        if not start.is_dir:
            ok = _wanted(start.fd, start.stat, named, glob, max_bytes)
            return root, [named.as_posix()] if ok else []
        found: list[str] = []
        for folder, dirnames, filenames, dir_fd in os.fwalk(dir_fd=start.fd):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
            for name in sorted(filenames):
                relative = named / folder / name
                if _candidate(dir_fd, name, relative, glob, max_bytes):
                    found.append(relative.as_posix())
        return root, found


def _candidate(
    dir_fd: int, name: str, relative: PurePosixPath, glob: str | None, max_bytes: int
) -> bool:
    try:
        fd = os.open(name, _SNIFF_FLAGS, dir_fd=dir_fd)
    except OSError:  # a link (O_NOFOLLOW), a FIFO nobody writes, vanished: not searched
        return False
    try:
        return _wanted(fd, os.fstat(fd), relative, glob, max_bytes)
    finally:
        os.close(fd)


def _wanted(
    fd: int, info: os.stat_result, relative: PurePosixPath, glob: str | None, max_bytes: int
) -> bool:
    if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
        return False
    if glob and not fnmatch.fnmatch(relative.as_posix() if "/" in glob else relative.name, glob):
        return False
    return not is_binary(fd)
