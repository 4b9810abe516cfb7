"""The quality rung: a framework whose content is fit for training data passes; each kind
of junk the embedded model used to write fails with a reason naming what and where."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from nexforge.architect.assemble import write_agents, write_kit
from nexforge.architect.envgen import plan_tools, write_environment
from nexforge.architect.framework_files import read_framework_files
from nexforge.architect.ladder import check_framework
from nexforge.architect.nouns import named_nouns
from nexforge.architect.quality_rung import (
    CHECKS,
    AgentInfo,
    Column,
    FrameworkContent,
    Problem,
    Table,
    ToolInfo,
    check_content,
    read_content,
    summarize,
)
from nexforge.architect.spec import (
    AgentPlan,
    DomainSpec,
    EntitySpec,
    FieldSpec,
    HierarchyPlan,
    Persona,
    ProblemType,
    QueryKit,
    SeedData,
)
from nexforge.runtime.config.framework import load_framework

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"
DEMO = "A support desk for a bike shop: orders, refunds and stock"

LEAD = """# Role

You run the support desk of Spokes, a small bike shop. You find the customer and hand
their request to the right specialist.

## Your team

- `orders_desk`: handles orders and refunds
- `catalog`: answers questions about products and stock
"""
ORDERS = """# Role

You handle orders and refunds for Spokes customers, checking each order before you
change it.

## Responsibilities

- Check an order's status and explain it to the customer
- Cancel orders and record refunds when the policy allows it

## Policy

