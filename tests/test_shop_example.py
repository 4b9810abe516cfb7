"""The bike shop example: a hierarchy acting on a real SQLite database and receipt files."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

from nexforge.runtime.config.framework import load_framework
from nexforge.testing import ScriptedModel, call, calls, say
from nexforge.tools.env_state import EnvState
from nexforge.tools.environment import Environment

SHOP = Path(__file__).resolve().parents[1] / "examples" / "shop"
CANCEL = {"order_id": 1003, "reason": "Ordered the wrong size"}
NEW_ORDER = {"customer_id": 3, "items": [{"sku": "GR-LOCK", "quantity": 2}]}
NOTE = {"order_id": 1003, "body": "Customer cancelled (wrong size); ordered two D-locks."}


def table(snapshot: dict[str, Any], name: str) -> list[dict[str, Any]]:
    data = snapshot["tables"][name]
    return [dict(zip(data["columns"], row, strict=True)) for row in data["rows"]]


async def test_orders_specialist_cancels_and_reorders_and_replay_matches() -> None:
    seed_digest = hashlib.sha256((SHOP / "data" / "shop.sqlite").read_bytes()).hexdigest()
    fw = load_framework(SHOP)
    env = fw.environment
    assert env is not None
    ended: dict[str, dict[str, Any]] = {}

    def record(state: EnvState) -> None:
        ended[state.run_id] = {"hash": state.state_hash(), "snapshot": state.snapshot()}

    env.on_close = record
    model = ScriptedModel(
        {
            "lead": [
                call("find_customer", query="chloe@example.com"),
                call("orders", task="Chloé (customer 3) wants to cancel 1003 and get 2 D-locks"),
                say("Order 1003 is cancelled (refund RF-0001) and order 1005 is placed."),
            ],
            "orders": [
                call("get_order", order_id=1003),
                calls(("cancel_order", CANCEL), ("search_products", {"query": "lock"})),
                call("cancel_order", order_id=1002, reason="also this"),  # shipped: refused
                call("create_order", **NEW_ORDER),
                call("add_note", **NOTE),
                say("Cancelled 1003 with refund RF-0001; placed order 1005."),
            ],
        }
    )
    with model:
        result = await fw.entry.arun("Cancel my helmet order and send two locks", model=model)

    assert result.stop_reason == "completed"
    orders_episode = next(e for e in result.trajectory.episodes if e.agent == "orders")
    refused = [m for m in orders_episode.messages if m.role == "tool" and m.is_error]
    assert [m.content for m in refused] == [
        "order 1002 is shipped; only placed orders can be cancelled"
    ]
    end = ended[result.trajectory.run_id]
    snapshot = end["snapshot"]
    orders = {o["id"]: o for o in table(snapshot, "orders")}
    assert orders[1003]["status"] == "cancelled" and orders[1002]["status"] == "shipped"
    # The clock (framework.yaml: 09:00, one minute per write) ticked for the three writes
    # that succeeded; the refused cancellation was rolled back and did not tick it.
    assert orders[1005] == {
        "id": 1005,
        "customer_id": 3,
        "status": "placed",
        "created_at": "2026-01-05T09:02:00Z",
        "total_cents": 7000,
    }
    assert table(snapshot, "refunds") == [
        {
            "id": "RF-0001",
            "order_id": 1003,
            "amount_cents": 5900,
            "reason": "Ordered the wrong size",
            "created_at": "2026-01-05T09:01:00Z",
        }
    ]
    stock = {p["sku"]: p["stock"] for p in table(snapshot, "products")}
    assert (stock["GR-HELMET"], stock["GR-LOCK"]) == (13, 18)
    assert table(snapshot, "notes")[-1]["created_at"] == "2026-01-05T09:03:00Z"
    receipt = snapshot["files"]["receipts/order-1005.txt"]["text"]
    assert "2 x GR-LOCK @ 35.00" in receipt and "Total: 70.00" in receipt
    assert hashlib.sha256((SHOP / "data" / "shop.sqlite").read_bytes()).hexdigest() == seed_digest

    # Grounded verification: replay and reference calls reach the run's end state.
    assert await env.replay(result.trajectory) == end["hash"]
    reference = [("cancel_order", CANCEL), ("create_order", NEW_ORDER), ("add_note", NOTE)]
    assert await env.replay_calls(reference) == end["hash"]
    assert await env.replay_calls(reference[:2]) != end["hash"]


async def test_catalog_specialist_reads_without_changing_state() -> None:
    fw = load_framework(SHOP)
    assert fw.environment is not None
    ended: list[str] = []
    fw.environment.on_close = lambda state: ended.append(state.state_hash())
    model = ScriptedModel(
        {
            "lead": [call("catalog", task="Do you have lights in stock?"), say("Sold out.")],
            "catalog": [
                call("search_products", query="light", category="gear"),
                say("The Light set (29.00) is out of stock."),
            ],
        }
    )
    with model:
        result = await fw.entry.arun("Do you have lights?", model=model)
    catalog = next(e for e in result.trajectory.episodes if e.agent == "catalog")
    assert '"stock": 0' in (catalog.messages[3].content or "")
    assert ended == [await fw.environment.seed_hash()]
    assert await fw.environment.replay(result.trajectory) == ended[0]


def test_state_hash_is_stable_across_processes() -> None:
    code = (
        "import asyncio; from nexforge.runtime.config.framework import load_framework; "
        f"print(asyncio.run(load_framework({str(SHOP)!r}).environment.seed_hash()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    env = load_framework(SHOP).environment
    assert env is not None
    assert out.stdout.strip() == asyncio.run(env.seed_hash())


def test_build_script_reproduces_the_committed_seed(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("build_shop", SHOP / "data" / "build_shop.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(tmp_path / "rebuilt.sqlite")
    rebuilt = Environment("rebuilt", [], seed=tmp_path / "rebuilt.sqlite")
    committed = Environment("committed", [], seed=SHOP / "data" / "shop.sqlite")
    assert asyncio.run(rebuilt.seed_hash()) == asyncio.run(committed.seed_hash())
