"""run_subprocess with real processes: limits, clean env, capped output, whole-group kills."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexforge.tools import make_run_workspace, run_subprocess
from nexforge.tools.sandbox import child_uid_for, isolation_report
from procfs import marked, until


@pytest.fixture
def workspace() -> Iterator[Path]:
    path = make_run_workspace()
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def bash(command: str, cwd: Path, timeout_s: float = 30, cap: int = 10_000) -> str:
    result = await run_subprocess(
        ["bash", "-c", command], cwd=cwd, timeout_s=timeout_s, max_output_chars=cap
    )
    assert result.exit_code == 0 and not result.timed_out, result
    return result.stdout


async def test_runs_in_cwd_with_exit_code_and_streams(workspace: Path) -> None:
    result = await run_subprocess(
        ["bash", "-c", "pwd; echo oops >&2; exit 3"],
        cwd=workspace,
        timeout_s=10,
        max_output_chars=1000,
    )
    assert result.exit_code == 3
    assert result.stdout == f"{workspace}\n"
    assert result.stderr == "oops\n"
    assert not result.timed_out and not result.truncated


async def test_stdin_is_fed(workspace: Path) -> None:
    result = await run_subprocess(
        ["python3", "-I", "-"],
        cwd=workspace,
        timeout_s=10,
        max_output_chars=1000,
        stdin="print(sum(range(10)))",
    )
    assert (result.exit_code, result.stdout) == (0, "45\n")


def unique_sleep() -> str:
    """A sleep command findable from the host: its duration is unique to this test."""
    return f"sleep 100.{uuid.uuid4().int % 10**9:09d}"


async def test_timeout_kills_the_whole_group_including_grandchildren(workspace: Path) -> None:
    sleep = unique_sleep()
    # The timeout is long enough for bash to start everything even on a loaded machine.
    result = await run_subprocess(
        ["bash", "-c", f"{sleep} & ({sleep} & wait) & echo started; {sleep}"],
        cwd=workspace,
        timeout_s=5,
        max_output_chars=1000,
    )
    assert result.timed_out and "started" in result.stdout
    assert await until(lambda: not marked(sleep.split()[1])), marked(sleep.split()[1])


async def test_background_processes_do_not_outlive_a_finished_command(workspace: Path) -> None:
    sleep = unique_sleep()
    # bash() asserts the call ended with the command, not at its timeout.
    assert await bash(f"{sleep} > /dev/null 2>&1 & echo started", workspace) == "started\n"
    assert await until(lambda: not marked(sleep.split()[1])), marked(sleep.split()[1])


async def test_cancellation_kills_the_group(workspace: Path) -> None:
    sleep = unique_sleep()
    task = asyncio.create_task(
        run_subprocess(
            ["bash", "-c", f"{sleep} & echo started > flag; {sleep}"],
            cwd=workspace,
            timeout_s=60,
            max_output_chars=1000,
        )
    )
    flag = workspace / "flag"
    assert await until(lambda: flag.exists() and flag.read_text().endswith("\n"))
    assert marked(sleep.split()[1])  # running before the cancellation
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await until(lambda: not marked(sleep.split()[1])), marked(sleep.split()[1])


async def test_output_flood_is_capped_and_stopped(workspace: Path) -> None:
    result = await run_subprocess(["yes"], cwd=workspace, timeout_s=60, max_output_chars=1000)
    # Stopped for the flood, not left running until the timeout.
    assert result.truncated and result.killed_for_output and not result.timed_out
    head, marker = result.stdout.rsplit("\n[... truncated: ", 1)
    assert head == "y\n" * 500
    assert "process killed for flooding output" in marker


async def test_long_output_is_truncated_but_command_completes(workspace: Path) -> None:
    result = await run_subprocess(
        ["bash", "-c", "seq 1 20000; echo done >&2"],
        cwd=workspace,
        timeout_s=10,
        max_output_chars=100,
    )
    assert result.exit_code == 0 and result.truncated and not result.killed_for_output
    assert result.stdout.startswith("1\n2\n3\n")
    assert result.stdout.endswith("more bytes not shown]")
    assert result.stderr == "done\n"


async def test_child_env_is_minimal(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXFORGE_TEST_API_KEY", "sk-very-secret")
    result = await run_subprocess(
        ["env"], cwd=workspace, timeout_s=10, max_output_chars=10_000, env={"EXTRA": "1"}
    )
    env = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert "sk-very-secret" not in result.stdout
    assert env["HOME"] == str(workspace)
    assert env["EXTRA"] == "1"
    assert set(env) <= {"PATH", "HOME", "LANG", "LC_ALL", "EXTRA", "PWD", "SHLVL", "_"}


async def test_resource_limits_apply(workspace: Path) -> None:
    out = await bash("ulimit -t; ulimit -c; ulimit -f; ulimit -v", workspace, timeout_s=4)
    # The container's hard limits may be lower than ours; "unlimited" fails int().
    cpu_s, core, fsize_kib, as_kib = (int(value) for value in out.split())
    assert 0 < cpu_s <= 5  # the timeout, rounded up, plus one second
    assert core == 0
    assert 0 < fsize_kib <= 64 * 1024
    assert 0 < as_kib <= 2 * 1024 * 1024


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop applies only when running as root")
async def test_child_runs_unprivileged_when_we_are_root(workspace: Path) -> None:
    out = await bash("id -u; id -g; id -G; ulimit -u; touch made", workspace)
    uid, gid, groups, nproc = out.split("\n")[:4]
    # The workspace's own uid (a run workspace gets one; others fall back to 65534).
    expected = child_uid_for(workspace)
    assert expected != 0 and (int(uid), int(gid), groups) == (expected, expected, str(expected))
    assert 0 < int(nproc) <= 256  # the container's hard limit may be lower
    assert (workspace / "made").stat().st_uid == expected


@pytest.fixture
def closed_dir() -> Iterator[Path]:
    """A root-owned 0700 folder (like /root) holding a world-readable folder and a secret."""
    path = Path(tempfile.mkdtemp(prefix="nexforge-closed-"))
    (path / "open").mkdir(mode=0o755)
    (path / "open" / "tool.txt").write_text("readable\n")
    (path / "secret.txt").write_text("root only\n")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="only an unprivileged child meets closed folders")
async def test_folders_behind_a_closed_one_are_exposed_read_only_and_nothing_else(
    closed_dir: Path,
) -> None:
    if not (await isolation_report()).private_shm:
        pytest.skip("no mount namespace here: nothing can be exposed (see doctor)")
    workspace = closed_dir / "open" / "ws"  # a user-given workspace behind a closed folder
    workspace.mkdir(mode=0o777)
    workspace.chmod(0o777)
    probe = (
        f"cat {closed_dir}/open/tool.txt; echo made > {workspace}/made && cat {workspace}/made; "
        f"ls {closed_dir}; cat {closed_dir}/secret.txt; touch {closed_dir}/open/x"
    )
    hidden = await run_subprocess(
        ["bash", "-c", probe], cwd=workspace, timeout_s=30, max_output_chars=10_000
    )
    assert "readable" not in hidden.stdout and "made" in hidden.stdout  # the cwd is reachable
    shown = await run_subprocess(
        ["bash", "-c", probe],
        cwd=workspace,
        timeout_s=30,
        max_output_chars=10_000,
        expose=[closed_dir / "open"],
    )
    assert shown.stdout.split() == ["readable", "made", "open"]  # only the exposed name
    assert "root only" not in shown.stdout
    assert "Read-only file system" in shown.stderr  # writing where it may not: refused
    assert not (closed_dir / "open" / "x").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only an unprivileged child meets closed folders")
async def test_this_interpreter_runs_in_the_sandbox_when_exposed(workspace: Path) -> None:
    if not (await isolation_report()).private_shm:
        pytest.skip("no mount namespace here: nothing can be exposed (see doctor)")
    result = await run_subprocess(
        [sys.executable, "-c", "import nexforge.tools; print('imported')"],
        cwd=workspace,
        timeout_s=60,
        max_output_chars=10_000,
        env={"PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        expose=[Path(sys.prefix), Path(sys.base_prefix), *map(Path, sys.path[1:2])],
    )
    assert result.stdout == "imported\n", result