- Cancel an order only while it is pending or paid.
- A refund never exceeds the order's total.
"""
CATALOG = """You answer questions about the products of Spokes: prices, and how many of
each are in stock. You cannot change anything.
"""


def good() -> FrameworkContent:
    """A small bike-shop framework that passes every check."""
    customers = Table(
        "customers",
        [Column("id", "integer", key=True), Column("name", "text"), Column("email", "text")],
        [
            {"id": 1, "name": "Ada Lind", "email": "ada@lind.se"},
            {"id": 2, "name": "Ben Okafor", "email": "ben.okafor@mail.com"},
            {"id": 3, "name": "Chloé Martin", "email": "chloe@example.com"},
            {"id": 4, "name": "Dev Patel", "email": "dev@patel.io"},
        ],
    )
    products = Table(
        "products",
        [Column("name", "text"), Column("price", "real"), Column("stock", "integer")],
        [
            {"name": "Trek FX 3 Disc", "price": 899.0, "stock": 4},
            {"name": "Abus Granit D-lock", "price": 79.5, "stock": 12},
            {"name": "Shimano 105 chain", "price": 34.9, "stock": 0},
            {"name": "Giro Register helmet", "price": 59.0, "stock": 7},
        ],
    )
    orders = Table(
        "orders",
        [
            Column("customer_id", "integer", references="customers"),
            Column("product_id", "integer", references="products"),
            Column("status", "text", ("pending", "paid", "shipped", "cancelled")),
            Column("placed_on", "date"),
            Column("total", "real"),
        ],
        [
            {"customer_id": 2, "product_id": 1, "status": "paid", "placed_on": "2026-01-03",
             "total": 899.0},
            {"customer_id": 1, "product_id": 2, "status": "pending", "placed_on": "2026-01-09",
             "total": 159.0},
            {"customer_id": 3, "product_id": 4, "status": "shipped", "placed_on": "2026-01-10",
             "total": 59.0},
            {"customer_id": 2, "product_id": 3, "status": "cancelled",
             "placed_on": "2026-01-21", "total": 69.8},
        ],
    )  # fmt: skip
    refunds = Table(
        "refunds",
        [
            Column("order_id", "integer", references="orders"),
            Column("amount", "real"),
            Column("reason", "text"),
        ],
        [
            {"order_id": 4, "amount": 69.8, "reason": "Ordered the wrong size"},
            {"order_id": 3, "amount": 20.0, "reason": "Scratched on arrival"},
        ],
    )
    return FrameworkContent(
        description=DEMO,
        tables=[customers, products, orders, refunds],
        tools=[
            ToolInfo("find_customer", "Find customers by name or email.", True),
            ToolInfo("get_order", "Look up one order by its id.", True),
            ToolInfo(
                "cancel_order",
                "Sets the order's status to 'cancelled'; only when it is 'pending' or 'paid'.",
                False,
            ),
            ToolInfo("create_refund", "Add a new refund; returns it with its id.", False),
            ToolInfo("search_products", "Find products whose name contains the text.", True),
        ],
        agents=[
            AgentInfo("lead", LEAD, ["find_customer"], ["orders_desk", "catalog"]),
            AgentInfo("orders_desk", ORDERS, ["get_order", "cancel_order", "create_refund"], []),
            AgentInfo("catalog", CATALOG, ["search_products"], []),
        ],
        entry="lead",
        leaves=[
            ProblemType(id="1.1.1", label="Cancel an order", tools=["get_order", "cancel_order"]),
            ProblemType(id="2.1.1", label="Is it in stock", tools=["search_products"]),
        ],
    )


def problems_of(content: FrameworkContent, check: str) -> list[str]:
    return [str(p) for p in check_content(content) if p.check == check]


def table(content: FrameworkContent, name: str) -> Table:
    found = content.table(name)
    assert found is not None
    return found


def agent(content: FrameworkContent, name: str) -> AgentInfo:
    return next(a for a in content.agents if a.name == name)


def test_a_framework_fit_for_data_has_no_problems() -> None:
    assert check_content(good()) == []


def test_the_hand_written_shop_example_passes() -> None:
    content = read_content(load_framework(SHOP), read_framework_files(SHOP))

    assert check_content(content) == []
    assert {t.name for t in content.tables} >= {"customers", "products", "orders", "refunds"}
    assert table(content, "orders").column("customer_id") == Column(
        "customer_id", "integer", references="customers"
    )
    assert table(content, "orders").column("status") == Column(
        "status", "text", ("placed", "shipped", "delivered", "cancelled")
    )


@pytest.mark.parametrize(
    ("description", "nouns"),
    [
        (DEMO, ["orders", "refunds", "stock"]),
        ("A dental clinic's appointment desk", ["appointments"]),
        ("A library's loans and reservations", ["loans", "reservations"]),
        ("A car rental desk: rentals, returns and damage claims", ["rentals", "returns", "claims"]),
        ("A bike shop support desk", []),
        ("A booking system for yoga classes", ["bookings", "classes"]),
    ],
)
def test_the_things_a_description_names(description: str, nouns: list[str]) -> None:
    assert named_nouns(description) == nouns


# -- prompts ------------------------------------------------------------------------------


def test_prompts_about_the_prompt_fail_with_the_line_quoted() -> None:
    content = good()
    agent(content, "orders_desk").prompt = ORDERS.replace(
        "You handle orders and refunds for Spokes customers, checking each order before you\n"
        "change it.",
        "Submit the prompt.",
    ).replace("- A refund never", "- The prompt should be clear. A refund never")

    found = problems_of(content, "prompts")

    assert found == [
        "agent orders_desk: 'Submit the prompt.' talks about 'submit the prompt', not the "
        "agent's job (and 1 more such lines); describe what the agent does for the users",
        "agent orders_desk: the role 'Submit the prompt.' is not a job description; say in a "
        "sentence or two whom the agent serves and what it handles",
    ]


def test_responsibilities_and_policy_items_that_are_names_fail() -> None:
    content = good()
    agent(content, "orders_desk").prompt = ORDERS.replace(
        "- Check an order's status and explain it to the customer\n"
        "- Cancel orders and record refunds when the policy allows it",
        "- get_order\n- cancel_order",
    ).replace(
        "- Cancel an order only while it is pending or paid.\n"
        "- A refund never exceeds the order's total.",
        "- order_creation\n- refund_processing\n- Refunds are handled by the desk staff.",
    )

    found = problems_of(content, "prompts")

    assert len(found) == 3
    assert found[0].startswith(
        "agent orders_desk: responsibilities 'get_order', 'cancel_order' are tool or task names"
    )
    assert found[1].startswith(
        "agent orders_desk: policy items 'order_creation', 'refund_processing' are task names"
    )
    assert found[2].startswith(
        "agent orders_desk: policy items 'Refunds are handled by the desk staff.' state no rule"
    )


def test_state_changing_tools_without_any_policy_fail() -> None:
    content = good()
    agent(content, "orders_desk").prompt = ORDERS.split("## Policy")[0]

    assert problems_of(content, "prompts") == [
        "policy: no agent's prompt has a Policy section; state the rules the state-changing "
        "tools follow (cancel_order, create_refund: who may do what, and when)"
    ]


def test_a_prompt_that_names_no_record_fails() -> None:
    content = good()
    agent(content, "catalog").prompt = "You are a helpful assistant. Be polite and accurate always."

    assert problems_of(content, "prompts") == [
        "agent catalog: the prompt names none of the records the agent works on "
        "(customers, products, orders, refunds)"
    ]


# -- entities and references --------------------------------------------------------------


def test_every_named_thing_needs_a_table_and_tables_are_things() -> None:
    content = good()
    content.tables = [t for t in content.tables if t.name != "refunds"]
    table(content, "products").name = "stock_management"
    for column in table(content, "orders").columns:
        if column.references == "products":
            object.__setattr__(column, "references", "stock_management")

    found = problems_of(content, "entities")

    assert found == [
        "description: names 'refunds' but no table holds them; make refunds an entity of its "
        "own (one row per refund)",
        "table stock_management: is named for an activity, not a thing; name it for what one "
        "row is (e.g. stock_items or products)",
    ]


def test_stock_is_covered_by_a_stock_column() -> None:
    content = good()
    assert "stock" in [c.name for c in table(content, "products").columns]
    assert problems_of(content, "entities") == []


def test_unrelated_tables_fail_with_the_missing_references_named() -> None:
    content = good()
    for t in content.tables:
        t.columns = [
            Column(c.name, c.type, c.values, None, c.key) if c.references else c for c in t.columns
        ]

    found = problems_of(content, "references")

    assert found == [
        "orders.customer_id: holds customers ids but is not a reference (declare it as "
        "REFERENCES customers)",
        "orders.product_id: holds products ids but is not a reference (declare it as "
        "REFERENCES products)",
        "refunds.order_id: holds orders ids but is not a reference (declare it as REFERENCES "
        "orders)",
        "table orders: references no other table; one order belongs to the people and things "
        "it is about (e.g. customer_id, product_id)",
        "table refunds: references no other table; one refund belongs to the people and "
        "things it is about (e.g. customer_id, product_id)",
        "table refunds: does not reference orders; a refund is for one order (order_id)",
        "table customers: is not linked to any other table (no reference from or to it)",
        "table products: is not linked to any other table (no reference from or to it)",
    ]


def test_an_id_field_without_its_table_fails() -> None:
    content = good()
    table(content, "orders").columns.append(Column("store_id", "integer"))

    assert problems_of(content, "references") == [
        "orders.store_id: points to 'store', which is not a table; add that entity or drop "
        "the field"
    ]


# -- actions ------------------------------------------------------------------------------


def test_only_crud_tools_fail_the_actions_check() -> None:
    content = good()
    content.tools = [t for t in content.tools if t.name != "cancel_order"]

    assert problems_of(content, "actions") == [
        "environment: no domain action beyond get/list/search/create/update (state-changing: "
        "create_refund); add one with its rule, e.g. cancel an order only while it is pending "
        "or paid"
    ]


def test_an_action_needs_its_rule_in_its_description_or_the_policy() -> None:
    content = good()
    content.tools.append(ToolInfo("approve_refund", "Sets the refund's state to approved.", False))

    assert problems_of(content, "actions") == [
        "tool approve_refund: states no rule: say when it is allowed (e.g. 'only when the "
        "status is pending'), in its description or in the policy"
    ]
    agent(content, "orders_desk").prompt += "- Approve a refund once the item is back.\n"
    assert problems_of(content, "actions") == []


# -- seed rows ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "values", "reason"),
    [
        (
            "name",
            ["Bike 1", "Bike 2", "Bike 3", "Bike 4"],
            "products.name: 'Bike 1', 'Bike 2', 'Bike 3', 'Bike 4' are numbered names, not "
            "real records; write names as they would appear in a real system",
        ),
        (
            "name",
            ["Trek FX 3 Disc", "Item 3", "Abus lock", "Giro helmet"],
            "products.name: row 2 is 'Item 3', a numbered placeholder; write a real value",
        ),
        (
            "name",
            ["Trek FX 3 Disc", "Lorem ipsum", "Abus lock", "Giro helmet"],
            "products.name: row 2 is 'Lorem ipsum', a placeholder; write a real value",
        ),
        (
            "name",
            ["Trek FX 3 Disc", "Abus lock", "Trek FX 3 Disc", "Giro helmet"],
            "products.name: only 3 different names in 4 rows; each record has its own",
        ),
        (
            "price",
            [100.0, 150.0, 200.0, 250.0],
            "products.price: 100, 150, 200, ... changes by 50 from row to row; vary the values "
            "as real records do",
        ),
        (
            "stock",
            [5, 5, 5, 5],
            "products.stock: every row has 5; vary the values as real records do",
        ),
    ],
)
def test_rows_that_do_not_look_real_fail(column: str, values: list[object], reason: str) -> None:
    content = good()
    for row, value in zip(table(content, "products").rows, values, strict=True):
        row[column] = value

    assert problems_of(content, "seed") == [reason]


def test_one_status_for_every_row_and_dates_a_day_apart_fail() -> None:
    content = good()
    for day, row in enumerate(table(content, "orders").rows, 1):
        row["status"] = "pending"
        row["placed_on"] = f"2023-04-{14 + day}"

    assert problems_of(content, "seed") == [
        "orders.status: every row is 'pending'; use several of pending, paid, shipped, "
        "cancelled so actions have rows to act on and rows to refuse",
        "orders.placed_on: 2023-04-15, 2023-04-16, 2023-04-17, ... changes by 1 day(s) from "
        "row to row; vary the values as real records do",
    ]


def test_codes_may_be_numbered() -> None:
    content = good()
    products = table(content, "products")
    products.columns.append(Column("sku", "text"))
    for n, row in enumerate(products.rows, 1):
        row["sku"] = f"SKU {n}"

    assert problems_of(content, "seed") == []


# -- delegation ---------------------------------------------------------------------------


def test_a_lead_holding_the_environment_fails() -> None:
    content = good()
    agent(content, "lead").tools = ["find_customer", "get_order", "cancel_order"]

    assert problems_of(content, "delegation") == [
        "agent lead: the entry agent holds state-changing tools (cancel_order); it delegates, "
        "so they belong to its specialists",
        "agent lead: the entry agent holds 2 environment tools (find_customer, get_order); a "
        "lead holds at most 1 read tool and delegates the rest",
        "problem type 1.1.1 (Cancel an order): lead solves it alone with get_order, "
        "cancel_order; no rollout of it would reach a specialist",
    ]


def test_a_problem_type_spanning_two_specialists_fails() -> None:
    content = good()
    content.leaves.append(
        ProblemType(
            id="3.1.1", label="Refund and restock", tools=["create_refund", "search_products"]
        )
    )

    assert problems_of(content, "delegation") == [
        "problem type 3.1.1 (Refund and restock): needs create_refund, search_products, which "
        "no single specialist holds"
    ]


def test_a_single_agent_framework_has_no_delegation_checks() -> None:
    content = good()
    content.agents = [AgentInfo("desk", ORDERS + CATALOG, [t.name for t in content.tools], [])]
    content.entry = "desk"

    assert problems_of(content, "delegation") == []


def test_the_summary_counts_problems_per_check() -> None:
    problems = [
        Problem("seed", "products.name", "bad"),
        Problem("prompts", "agent lead", "meta"),
        Problem("seed", "orders.total", "step"),
    ]

    assert summarize(problems, shown=2) == (
        "3 problems (prompts 1, seed 2): products.name: bad; agent lead: meta (+1 more)"
    )


def test_the_content_is_not_changed_by_checking() -> None:
    content = good()
    before = copy.deepcopy(content)
    check_content(content)
    assert content == before


# -- the ladder -----------------------------------------------------------------------------

JUNK_PROMPT = """# Role

