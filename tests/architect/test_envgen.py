"""The environment generator: seed rows -> SQLite seed, tools module and its tests.

A small bike shop domain (customers, orders referencing customers with a status,
repairs referencing orders, a ``cancel_order`` action) is generated into a temp folder,
then loaded through the real framework loader and exercised through the Environment.
"""

from __future__ import annotations

import ast
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from envgen_fixtures import PYTEST, Run, bike_seed, bike_shop, generate, pytest_in_sandbox

from nexforge.architect import dbtools
from nexforge.architect.envgen import (
    EnvironmentFiles,
    plan_tools,
    write_environment,
)
from nexforge.architect.spec import (
    ActionSpec,
    DomainSpec,
    EntitySpec,
    FieldSpec,
    SeedData,
)
from nexforge.runtime.config.framework import load_framework
from nexforge.tools import ToolInputError
from nexforge.tools.env_state import EnvState, Seed

HOSTILE = 'x"""; __import__(\'os\').system("touch PWNED") #\'\'\' \\ \n"""'


@pytest.fixture
def framework(tmp_path: Path) -> Path:
    return generate(tmp_path / "fw")


@pytest.fixture
async def run(framework: Path) -> Any:
    env = load_framework(framework).environment
    assert env is not None
    opened = Run(env)
    yield opened
    await opened.resources.aclose()


# -- planning -------------------------------------------------------------------------


def test_plan_has_crud_tools_per_entity_then_the_actions() -> None:
    plans = {p.name: p for p in plan_tools(bike_shop())}
    assert list(plans) == [
        "get_customer",
        "list_customers",
        "search_customers",
        "create_customer",
        "update_customer",
        "get_order",
        "list_orders",
        "create_order",
        "update_order",
        "get_repair",
        "list_repairs",
        "create_repair",
        "update_repair",
        "cancel_order",
    ]
    assert [n for n, p in plans.items() if p.read_only] == [
        "get_customer",
        "list_customers",
        "search_customers",
        "get_order",
        "list_orders",
        "get_repair",
        "list_repairs",
    ]
    assert plans["cancel_order"].kind == "action"
    assert plans["cancel_order"].description == (
        "Cancel an order that has not shipped. Sets the order's status to 'cancelled'; "
        "only when it is 'pending' or 'paid'."
    )
    assert "changes only through cancel_order" in plans["update_order"].description


def test_an_action_named_like_an_entity_tool_is_renamed_deterministically() -> None:
    clash = ActionSpec(name="get_order", entity="orders", field="status", value="paid")
    plans = {p.name: p for p in plan_tools(bike_shop(actions=[clash, clash]))}
    assert list(plans)[-2:] == ["get_order_2", "get_order_3"]
    assert plans["update_order"].description.endswith(
        "Its status changes only through get_order_2. Its status changes only through get_order_3."
    )


def test_an_action_on_an_unknown_field_or_value_is_refused() -> None:
    unknown = ActionSpec(name="ship", entity="orders", field="carrier", value="x")
    with pytest.raises(ValueError, match="unknown entity or field 'carrier'"):
        plan_tools(bike_shop(actions=[unknown]))
    outside = ActionSpec(name="lose", entity="orders", field="status", value="lost")
    with pytest.raises(ValueError, match="'lost' is not one of"):
        plan_tools(bike_shop(actions=[outside]))


# -- the written environment ------------------------------------------------------------


def test_the_seed_database_has_typed_tables_and_ids_from_one(framework: Path) -> None:
    db = sqlite3.connect(framework / "data" / "bike_shop.sqlite")
    try:
        assert db.execute("SELECT * FROM orders ORDER BY id").fetchall() == [
            (1, 1, "pending", 120.5, "2026-01-02"),
            (2, 2, "shipped", 80.0, "2026-01-03"),
            (3, 1, "paid", 15.0, "2026-01-04"),
        ]
        assert db.execute("SELECT id, vip FROM customers").fetchall() == [(1, 1), (2, 0), (3, 0)]
        assert db.execute("PRAGMA foreign_key_list(repairs)").fetchone()[2:4] == (
            "orders",
            "order_id",
        )
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            db.execute("UPDATE orders SET status = 'lost' WHERE id = 1")
    finally:
        db.close()


