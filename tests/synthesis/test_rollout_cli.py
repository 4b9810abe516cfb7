"""`nexforge rollout / status / show` as a user runs them, against the mock OpenAI server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shop_script import shop_http_responder, write_queries_file

from nexforge.synthesis.store import SynthesisStore
from nexforge.testing import MockOpenAIServer, MockReply
from run_cli import nexforge


@pytest.fixture
def server() -> Iterator[MockOpenAIServer]:
    with MockOpenAIServer(
        responder=shop_http_responder, latency_s=0.05, api_key="t0ken", record_requests=False
    ) as running:
        yield running


def endpoint(server: MockOpenAIServer) -> dict[str, str]:
    return {
        "NEXFORGE_BASE_URL": server.url,
        "NEXFORGE_MODEL": "mock-model",
        "NEXFORGE_API_KEY": "t0ken",
    }


def stored(store: Path) -> list[tuple[str, str]]:
    if not store.exists():
        return []
    db = sqlite3.connect(store, timeout=30)
    try:
        return db.execute("SELECT key, status FROM rollouts").fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        db.close()


def start(args: list[str], server: MockOpenAIServer) -> subprocess.Popen[str]:
    """``nexforge ARGS`` in the background on ``server``'s model (output piped)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXFORGE_")}
    env.update(endpoint(server))
    return subprocess.Popen(
        [sys.executable, "-m", "nexforge", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_once_stored(count: int, store: Path, args: list[str], server: MockOpenAIServer) -> int:
    """Start ``nexforge ARGS``, SIGKILL it once ``count`` rollouts are stored; how many were."""
    proc = start([*args, "--quiet"], server)
    deadline = time.monotonic() + 120
    while len(stored(store)) < count and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return len(stored(store))


def test_kill_9_then_rerun_completes_every_rollout_exactly_once(
    shop_dir: Path, tmp_path: Path, server: MockOpenAIServer
) -> None:
    queries = write_queries_file(tmp_path / "queries.jsonl", 40)
    store = tmp_path / "store.sqlite"
    args = ["rollout", str(shop_dir), str(queries), "--store", str(store), "--workers", "3"]
    at_kill = kill_once_stored(10, store, [*args, "--samples", "2"], server)
    assert 10 <= at_kill < 80, "the run should have been killed part-way"

    again = nexforge(*args, "--samples", "2", "--json", env=endpoint(server))
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["already_done"] == at_kill
    assert summary["done"] == 80 - at_kill
    rows = stored(store)
    assert len(rows) == 80 and {status for _, status in rows} == {"done"}

    status = nexforge("status", "--store", str(store), "--json")
    assert status.returncode == 0, status.stderr
    counts = json.loads(status.stdout)
    assert counts["queries"]["total"] == 40
    assert counts["rollouts"] == {"planned": 80, "done": 80, "failed": 0, "pending": 0}

    third = nexforge(*args, "--samples", "2", "--json", env=endpoint(server))
    assert json.loads(third.stdout)["done"] == 0


def test_rollout_uses_the_stored_queries_and_show_renders_one(
    shop_dir: Path, tmp_path: Path, server: MockOpenAIServer
) -> None:
    store = tmp_path / "store.sqlite"
    missing = nexforge("rollout", str(shop_dir), "--store", str(store), env=endpoint(server))
    assert missing.returncode == 2
    assert "holds no queries" in missing.stderr

    queries = write_queries_file(tmp_path / "queries.jsonl", 2)
    first = nexforge(
        "rollout", str(shop_dir), str(queries), "--store", str(store), "-q", env=endpoint(server)
    )
    assert first.returncode == 0, first.stderr
    assert "rollouts" in first.stdout
    (key, _), _ = stored(store)
    with SynthesisStore(store) as opened:  # so `verify` can find the environment later
        assert [path for _, path in opened.frameworks().values()] == [
            (shop_dir / "framework.yaml").resolve()
        ]
    shown = nexforge("show", key[:10], "--store", str(store))
    assert shown.returncode == 0, shown.stderr
    for expected in ("orders", "create_order", "BK-TRAIL", "lead"):
        assert expected in shown.stdout
    unknown = nexforge("show", "nope", "--store", str(store))
    assert unknown.returncode == 2 and "no rollout" in unknown.stderr


def test_a_bad_queries_file_names_the_file_and_line(shop_dir: Path, tmp_path: Path) -> None:
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"text": "fine"}\n{"txt": "typo"}\n', encoding="utf-8")
    result = nexforge("rollout", str(shop_dir), str(queries), "--store", str(tmp_path / "s.db"))
    assert result.returncode == 2
    assert "queries.jsonl" in result.stderr and ":2" in result.stderr


def test_rerunning_with_the_store_inside_the_framework_finishes_without_duplicates(
    shop_dir: Path, server: MockOpenAIServer
) -> None:
    # `cd fw && nexforge rollout . q.jsonl`: the query file and the default store both
    # live inside the framework folder.
    queries = write_queries_file(shop_dir / "q.jsonl", 10)
    store = shop_dir / "nexforge.sqlite"
    args = ["rollout", str(shop_dir), str(queries), "--store", str(store), "--workers", "2"]
    at_kill = kill_once_stored(3, store, args, server)
    assert 3 <= at_kill < 10, "the first run should have been killed part-way"

    for _ in range(2):
        again = nexforge(*args, "--json", env=endpoint(server))
        assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["already_done"] == 10

    status = nexforge("status", "--store", str(store), "--json")
    assert status.returncode == 0, status.stderr
    counts = json.loads(status.stdout)
    assert counts["queries"]["total"] == 10
    assert counts["rollouts"] == {"planned": 10, "done": 10, "failed": 0, "pending": 0}


def test_a_file_that_is_not_a_store_is_bad_input_for_every_command(
    shop_dir: Path, tmp_path: Path, server: MockOpenAIServer
) -> None:
    queries = write_queries_file(tmp_path / "queries.jsonl", 1)
    corrupt = tmp_path / "store.sqlite"
    corrupt.write_bytes(b"not a database\n" * 100)
    for command in (
        ["rollout", str(shop_dir), str(queries), "--store", str(corrupt)],
        ["status", "--store", str(corrupt)],
        ["export", "--store", str(corrupt), "-f", "trl", "-o", str(tmp_path / "x.jsonl")],
    ):
        result = nexforge(*command, env=endpoint(server))
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.strip().splitlines() == [
            f"error: {corrupt} is not a NexForge store: file is not a database"
        ]


def content_hashes(store: Path) -> dict[str, str]:
    db = sqlite3.connect(store, timeout=30)
    try:
        return dict(db.execute("SELECT key, rollout_hash FROM rollouts").fetchall())
    finally:
        db.close()


def claims(store: Path) -> int:
    db = sqlite3.connect(store, timeout=30)
    try:
        return int(db.execute("SELECT COUNT(*) FROM rollout_claims").fetchone()[0])
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    finally:
        db.close()


def test_two_rollout_processes_on_one_store_never_overwrite_a_done_rollout(
    shop_dir: Path, tmp_path: Path, server: MockOpenAIServer
) -> None:
    # A slow writer (its model is held until the test lets go) and a fast one run the
    # same queries on one store. The slow one's model makes an invalid call and gives
    # no answer: had it overwritten the fast one's verified rollouts, export would ship
    # them unverified.
    release = threading.Event()

    async def held_and_invalid(body: dict[str, Any]) -> MockReply:
        while not release.is_set():  # noqa: ASYNC110 (the test's thread sets it)
            await asyncio.sleep(0.02)
        reply = shop_http_responder(body)
        for call in reply.tool_calls:
            if call["name"] == "create_order":
                call["arguments"]["customer_id"] = "Ada"
        return reply if reply.tool_calls else MockReply(content="")

    queries = write_queries_file(tmp_path / "queries.jsonl", 8, expected=True)
    store = tmp_path / "store.sqlite"
    args = ["rollout", str(shop_dir), str(queries), "--store", str(store), "--workers", "4"]
    with MockOpenAIServer(responder=held_and_invalid, api_key="t0ken") as slow_server:
        slow = start([*args, "--json"], slow_server)
        try:
            deadline = time.monotonic() + 120
            while (claims(store) < 4 or slow_server.stats["requests"] < 4) and (
                time.monotonic() < deadline and slow.poll() is None
            ):
                time.sleep(0.05)
            assert claims(store) == 4, "the slow writer should be running four rollouts"

            fast = nexforge(*args, "--json", env=endpoint(server))
            assert fast.returncode == 0, fast.stderr
            fast_summary = json.loads(fast.stdout)
            assert (fast_summary["done"], fast_summary["busy"]) == (4, 4)
            verified = nexforge("verify", "--store", str(store), "--json")
            assert verified.returncode == 0, verified.stderr
            fast_rollouts = content_hashes(store)
            assert len(fast_rollouts) == 4
        finally:
            release.set()
            out, err = slow.communicate(timeout=120)
    assert slow.returncode == 0, err
    slow_summary = json.loads(out)
    assert (slow_summary["done"], slow_summary["already_done"]) == (4, 4)
    assert slow_summary["discarded"] == 0

    after = content_hashes(store)
    assert len(after) == 8
    assert {key: after[key] for key in fast_rollouts} == fast_rollouts  # none overwritten
    status = json.loads(nexforge("status", "--store", str(store), "--json").stdout)
    assert status["rollouts"] == {"planned": 8, "done": 8, "failed": 0, "pending": 0}
    assert status["verdicts"]["tool_validity"] == {"passed": 4, "failed": 0}

    again = nexforge("verify", "--store", str(store), "--json")
    assert again.returncode == 0, again.stderr
    stages = json.loads(again.stdout)["stages"]
    checked = {name: (s["passed"], s["failed"], s["skipped"]) for name, s in stages.items()}
    assert checked["structure"] == (0, 4, 4)  # the slow writer's rollouts, new to verify
    assert checked["tool_validity"] == (0, 4, 4)
    output = tmp_path / "sft.jsonl"
    exported = nexforge("export", "--store", str(store), "-f", "trl", "-o", str(output))
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    kept = {row["provenance"]["rollout_key"] for row in rows}
    assert kept and kept <= set(fast_rollouts)  # (dedup may drop a near-duplicate)
    assert '"Ada"' not in output.read_text(encoding="utf-8")
