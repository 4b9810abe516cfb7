"""Process built-ins: run_shell and run_python, both in the sandbox (see tools.sandbox).

Their descriptions promise the model only what holds everywhere: the workspace as the
working directory, a clean environment, the time limit with the whole process group
killed, and the output cap. The rest depends on the host. Running as root, the child
drops to its run workspace's own uid, or 65534 for other workspaces (with ``setpriv`` or
Popen's user switch), and where ``unshare``
works it also gets a network namespace with no interfaces up; as an ordinary user it
keeps that user's rights and, where ``unshare --map-current-user`` works, loses the
network. Without ``unshare`` the child shares the host network.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from pydantic import Field

from nexforge.core.durations import Seconds
from nexforge.tools.base import Tool, ToolContext, ToolOutcome
from nexforge.tools.builtins.options import CommonOptions, parse_options
from nexforge.tools.sandbox import DEFAULT_MAX_PROCESSES, SubprocessResult, run_subprocess
from nexforge.tools.schema import tool_from_function
from nexforge.tools.workspace import resolve_in_workspace

# The command's own deadline fires first and reports partial output; the tool's
# deadline is only a backstop.
_BACKSTOP_S = 10.0


class ProcessOptions(CommonOptions):
    """``timeout_s`` is the command's wall-clock limit; ``max_processes`` the sandbox
    user's process-count limit (it binds only when the child runs as that user)."""

    timeout_s: Seconds = 60.0
    max_processes: int = Field(default=DEFAULT_MAX_PROCESSES, gt=0)


def format_result(result: SubprocessResult, timeout_s: float) -> ToolOutcome:
    """Exit status, then stdout and stderr when not empty: compact and unambiguous."""
    if result.timed_out:
        head = f"timed out after {timeout_s:g}s (process group killed)"
    elif result.exit_code < 0:
        try:
            name = signal.Signals(-result.exit_code).name
        except ValueError:
            name = f"signal {-result.exit_code}"
        head = f"exit code: {result.exit_code} (killed by {name})"
    else:
        head = f"exit code: {result.exit_code}"
    parts = [head]
    if result.stdout:
        parts.append(f"--- stdout ---\n{result.stdout.rstrip()}")
    if result.stderr:
        parts.append(f"--- stderr ---\n{result.stderr.rstrip()}")
    if len(parts) == 1:
        parts.append("(no output)")
    return ToolOutcome("\n".join(parts), is_error=result.timed_out)


def _limits_text(opts: ProcessOptions) -> str:
    return (
        "It runs with a clean environment (only PATH, a UTF-8 locale and HOME set to "
        "the workspace); its process group is killed when it exits or after "
        f"{opts.timeout_s:g}s, so background jobs do not outlive it; stdout and stderr "
        f"are each cut after {opts.max_output_chars} characters."
    )


def make_run_shell(options: dict[str, Any] | None, base_dir: Path | None) -> Tool:
    opts = parse_options("run_shell", ProcessOptions, options)

    async def run_shell(ctx: ToolContext, command: str) -> ToolOutcome:
        """Run a bash command in the workspace directory; returns exit code and output.

        Args:
            command: The bash command line, run with 'bash -c'.
        """
        result = await run_subprocess(
            ["bash", "-c", command],
            cwd=resolve_in_workspace(ctx.workspace, "."),
            timeout_s=opts.timeout_s,
            max_output_chars=opts.max_output_chars,
            max_processes=opts.max_processes,
        )
        return format_result(result, opts.timeout_s)

    return tool_from_function(
        run_shell,
        description=(
            "Run a bash command (bash -c) in the workspace directory and return its exit "
            f"code, stdout and stderr. {_limits_text(opts)}"
        ),
        timeout_s=opts.timeout_s + _BACKSTOP_S,
        max_output_chars=2 * opts.max_output_chars + 200,
    )


def make_run_python(options: dict[str, Any] | None, base_dir: Path | None) -> Tool:
    opts = parse_options("run_python", ProcessOptions, options)

    async def run_python(ctx: ToolContext, code: str) -> ToolOutcome:
        """Run a Python 3 program in the workspace directory; returns exit code and output.

        Args:
            code: The complete program source.
        """
        # The source goes through stdin: no argv length limit, no temp file in the workspace.
        result = await run_subprocess(
            ["python3", "-I", "-"],
            cwd=resolve_in_workspace(ctx.workspace, "."),
            timeout_s=opts.timeout_s,
            max_output_chars=opts.max_output_chars,
            stdin=code,
            max_processes=opts.max_processes,
        )
        return format_result(result, opts.timeout_s)

    return tool_from_function(
        run_python,
        description=(
            "Run a Python 3 program (python3 -I, source via stdin) in the workspace "
            "directory and return its exit code, stdout and stderr; print what you want "
            f"to see. {_limits_text(opts)}"
        ),
        timeout_s=opts.timeout_s + _BACKSTOP_S,
        max_output_chars=2 * opts.max_output_chars + 200,
    )