def test_the_tools_load_through_the_framework_loader(framework: Path) -> None:
    loaded = load_framework(framework)
    env = loaded.environment
    assert env is not None
    assert [t.name for t in loaded.entry.tools] == [p.name for p in plan_tools(bike_shop())]
    spec = env.tool("list_orders").spec
    assert spec.read_only and spec.description.startswith("List orders in id order")
    assert spec.parameters["properties"]["status"]["anyOf"][0] == {
        "enum": ["pending", "paid", "shipped", "cancelled"],
        "type": "string",
    }
    create = env.tool("create_order").spec.parameters
    assert create["required"] == ["customer_id", "status", "total", "placed_on"]
    assert create["properties"]["customer_id"]["description"] == (
        "Its customer. The id of a customer."
    )
    assert not env.tool("cancel_order").spec.read_only


async def test_reads_lists_and_searches(run: Run) -> None:
    assert await run.ok("get_customer", customer_id=1) == {
        "id": 1,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "vip": True,
    }
    assert await run.error("get_order", order_id=9) == "no orders row with id 9"
    listed = await run.ok("list_orders", customer_id=1, status="paid")
    assert [o["id"] for o in listed] == [3]
    assert [o["id"] for o in await run.ok("list_orders", limit=2)] == [1, 2]
    found = await run.ok("search_customers", text="TURING")
    assert [c["name"] for c in found] == ["Alan Turing"]
    assert await run.error("search_customers", text="  ") == "give some text to search for"


async def test_writes_check_references_and_failed_writes_leave_nothing(run: Run) -> None:
    created = await run.ok(
        "create_order", customer_id=3, status="pending", total=9.5, placed_on="2026-03-01"
    )
    assert created["id"] == 4
    assert await run.error(
        "create_order", customer_id=8, status="pending", total=1.0, placed_on="2026-03-01"
    ) == ("customer_id: no customers row with id 8")
    assert await run.error(
        "create_order", customer_id=1, status="pending", total=1.0, placed_on="March"
    ) == ("placed_on: a date is YYYY-MM-DD, got 'March'")
    assert [o["id"] for o in await run.ok("list_orders")] == [1, 2, 3, 4]
    updated = await run.ok("update_order", order_id=4, total=11.0)
    assert updated == {**created, "total": 11.0}
    assert (await run.error("update_order", order_id=4)).startswith("nothing to update")
    assert "status" not in run.env.tool("update_order").spec.parameters["properties"]


async def test_an_action_moves_only_from_its_allowed_values(run: Run) -> None:
    cancelled = await run.ok("cancel_order", order_id=3)
    assert cancelled["status"] == "cancelled"
    assert await run.error("cancel_order", order_id=2) == (
        "orders row 2 has status 'shipped'; "
        "this is only allowed when status is one of: 'pending', 'paid'"
    )
    assert await run.error("cancel_order", order_id=3) == (
        "orders row 3 has status 'cancelled'; "
        "this is only allowed when status is one of: 'pending', 'paid'"
    )


