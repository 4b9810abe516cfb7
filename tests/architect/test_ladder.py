"""The validation ladder: each rung passes on a good framework and fails, with a reason
naming the defect, on a framework that has it."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from nexforge.architect.ladder import RUNGS, CheckReport, check_framework, render_check
from nexforge.architect.smoke import example_arguments
from nexforge.core.errors import ModelError
from nexforge.models.base import ModelRequest
from nexforge.testing import ScriptedModel

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"

WORKFLOW = """
workflow:
  archetype: lead_specialists
  edges:
    - {from: lead, to: orders}
    - {from: lead, to: catalog}
"""
PERSONAS = [
    {"id": "ana", "name": "Ana", "user_type": "customer", "background": "Commutes by bike."},
    {"id": "ben", "name": "Ben", "user_type": "customer", "background": "Races on weekends."},
]
PROBLEM_TYPES: dict[str, Any] = {
    "id": "support",
    "label": "Support",
    "children": [
        {
            "id": "orders",
            "label": "Orders",
            "children": [
                {"id": "cancel", "label": "Cancel an order", "tools": ["cancel_order"]},
                {"id": "status", "label": "Order status", "tools": ["get_order"]},
            ],
        },
        {
            "id": "catalog",
            "label": "Catalog",
            "children": [{"id": "stock", "label": "Stock", "tools": ["search_products"]}],
        },
    ],
}
PROBES = [
    {"text": "Please cancel order 1001.", "problem_type": "cancel", "persona": "ana"},
    {"text": "Is the GR-LOCK in stock?", "problem_type": "stock"},
]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def write_kit(
    root: Path,
    personas: list[dict[str, Any]] = PERSONAS,
    problem_types: dict[str, Any] = PROBLEM_TYPES,
    probes: list[dict[str, Any]] = PROBES,
) -> None:
    kit = root / "kit"
    kit.mkdir(exist_ok=True)
    (kit / "personas.jsonl").write_text("".join(json.dumps(p) + "\n" for p in personas))
    (kit / "problem_types.json").write_text(json.dumps(problem_types, indent=2))
    (kit / "probe_queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in probes))


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """examples/shop with a workflow block and a query kit (no tool tests)."""
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root, ignore=shutil.ignore_patterns("__pycache__"))
    with (root / "framework.yaml").open("a", encoding="utf-8") as f:
        f.write(WORKFLOW)
    write_kit(root)
    return root


def answer(request: ModelRequest) -> str:
    return f"{request.agent} answered."


def rung(report: CheckReport, name: str) -> Any:
    return next(r for r in report.rungs if r.name == name)


def assert_fails_at(report: CheckReport, name: str) -> str:
    """The rung failed, the ones before passed, the ones after were skipped; its reason."""
    index = RUNGS.index(name)
    assert [r.name for r in report.rungs] == list(RUNGS)
    assert [r.passed for r in report.rungs[:index]] == [True] * index
    assert report.rungs[index].passed is False
    for later in report.rungs[index + 1 :]:
        assert later.passed is None
        assert later.reason == f"skipped: {name} failed"
    assert not report.passed
    assert report.reached == (RUNGS[index - 1] if index else None)
    return report.rungs[index].reason


# -- a good framework -----------------------------------------------------------------------


def sandbox_test(original: Path) -> str:
    """A generated-style test that passes only in a sandboxed copy of the framework."""
    return f"""
        import os
        from pathlib import Path

        import pytest

        from nexforge.tools.env_state import EnvState, Seed
        from tools.shop import find_customer

        ORIGINAL = {str(original)!r}
        PARENT_IS_ROOT = {os.geteuid() == 0}


        def test_find_customer_reads_the_seed(tmp_path):
            seed = Seed(database=Path("data/shop.sqlite"), files=None)
            state = EnvState(seed, tmp_path, "test")
            assert find_customer(state, "ada@")[0]["name"] == "Ada Lind"


        def test_runs_in_a_sandboxed_copy():
            assert "LADDER_PARENT_SECRET" not in os.environ
            assert os.path.realpath(os.getcwd()) != ORIGINAL
            if PARENT_IS_ROOT:
                assert os.getuid() != 0
                with pytest.raises(PermissionError):
                    open(os.path.join(ORIGINAL, "escaped.txt"), "w")
        """


async def test_every_rung_passes_on_a_good_framework(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LADDER_PARENT_SECRET", "not for children")
    write(shop, {"tools/test_shop.py": sandbox_test(shop)})
    model = ScriptedModel(answer)

    report = await check_framework(shop, model=model, probe_timeout_s=30)

    assert [(r.name, r.passed) for r in report.rungs] == [(n, True) for n in RUNGS], [
        (r.name, r.reason) for r in report.rungs
    ]
    assert report.passed and report.reached == "probe"
    assert rung(report, "schema").reason == "framework.yaml, 3 agents, kit ok, workflow of 2 edges"
    assert rung(report, "tool_tests").reason == "2 tests passed in 1 test file"
    assert not (shop / "escaped.txt").exists()
    smoke = rung(report, "smoke").details
    assert sorted(smoke["agents_reached"]) == ["catalog", "lead", "orders"]
    assert "orders/cancel_order" in smoke["tools_reached"]
    assert len(smoke["tools_reached"]) == 10  # lead 1, orders 8, catalog 1
    refused = {e["tool"]: e["error"] for e in smoke["tool_errors"]}
    assert refused["cancel_order"] == "no order 1"  # a refusal is counted, not a failure
    assert smoke["crashes"] == []
    runs = rung(report, "probe").details["runs"]
    assert [r["query"] for r in runs] == [p["text"] for p in PROBES]
    assert all(r["stop_reason"] == "completed" for r in runs)
    assert runs[0]["final_output"] == "lead answered."
    lines = render_check(report)
    assert [line.split()[:2] for line in lines] == [["PASS", n] for n in RUNGS]
    assert json.loads(json.dumps(report.to_dict()))["reached"] == "probe"


async def test_a_framework_without_kit_or_tests_passes_with_the_probe_skipped(
    tmp_path: Path,
) -> None:
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root, ignore=shutil.ignore_patterns("kit"))

    report = await check_framework(root, model=ScriptedModel(answer))

    assert report.passed and report.reached == "quality"
    assert rung(report, "schema").reason == "framework.yaml, 3 agents, no kit"
    assert rung(report, "tool_tests").reason == "no generated tool tests"
    assert rung(report, "probe").passed is None
    assert "no probe queries" in rung(report, "probe").reason


async def test_stop_at_skips_the_later_rungs(shop: Path) -> None:
    report = await check_framework(shop, stop_at="load")

    assert [r.passed for r in report.rungs] == [True, True, None, None, None, None]
    assert rung(report, "smoke").reason == "skipped: stopped after load"
    assert report.passed and report.reached == "load"
    with pytest.raises(ValueError, match="unknown rung 'lint'"):
        await check_framework(shop, stop_at="lint")


# -- schema -------------------------------------------------------------------------------


async def test_an_unknown_agent_key_names_the_file_and_line(shop: Path) -> None:
    path = shop / "agents" / "orders.yaml"
    lines = path.read_text().splitlines()
    lines.insert(2, "colour: red")
    path.write_text("\n".join(lines) + "\n")

    reason = assert_fails_at(await check_framework(shop), "schema")

    assert reason.startswith("agents/orders.yaml:3: colour: unknown key (expected one of: name,")


async def test_a_missing_framework_file_fails_the_schema_rung(tmp_path: Path) -> None:
    reason = assert_fails_at(await check_framework(tmp_path), "schema")
    assert "framework.yaml not found" in reason


async def test_a_workflow_cycle_is_named(shop: Path) -> None:
    text = (shop / "framework.yaml").read_text()
    text += "    - {from: orders, to: catalog}\n    - {from: catalog, to: orders}\n"
    (shop / "framework.yaml").write_text(text)

    reason = assert_fails_at(await check_framework(shop), "schema")

    assert reason.startswith("framework.yaml:")
    assert reason.endswith("cycle: orders -> catalog -> orders")


async def test_a_workflow_edge_must_name_an_agent(shop: Path) -> None:
    text = (shop / "framework.yaml").read_text() + "    - {from: lead, to: billing}\n"
    (shop / "framework.yaml").write_text(text)

    reason = assert_fails_at(await check_framework(shop), "schema")

    assert reason.endswith("workflow.edges[2].to: unknown agent 'billing'")


@pytest.mark.parametrize(
    ("defect", "expected"),
    [
        (
            {"personas": [*PERSONAS, {"id": "cy", "name": "Cy"}]},
            "kit/personas.jsonl:3: user_type: Field required",
        ),
        (
            {"personas": [PERSONAS[0], PERSONAS[0]]},
            "kit/personas.jsonl: duplicate persona id 'ana'",
        ),
        (
            {"problem_types": {**PROBLEM_TYPES, "children": [{"id": "flat", "label": "Flat"}]}},
            "kit/problem_types.json: the problem-type tree has depth 2; at least 3",
        ),
        (
            {"problem_types": {**PROBLEM_TYPES, "id": "cancel"}},
            "kit/problem_types.json: duplicate problem type id 'cancel'",
        ),
        (
            {
                "problem_types": {
                    **PROBLEM_TYPES,
                    "children": [
                        {"id": "c", "label": "C", "children": [{"id": "stock", "label": "S"}]}
                    ],
                },
                "probes": [PROBES[1]],
            },
            "kit/problem_types.json: problem type 'stock' (a leaf) lists no tools",
        ),
        (
            {"probes": [PROBES[0], {"text": "Hi", "problem_type": "orders"}]},
            "kit/probe_queries.jsonl:2: problem_type 'orders' is not a leaf of",
        ),
        (
            {"probes": [{"text": "Hi", "problem_type": "stock", "persona": "zed"}]},
            "kit/probe_queries.jsonl:1: persona 'zed' is not in kit/personas.jsonl",
        ),
    ],
)
async def test_kit_defects_fail_the_schema_rung(
    shop: Path, defect: dict[str, Any], expected: str
) -> None:
    write_kit(shop, **defect)

    reason = assert_fails_at(await check_framework(shop), "schema")

    assert reason.startswith(expected)


# -- load ---------------------------------------------------------------------------------


async def test_a_load_error_is_the_reason(shop: Path) -> None:
    path = shop / "agents" / "catalog.yaml"
    path.write_text(path.read_text().replace("env: search_products", "env: search_everything"))

    reason = assert_fails_at(await check_framework(shop), "load")

    assert reason.startswith("agents/catalog.yaml:")
    assert "unknown environment tool 'search_everything'" in reason


async def test_workflow_edges_must_equal_the_sub_agents(shop: Path) -> None:
    text = (shop / "framework.yaml").read_text()
    text = text.replace("{from: lead, to: catalog}", "{from: orders, to: catalog}")
    (shop / "framework.yaml").write_text(text)

    reason = assert_fails_at(await check_framework(shop), "load")

    assert reason == (
        "sub_agents edge lead -> catalog is not in the workflow; "
        "workflow edge orders -> catalog is not in sub_agents"
    )


async def test_every_agent_file_must_be_reached_from_the_entry(shop: Path) -> None:
    write(shop, {"agents/billing.yaml": "name: billing\nsystem_prompt: You bill.\n"})

    reason = assert_fails_at(await check_framework(shop), "load")

    assert reason == "not reached from the entry agent: agents/billing.yaml"


async def test_problem_type_tools_must_exist(shop: Path) -> None:
    tree = json.loads(json.dumps(PROBLEM_TYPES))
    tree["children"][1]["children"][0]["tools"] = ["search_products", "order_bike_part"]
    write_kit(shop, problem_types=tree)

    reason = assert_fails_at(await check_framework(shop), "load")

    assert reason == "problem type 'stock' lists tools no agent has: order_bike_part"


# -- tool tests ---------------------------------------------------------------------------


async def test_a_failing_tool_test_fails_the_rung_by_name(shop: Path) -> None:
    write(
        shop,
        {
            "tools/test_orders.py": """
                def test_writes_a_receipt(tmp_path):
                    (tmp_path / "receipt.txt").write_text("order 1")


                def test_cancel_order_refunds():
                    assert "refund" == "no refund"
            """
        },
    )

    report = await check_framework(shop)

    reason = assert_fails_at(report, "tool_tests")
    assert reason == "1 of 2 tests failed: test_cancel_order_refunds"
    assert rung(report, "tool_tests").details["counts"] == {"failed": 1, "passed": 1}


async def test_a_tool_test_that_cannot_import_is_an_error(shop: Path) -> None:
    write(shop, {"tools/test_broken.py": "import no_such_module_here\n"})

    reason = assert_fails_at(await check_framework(shop), "tool_tests")

    assert reason == "1 error (collection or fixture): tools/test_broken.py"


# -- smoke --------------------------------------------------------------------------------

DESK_TOOLS = """
    from nexforge.tools import ToolInputError
    from nexforge.tools.environment import EnvState, env_tool


    @env_tool
    def close_ticket(state: EnvState, ticket_id: int) -> str:
        \"\"\"Close a ticket.\"\"\"
        raise ToolInputError(f"ticket {ticket_id} is already closed")


    @env_tool(read_only=True)
    def lookup(state: EnvState, ticket_id: int, kind: str = "bug") -> str:
        \"\"\"Look a ticket up.\"\"\"
        return f"ticket {ticket_id} ({kind})"
