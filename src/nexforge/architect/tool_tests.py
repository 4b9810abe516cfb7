"""The ladder's tool_tests rung: a framework's generated ``tools/test_*.py``, run by pytest
in the sandbox.

The tests exercise model-written tool code, so they never run in this process: the
framework folder is copied into a fresh run workspace (owned by its own sandbox uid as
root) and ``python -m pytest`` runs there through ``run_subprocess`` (no network, clean
environment, limits, a timeout and an output cap).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexforge.tools import make_run_workspace, run_subprocess
from nexforge.tools.workspace import give_to_workspace_owner

TOOLS_DIR = "tools"
OUTPUT_CHARS = 20_000
TEMP_DIR = ".check-tmp"
_NO_TESTS_COLLECTED = 5  # pytest's exit code
_SUMMARY = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")


@dataclass
class ToolTestsOutcome:
    files: list[str]
    exit_code: int = 0
    timed_out: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    """pytest's summary: ``passed``, ``failed``, ``error``, ``skipped``..."""
    failing: list[str] = field(default_factory=list)
    """Names of failed tests (or files that failed to collect)."""
    output: str = ""
    unsandboxed: str = ""
    """Why the tests ran outside the sandbox (empty: they ran inside it)."""

    def problem(self, timeout_s: float) -> str | None:
        if self.timed_out:
            return f"tool tests timed out after {timeout_s:g}s"
        failed, errors = self.counts.get("failed", 0), self.counts.get("error", 0)
        if self.exit_code in (0, _NO_TESTS_COLLECTED) and not failed and not errors:
            return None
        if failed:
            total = failed + self.counts.get("passed", 0)
            summary = f"{failed} of {total} tests failed"
        elif errors:
            summary = f"{errors} error{'s' if errors > 1 else ''} (collection or fixture)"
        else:
            summary = f"pytest exited with code {self.exit_code}"
        if not self.failing:
            return summary
        more = " ..." if len(self.failing) > 5 else ""
        return f"{summary}: {' '.join(self.failing[:5])}{more}"

    def summary(self) -> str:
        if not self.files:
            return "no generated tool tests"
        files = _plural(len(self.files), "test file")
        if self.exit_code == _NO_TESTS_COLLECTED:
            return f"no tests collected from {files}"
        passed = f"{_plural(self.counts.get('passed', 0), 'test')} passed in {files}"
        return f"{passed} ({self.unsandboxed})" if self.unsandboxed else passed

    def details(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "counts": self.counts,
            "failing": self.failing,
            "exit_code": self.exit_code,
            "output": self.output,
            "sandboxed": not self.unsandboxed,
        }


async def run_tool_tests(root: Path, *, timeout_s: float) -> ToolTestsOutcome:
    """Run ``root/tools/test_*.py`` in a sandboxed copy of ``root``."""
    files = sorted((root / TOOLS_DIR).glob("test_*.py"))
    outcome = ToolTestsOutcome([str(f.relative_to(root)) for f in files])
    if not files:
        return outcome
    workspace = make_run_workspace(prefix="nexforge-check-")
    try:
        temp = await asyncio.to_thread(_copy_into, root, workspace)
        # Temp files stay in the workspace: sandbox uids have no passwd entry, so pytest's
        # default /tmp/pytest-of-<user> would be one folder shared by (and owned by the
        # first of) every run's uid.
        argv = [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider"]
        refused = await sandbox_cannot_run_tests()
        if refused is not None:
            # The sandbox cannot run this interpreter at all; the tests still run in a
            # separate process on a copy, and the rung says so rather than failing.
            outcome.unsandboxed = f"not sandboxed: the sandbox cannot run Python here ({refused})"
        argv.append(f"--basetemp={temp / 'pytest'}")
        result = await run_subprocess(
            [*argv, *outcome.files],
            cwd=workspace,
            timeout_s=timeout_s,
            max_output_chars=OUTPUT_CHARS,
            env={"PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(temp)},
            isolated=refused is None,
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, workspace, ignore_errors=True)
    outcome.exit_code, outcome.timed_out = result.exit_code, result.timed_out
    outcome.counts = pytest_counts(result.stdout)
    outcome.failing = [
        line.split(" - ")[0].split(" ", 1)[1].rsplit("::", 1)[-1]
        for line in result.stdout.splitlines()
        if line.startswith(("FAILED ", "ERROR "))
    ]
    outcome.output = result.stdout[-2000:] + result.stderr[-1000:]
    return outcome


_probe_cache: dict[str, str | None] = {}


async def sandbox_cannot_run_tests() -> str | None:
    """Why a sandboxed child cannot import NexForge and pytest with this interpreter
    (e.g. the venv lies in a folder the sandbox user may not enter); None when it can.
    Probed once per process by trying it."""
    if "result" not in _probe_cache:
        workspace = make_run_workspace(prefix="nexforge-probe-")
        try:
            result = await run_subprocess(
                [sys.executable, "-c", "import nexforge, pytest"],
                cwd=workspace,
                timeout_s=60,
                max_output_chars=2000,
            )
        finally:
            await asyncio.to_thread(shutil.rmtree, workspace, ignore_errors=True)
        last = (result.stderr.strip().splitlines() or [f"exit code {result.exit_code}"])[-1]
        _probe_cache["result"] = None if result.exit_code == 0 else last[:200]
    return _probe_cache["result"]


def pytest_counts(stdout: str) -> dict[str, int]:
    """The counts of pytest's last summary line (``1 failed, 13 passed in 0.12s``)."""
    for line in reversed(stdout.splitlines()):
        found = _SUMMARY.findall(line)
        if found and " in " in line:
            return {("error" if kind.startswith("error") else kind): int(n) for n, kind in found}
    return {}


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _copy_into(root: Path, workspace: Path) -> Path:
    """Copy the framework into the workspace, owned by the workspace's sandbox uid;
    returns the children's temp folder (made beside the copy)."""
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", TEMP_DIR)
    shutil.copytree(root, workspace, dirs_exist_ok=True, ignore=ignore, symlinks=True)
    temp = workspace / TEMP_DIR
    temp.mkdir()
    for path in workspace.rglob("*"):
        give_to_workspace_owner(workspace, path)
    return temp