Submit the prompt.

## Responsibilities

- get_order
- list_orders

## Guidelines

- The prompt should be clear and concise.

## Policy

- order_creation
- refund_processing
- stock_management
"""


def junk_framework(root: Path) -> Path:
    """What the embedded model wrote for the demo sentence before the quality rung: it
    passes schema, load, tool tests and smoke."""
    domain = DomainSpec(
        name="bike_shop",
        title="Support Desk for a Bike Shop",
        purpose="Orders, refunds and stock",
        user_types=["admin", "customer"],
        tasks=["order_creation", "refund_processing", "stock_management"],
        entities=[
            EntitySpec(
                name="orders",
                singular="order",
                fields=[
                    FieldSpec(name="customer_id", type="integer"),
                    FieldSpec(name="order_date", type="date"),
                    FieldSpec(name="order_status", type="text"),
                    FieldSpec(name="order_total", type="real"),
                ],
            ),
            EntitySpec(
                name="refunds",
                singular="refund",
                fields=[
                    FieldSpec(name="customer_id", type="integer"),
                    FieldSpec(name="refund_amount", type="real"),
                ],
            ),
            EntitySpec(
                name="stock_management",
                singular="stock",
                fields=[
                    FieldSpec(name="stock_name", type="text"),
                    FieldSpec(name="stock_quantity", type="integer"),
                ],
            ),
        ],
        policies=["order_creation", "refund_processing", "stock_management"],
    )
    seed = SeedData(
        rows={
            "orders": [
                {
                    "customer_id": n,
                    "order_date": f"2023-04-{14 + n}",
                    "order_status": "pending",
                    "order_total": 50.0 + 50 * n,
                }
                for n in range(1, 6)
            ],
            "refunds": [{"customer_id": n, "refund_amount": 100.0 * n} for n in range(1, 6)],
            "stock_management": [
                {"stock_name": f"Bike {n}", "stock_quantity": 12 - 2 * n} for n in range(1, 6)
            ],
        }
    )
    tools = plan_tools(domain)
    files = write_environment(domain, seed, tools, root)
    reads = ["get_order", "list_orders", "search_orders"]
    specialists = [
        AgentPlan(name=f"customer_{i}", role="reports to lead", layer=1, tools=group)
        for i, group in enumerate(
            [[t.name for t in tools if t.entity == e.name] for e in domain.entities],
            1,
        )
    ]
    plan = HierarchyPlan(
        archetype="lead_specialists",
        entry="admin",
        agents=[
            AgentPlan(
                name="admin",
                role="reports to the user",
                layer=0,
                tools=reads,
                delegates=[a.name for a in specialists],
            ),
            *specialists,
        ],
    )
    write_agents(
        root,
        domain,
        DEMO,
        plan,
        {a.name: JUNK_PROMPT for a in plan.agents},
        database=files.database,
        tools_module=files.tools_module,
        order=[],
    )
    leaf = ProblemType(id="1.1.1", label="order_status", tools=reads)
    tree = ProblemType(
        id="root",
        label="Support Desk",
        children=[
            ProblemType(
                id="1",
                label="order_creation",
                children=[ProblemType(id="1.1", label="create_order", children=[leaf])],
            )
        ],
    )
    persona = Persona(id="p1", name="Ana", user_type="customer", background="Buys bikes.")
    write_kit(root, QueryKit(personas=[persona], problem_types=tree, probe_queries=[]))
    return root


async def test_the_junk_framework_passes_round_one_and_fails_the_quality_rung(
    tmp_path: Path,
) -> None:
    report = await check_framework(junk_framework(tmp_path / "junk"), probe=False)

    passed = {r.name: r.passed for r in report.rungs}
    assert passed == {
        "schema": True,
        "load": True,
        "tool_tests": True,
        "smoke": True,
        "quality": False,
        "probe": None,
    }
    quality = next(r for r in report.rungs if r.name == "quality")
    assert "problems (prompts" in quality.reason
    found = quality.details["problems"]
    assert all(found[check] for check in CHECKS), found
    assert any("'Submit the prompt.'" in p for p in found["prompts"])
    assert any("policy items 'order_creation'" in p for p in found["prompts"])
    assert any("stock_management: is named for an activity" in p for p in found["entities"])
    assert any("orders.customer_id: points to 'customer'" in p for p in found["references"])
    assert any("no domain action" in p for p in found["actions"])
    assert any("'Bike 1', 'Bike 2'" in p for p in found["seed"])
    assert any("order_status: every row is 'pending'" in p for p in found["seed"])
    assert any("admin solves it alone" in p for p in found["delegation"])
