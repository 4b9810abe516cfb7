"""`nexforge rollout / status / show` as a user runs them, against the mock OpenAI server."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from shop_script import shop_http_responder, write_queries_file

from nexforge.synthesis.store import SynthesisStore
from nexforge.testing import MockOpenAIServer
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


def kill_once_stored(count: int, store: Path, args: list[str], server: MockOpenAIServer) -> int:
    """Start ``nexforge ARGS``, SIGKILL it once ``count`` rollouts are stored; how many were."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXFORGE_")}
    env.update(endpoint(server))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexforge", *args, "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(stored(store)) < count and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
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
