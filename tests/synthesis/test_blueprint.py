"""Blueprints on a real SQLite environment of the architect's shape: records whose ids are
short (``order 4``), a catalog whose only changeable fields are a count and a price.

The planner must find a task in such a world: before, every slot about orders was
rejected for want of a "long enough" id, and a catalog without allowed values gave no
change at all.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from nexforge.architect import dbtools
from nexforge.synthesis.blueprint import Blueprint, Known, plan_task
from nexforge.synthesis.grounding import environment_run, read_evidence
from nexforge.tools.environment import Environment, EnvState, env_tool


@env_tool(read_only=True)
def list_bikes(state: EnvState, limit: int = 20) -> list[dict[str, Any]]:
    """List bikes in id order.

    Args:
        limit: At most this many rows.
    """
    return dbtools.list_rows(state, "bikes", {}, limit)


@env_tool
def update_bike(
    state: EnvState, bike_id: int, price: float | None = None, stock: int | None = None
) -> dict[str, Any]:
    """Change fields of one bike; fields left out keep their value.

    Args:
        bike_id: The bike's id.
        price: The bike's price. Leave out to keep it.
        stock: How many are in stock. Leave out to keep it.
    """
    return dbtools.update_row(state, "bikes", bike_id, {"price": price, "stock": stock})


@env_tool
def create_bike(state: EnvState, name: str, price: float, stock: int) -> dict[str, Any]:
    """Add a new bike; returns it with its id.

    Args:
        name: The bike's name.
        price: The bike's price.
        stock: How many are in stock.
    """
    return dbtools.insert_row(state, "bikes", {"name": name, "price": price, "stock": stock})


@env_tool(read_only=True)
def list_orders(state: EnvState, limit: int = 20) -> list[dict[str, Any]]:
    """List orders in id order.

    Args:
        limit: At most this many rows.
    """
    return dbtools.list_rows(state, "orders", {}, limit)


@pytest.fixture
def environment(tmp_path: Path) -> Environment:
    seed = tmp_path / "shop.sqlite"
    db = sqlite3.connect(seed)
    db.executescript(
        """
        CREATE TABLE bikes (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL,
                            stock INTEGER NOT NULL);
        INSERT INTO bikes VALUES (1, 'Scott Scale 970', 1442.9, 21), (2, 'Trek FX 2', 899.0, 4);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, bike_id INTEGER NOT NULL REFERENCES bikes(id),
                             total REAL NOT NULL);
        INSERT INTO orders VALUES (1, 1, 1442.9), (2, 2, 899.0), (3, 2, 899.0);
        """
    )
    db.commit()
    db.close()
    return Environment("shop", [list_bikes, update_bike, create_bike, list_orders], seed=seed)


async def plans(environment: Environment, tools: list[str], seed: int) -> list[Blueprint]:
    async with environment_run(environment, "test") as ctx:
        evidence = await read_evidence(ctx, environment, tools, random.Random(seed))
    planned = plan_task(environment, evidence, tools, "medium", random.Random(seed))
    assert isinstance(planned, list), planned
    return planned


async def test_a_record_with_a_short_id_is_named_by_its_kind_and_number(
    environment: Environment,
) -> None:
    [read] = await plans(environment, ["list_orders"], 0)

    assert read.kind == "read"
    assert read.known[0].text.startswith("order ")
    assert read.known[0].named_in(f"Hi, where is my order #{read.known[0].value}?")
    assert not read.known[0].named_in("Hi, where is my order?")


async def test_a_catalog_without_allowed_values_gets_count_and_price_changes(
    environment: Environment,
) -> None:
    changes: dict[str, list[tuple[Any, Any]]] = {"price": [], "stock": []}
    for seed in range(12):
        for plan in await plans(environment, ["update_bike"], seed):
            assert plan.call is not None and plan.call.tool == "update_bike"
            [(field, value)] = [(k, v) for k, v in plan.call.arguments.items() if k != "bike_id"]
            changes[field].append((plan.record[field], value))
            assert any(k.by_value and k.value == str(value) for k in plan.known)

    assert changes["price"] and changes["stock"]
    for before, after in changes["stock"]:
        assert isinstance(after, int) and after >= 0 and after != before
    for before, after in changes["price"]:
        assert after == round(after) and after != before
        assert 0.8 * before <= after <= 1.25 * before


async def test_a_new_catalog_entry_gets_a_round_price_and_a_small_count(
    environment: Environment,
) -> None:
    plan = (await plans(environment, ["create_bike"], 3))[0]

    assert plan.call is not None and plan.call.free == ["name"]
    assert isinstance(plan.call.arguments["price"], int)
    assert 1 <= plan.call.arguments["stock"] <= 3
    assert "price" in plan.wants() and "stock" in plan.wants()


def test_a_price_is_named_with_or_without_thousands_separators() -> None:
    price = Known("price 1299", "1299", by_value=True)

    assert price.named_in("Please set it to $1,299.")
    assert price.named_in("Please set it to 1299.00 dollars.")
    assert not price.named_in("Please set it to 12,990.")
