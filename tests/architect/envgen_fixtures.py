"""The bike shop domain the environment generator's tests build, and how they run it."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from nexforge.architect.customtools import custom_plan
from nexforge.architect.envgen import plan_tools, write_environment
from nexforge.architect.spec import (
    ActionSpec,
    CustomTool,
    DomainSpec,
    EntitySpec,
    FieldSpec,
    SeedData,
)
from nexforge.tools import (
    Environment,
    RunInfo,
    RunResources,
    SubprocessResult,
    ToolContext,
    execute_tool,
    make_run_workspace,
    run_subprocess,
)
from nexforge.tools.workspace import give_to_workspace_owner

PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tools/"]


def bike_shop(*, actions: list[ActionSpec] | None = None) -> DomainSpec:
    return DomainSpec(
        name="bike_shop",
        title="Spokes & Sprockets",
        purpose="Support desk of a small bike shop.",
        user_types=["customer"],
        tasks=["cancel an order"],
        entities=[
            EntitySpec(
                name="customers",
                singular="customer",
                description="People who buy from the shop",
                fields=[
                    FieldSpec(name="name", type="text", description="Full name"),
                    FieldSpec(name="email", type="text"),
                    FieldSpec(name="vip", type="boolean", description="Gets priority service"),
                ],
            ),
            EntitySpec(
                name="orders",
                singular="order",
                fields=[
                    FieldSpec(name="customer_id", type="integer", references="customers"),
                    FieldSpec(
                        name="status",
                        type="text",
                        values=["pending", "paid", "shipped", "cancelled"],
                    ),
                    FieldSpec(name="total", type="real", description="Total in euros"),
                    FieldSpec(name="placed_on", type="date"),
                ],
            ),
            EntitySpec(
                name="repairs",
                singular="repair",
                fields=[
                    FieldSpec(name="order_id", type="integer", references="orders"),
                    FieldSpec(name="kind", type="text", values=["tune_up", "flat"]),
                ],
            ),
        ],
        actions=actions
        if actions is not None
        else [
            ActionSpec(
                name="cancel_order",
                description="Cancel an order that has not shipped",
                entity="orders",
                field="status",
                value="cancelled",
                allowed_from=["pending", "paid"],
            )
        ],
    )


def bike_seed() -> SeedData:
    return SeedData(
        rows={
            "customers": [
                {"name": "Ada Lovelace", "email": "ada@example.com", "vip": True},
                {"name": "Alan Turing", "email": "alan@example.com", "vip": False},
                {"name": "Grace Hopper", "email": "grace@example.com", "vip": False},
            ],
            "orders": [
                {"customer_id": 1, "status": "pending", "total": 120.5, "placed_on": "2026-01-02"},
                {"customer_id": 2, "status": "shipped", "total": 80.0, "placed_on": "2026-01-03"},
                {"customer_id": 1, "status": "paid", "total": 15.0, "placed_on": "2026-01-04"},
            ],
            "repairs": [{"order_id": 1, "kind": "flat"}, {"order_id": 2, "kind": "tune_up"}],
        }
    )


def generate(
    root: Path,
    domain: DomainSpec | None = None,
    seed: SeedData | None = None,
    custom: list[CustomTool] | None = None,
) -> Path:
    """Write the environment and a one-agent framework using all of its tools."""
    domain = domain or bike_shop()
    plans = plan_tools(domain)
    plans += [custom_plan(t) for t in custom or []]
    files = write_environment(domain, seed or bike_seed(), plans, root, custom=custom or [])
    (root / "framework.yaml").write_text(
        f"name: {domain.name}\nentry_agent: agents/desk.yaml\n"
        f"environment: {{seed: {files.database}, tools: {files.tools_module}}}\n"
    )
    (root / "agents").mkdir()
    (root / "agents" / "desk.yaml").write_text(
        'name: desk\ndescription: The desk.\nsystem_prompt: You help.\ntools:\n  - env: "*"\n'
    )
    return root


class Run:
    """One run of an environment, calling its tools through the executor."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.resources = RunResources(RunInfo("r1", Path("/nonexistent")))
        self.ctx = ToolContext(Path("/nonexistent"), run_id="r1", resources=self.resources)

    async def ok(self, tool: str, **arguments: Any) -> Any:
        outcome = await execute_tool(self.env.tool(tool), arguments, self.ctx)
        assert not outcome.is_error, outcome.content
        return json.loads(outcome.content)

    async def error(self, tool: str, **arguments: Any) -> str:
        outcome = await execute_tool(self.env.tool(tool), arguments, self.ctx)
        assert outcome.is_error, outcome.content
        return outcome.content


async def pytest_in_sandbox(framework: Path) -> SubprocessResult:
    """The generated tests, run as the ladder runs them: in a sandboxed copy."""
    workspace = make_run_workspace(prefix="nexforge-envgen-test-")
    try:
        shutil.copytree(framework, workspace, dirs_exist_ok=True)
        (workspace / "tmp").mkdir()
        for path in workspace.rglob("*"):
            give_to_workspace_owner(workspace, path)
        return await run_subprocess(
            PYTEST,
            cwd=workspace,
            timeout_s=120,
            max_output_chars=10_000,
            env={"PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(workspace / "tmp")},
        )
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