"""


def desk(root: Path, *, tools: str = DESK_TOOLS, desk_extra: str = "") -> Path:
    """A two-agent framework: desk (text-mode, with finish) delegates to helper."""
    write(
        root,
        {
            "framework.yaml": """
                name: desk
                entry_agent: agents/desk.yaml
                environment: {tools: tools/desk.py}
                workflow: {edges: [{from: desk, to: helper}]}
            """,
            "agents/desk.yaml": f"""
                name: desk
                system_prompt_file: ../prompts/desk.md
                tool_call_format: hermes
                tools:
                  - env: close_ticket
                  - builtin: finish
                sub_agents:
                  - config: helper.yaml
                {desk_extra}
            """,
            "agents/helper.yaml": """
                name: helper
                system_prompt: You look tickets up.
                tools:
                  - env: lookup
            """,
            "prompts/desk.md": "You run the help desk.\n",
            "tools/desk.py": tools,
        },
    )
    return root


async def test_smoke_reaches_text_mode_agents_finish_and_sub_agents(tmp_path: Path) -> None:
    report = await check_framework(desk(tmp_path))

    smoke = rung(report, "smoke")
    assert smoke.passed, smoke.reason
    assert smoke.reason == "2 agents, 3 tools reached (3 agent/tool pairs); 1 refused call"
    assert sorted(smoke.details["tools_reached"]) == [
        "desk/close_ticket",
        "desk/finish",
        "helper/lookup",
    ]
    assert smoke.details["tool_errors"] == [
        {"agent": "desk", "tool": "close_ticket", "error": "ticket 1 is already closed"}
    ]


async def test_a_crashing_tool_fails_the_smoke_rung_by_name(tmp_path: Path) -> None:
    crashing = DESK_TOOLS.replace(
        'return f"ticket {ticket_id} ({kind})"', 'raise KeyError(f"no row {ticket_id}")'
    )
    report = await check_framework(desk(tmp_path, tools=crashing))

    reason = assert_fails_at(report, "smoke")

    assert reason == "tool lookup crashed: KeyError: 'no row 1'"
    assert rung(report, "smoke").details["crashes"] == [
        {"tool": "lookup", "error": "KeyError: 'no row 1'"}
    ]


async def test_a_sub_agent_beyond_max_depth_is_not_reached(tmp_path: Path) -> None:
    report = await check_framework(desk(tmp_path, desk_extra="limits: {max_depth: 0}"))

    reason = assert_fails_at(report, "smoke")

    assert reason == "agents not reached: helper"


async def test_an_agent_that_cannot_answer_after_its_tools_fails_the_smoke_rung(
    tmp_path: Path,
) -> None:
    report = await check_framework(desk(tmp_path, desk_extra="limits: {max_steps: 1}"))

    reason = assert_fails_at(report, "smoke")

    assert reason == "smoke run stopped (max_steps)"


def test_example_arguments_follow_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "status": {"anyOf": [{"type": "null"}, {"enum": ["open", "closed"]}]},
            "order_id": {"type": "integer"},
            "quantity": {"type": "integer", "minimum": 2},
            "due": {"type": "string", "format": "date"},
            "note": {"type": "string", "examples": ["Call back"]},
            "lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}},
            "optional": {"type": "string"},
        },
        "required": ["status", "order_id", "quantity", "due", "note", "lines"],
        "$defs": {
            "Line": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "gift": {"type": "boolean"}},
                "required": ["sku"],
            }
        },
    }

    assert example_arguments(schema) == {
        "status": "open",
        "order_id": 1,
        "quantity": 2,
        "due": "2026-01-05",
        "note": "Call back",
        "lines": [{"sku": "test"}],
    }


# -- probe --------------------------------------------------------------------------------


async def test_a_probe_run_that_ends_in_error_fails_the_rung(shop: Path) -> None:
    def broken(request: ModelRequest) -> str:
        raise ModelError("endpoint returned 503")

    report = await check_framework(shop, model=ScriptedModel(broken), max_probe_queries=1)

    reason = assert_fails_at(report, "probe")
    assert reason == (
        "1 of 1 probe runs ended in error; 'Please cancel order 1001.': endpoint returned 503"
    )
    assert rung(report, "probe").details["runs"][0]["stop_reason"] == "error"


async def test_the_probe_is_skipped_when_no_model_is_configured(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXFORGE_BASE_URL", "http://127.0.0.1:9/v1")  # half a configuration

    report = await check_framework(shop)

    probe = rung(report, "probe")
    assert probe.passed is None
    assert probe.reason.startswith("no model: NEXFORGE_BASE_URL is set but NEXFORGE_MODEL")
    assert report.passed and report.reached == "quality"


async def test_the_probe_can_be_turned_off(shop: Path) -> None:
    report = await check_framework(shop, probe=False)

    assert rung(report, "probe").reason == "probe disabled"
    assert render_check(report)[-1].startswith("SKIP probe")


async def test_the_sandbox_can_run_the_tool_tests_on_this_machine() -> None:
    # If it could not, the rung would run them unsandboxed and say so in its reason.
    from nexforge.architect.tool_tests import sandbox_cannot_run_tests

    assert await sandbox_cannot_run_tests() is None
