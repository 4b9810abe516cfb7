"""Stage 2b: model-written tools, kept only when their tests pass in the sandbox.

The model proposes a read-only computation over one entity's rows (``customtools``):
code defining ``compute(rows, **arguments)`` plus tests with expected results over the
seed rows it is shown. The code is parsed here and run only in the sandbox; a failing
test goes back to the model with what it returned, a bounded number of times, and a tool
that still fails is rejected with its reason (recorded in the report, never shipped).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from nexforge.architect.ask import AskSettings, StageFailed, StageProblems, StageUsage, ask
from nexforge.architect.customtools import (
    custom_tool_schema,
    normalize_custom_tool,
    test_custom_tool,
)
from nexforge.architect.spec import CustomTool, DomainSpec, SeedData
from nexforge.core.errors import ModelResponseError
from nexforge.models.base import Model

MAX_CODE_TOKENS = 512
"""A compute function and its tests fit in this; the 0.5B model, unbounded, once wrote
2,048 tokens of code that the limit then cut (a 90-second answer nobody could use)."""
MAX_ATTEMPTS = 2
"""Tries per tool, each with one repair of its answer: the 0.5B model's tool was rejected in
every measured build, and each try costs up to MAX_CODE_TOKENS."""

CUSTOM_SYSTEM = """You write one extra read-only tool for a system's AI agents: a Python
function `compute(rows, **arguments)` over the rows of one table (a list of dicts with
`id` and the fields shown) that answers a question the users' tasks need and the plain
get/list/search tools cannot: a count, a total, an average, a ranking, a check. Standard
library only, no I/O. Declare its arguments, and write 1-3 tests whose `expected` values
are exactly what compute returns on the rows shown (JSON values). Call submit_custom_tool."""


def custom_prompt(domain: DomainSpec, seed: SeedData, taken: set[str]) -> str:
    tables = "\n".join(
        f"{e.name} ({', '.join(f'{f.name}: {f.type}' for f in e.fields)}):\n"
        + json.dumps([{"id": i, **row} for i, row in enumerate(seed.rows.get(e.name, []), 1)])
        for e in domain.entities
    )
    return (
        f"System: {domain.title}. {domain.purpose}\nTasks: {'; '.join(domain.tasks)}\n"
        f"Existing tools (do not repeat them): {', '.join(sorted(taken))}\n\nTables:\n{tables}"
    )


async def propose_custom_tools(
    model: Model,
    settings: AskSettings,
    domain: DomainSpec,
    seed: SeedData,
    taken: set[str],
    count: int,
    usage: StageUsage,
) -> dict[str, Any]:
    """``{"accepted": [CustomTool...], "rejected": [{"name", "reason"}]}`` (JSON-able)."""
    accepted: list[CustomTool] = []
    rejected: list[dict[str, str]] = []
    for _ in range(count):
        names = taken | {t.name for t in accepted}
        tool, reason = await _one(model, settings, domain, seed, names, usage)
        if tool is not None:
            accepted.append(tool)
        else:
            rejected.append(reason)
    return {"accepted": [t.model_dump(mode="json") for t in accepted], "rejected": rejected}


async def _one(
    model: Model,
    settings: AskSettings,
    domain: DomainSpec,
    seed: SeedData,
    taken: set[str],
    usage: StageUsage,
) -> tuple[CustomTool | None, dict[str, str]]:
    def normalize(raw: dict[str, Any]) -> CustomTool:
        tool, problems = normalize_custom_tool(domain, raw, taken=taken)
        if tool is None:
            raise StageProblems(problems)
        return tool

    feedback = ""
    summary = ""
    name = "?"
    bounded = dataclasses.replace(
        settings,
        max_tokens=min(settings.max_tokens, MAX_CODE_TOKENS),
        max_repairs=min(settings.max_repairs, 1),
    )
    attempts = min(settings.max_repairs + 1, MAX_ATTEMPTS)
    for attempt in range(attempts):
        try:
            tool = await ask(
                model,
                stage="custom_tool",
                system=CUSTOM_SYSTEM,
                prompt=custom_prompt(domain, seed, taken) + feedback,
                schema=custom_tool_schema(domain),
                normalize=normalize,
                settings=bounded,
                usage=usage,
            )
        except StageFailed as exc:
            return None, {"name": name, "reason": str(exc)}
        except ModelResponseError as exc:  # e.g. code cut at the token limit: no tool, no crash
            return None, {"name": name, "reason": f"unusable answer: {exc}"}
        name = tool.name
        passed, summary = await test_custom_tool(domain, seed, tool)
        if passed:
            return tool, {}
        if attempt < attempts - 1:
            usage.repairs.append(f"custom_tool attempt {attempt + 1}: {summary}")
        feedback = (
            f"\n\nYour tool {tool.name} failed its tests in the sandbox: {summary}. "
            "Fix the code or the expected values."
        )
    return None, {"name": name, "reason": summary}