def test_the_generated_tests_pass_and_catch_a_broken_tool(framework: Path) -> None:
    passed = subprocess.run(PYTEST, cwd=framework, capture_output=True, text=True, timeout=120)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "26 passed" in passed.stdout
    tools = framework / "tools" / "bike_shop_tools.py"
    broken = tools.read_text().replace('["pending", "paid"]', '["pending", "paid", "shipped"]')
    assert broken != tools.read_text()
    tools.write_text(broken)
    failed = subprocess.run(PYTEST, cwd=framework, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert "1 failed, 25 passed" in failed.stdout
    assert "test_cancel_order_is_refused_from_another_status" in failed.stdout


async def test_the_generated_tests_pass_in_the_sandbox(framework: Path) -> None:
    result = await pytest_in_sandbox(framework)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "26 passed" in result.stdout


def test_the_generated_files_are_ruff_clean(framework: Path) -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed")
    config = Path(__file__).resolve().parents[2] / "pyproject.toml"
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [ruff, *command, "--config", str(config), "tools"],
            cwd=framework,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr


# -- hostile text ---------------------------------------------------------------------


def hostile_domain() -> DomainSpec:
    return DomainSpec(
        name="weird",
        title=HOSTILE,
        purpose=HOSTILE,
        user_types=["x"],
        tasks=["x"],
        entities=[
            EntitySpec(
                name="things",
                singular="thing",
                description=HOSTILE,
                fields=[
                    FieldSpec(name="label", type="text", description=HOSTILE),
                    FieldSpec(name="mood", type="text", values=[HOSTILE, 'it\'s "ok"']),
                    FieldSpec(name="from", type="text", description="A keyword as a field name."),
                    FieldSpec(name="state", type="integer", description="Clashes with state."),
                ],
            )
        ],
        actions=[
            ActionSpec(
                name="calm",
                description=HOSTILE,
                entity="things",
                field="mood",
                value='it\'s "ok"',
                allowed_from=[HOSTILE],
            )
        ],
    )


def hostile_seed() -> SeedData:
    row = {"label": HOSTILE, "mood": HOSTILE, "from": "\\n'''", "state": 1}
    return SeedData(rows={"things": [row, {**row, "mood": 'it\'s "ok"', "state": 2}]})


def test_hostile_text_cannot_inject_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    root = generate(tmp_path / "fw", hostile_domain(), hostile_seed())
    source = (root / "tools" / "weird_tools.py").read_text()
    module = ast.parse(source)
    for node in module.body:
        if isinstance(node, ast.FunctionDef):
            docstring, returned = node.body
            assert isinstance(docstring, ast.Expr) and isinstance(docstring.value, ast.Constant)
            assert isinstance(returned, ast.Return) and isinstance(returned.value, ast.Call)
            called = returned.value.func
            assert isinstance(called, ast.Attribute) and called.value.id == "dbtools"  # type: ignore[attr-defined]
        else:
            assert isinstance(node, ast.Expr | ast.ImportFrom | ast.Assign)
    calls = [n for n in ast.walk(module) if isinstance(n, ast.Call)]
    assert {ast.unparse(c.func) for c in calls} <= {
        "env_tool",
        "dbtools.get_row",
        "dbtools.list_rows",
        "dbtools.search_rows",
        "dbtools.insert_row",
        "dbtools.update_row",
        "dbtools.transition",
    }
    env = load_framework(root).environment
    assert env is not None
    assert "__import__('os').system('touch PWNED')" in env.tool("calm").spec.description
    assert env.tool("create_thing").spec.parameters["required"] == [
        "label",
        "mood",
        "from_",
        "state",
    ]
    result = subprocess.run(PYTEST, cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list(tmp_path.rglob("PWNED")) and not (root / "PWNED").exists()


# -- dbtools on its own -----------------------------------------------------------------


def test_dbtools_checks_names_and_caps_limits(framework: Path, tmp_path: Path) -> None:
    seed = Seed(database=framework / "data" / "bike_shop.sqlite", files=None)
    state = EnvState(seed, tmp_path, "r1")
    try:
        with pytest.raises(ValueError, match="not a table name"):
            dbtools.get_row(state, 'orders" --', 1)
        with pytest.raises(ValueError, match="has no column 'nope'"):
            dbtools.list_rows(state, "orders", {"nope": 1}, 5)
        for _ in range(60):
            dbtools.insert_row(state, "repairs", {"order_id": 1, "kind": "flat"})
        assert len(dbtools.list_rows(state, "repairs", {}, 500)) == dbtools.MAX_LIMIT
        assert dbtools.list_rows(state, "customers", {"vip": None}, 0) == [
            dbtools.get_row(state, "customers", 1)
        ]
        with pytest.raises(ToolInputError, match="kind is required"):
            dbtools.insert_row(state, "repairs", {"order_id": 1})
        with pytest.raises(ToolInputError, match="rejected by the database"):
            dbtools.update_row(state, "repairs", 1, {"kind": "lost"})
    finally:
        state.close()


def test_environment_files_name_the_written_paths(tmp_path: Path) -> None:
    files = write_environment(bike_shop(), bike_seed(), plan_tools(bike_shop()), tmp_path)
    assert files == EnvironmentFiles(
        database="data/bike_shop.sqlite",
        tools_module="tools/bike_shop_tools.py",
        tests="tools/test_bike_shop_tools.py",
    )
    assert all((tmp_path / p).is_file() for p in (files.database, files.tools_module, files.tests))
