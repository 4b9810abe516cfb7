"""The architect's staged build, driven by a scripted model (no real model)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from scripted_architect import ORDER_COUNT, ROLE, Filler, architect_model, stage_answer

from nexforge.architect.ask import StageFailed
from nexforge.architect.build import BuildOptions, build
from nexforge.architect.framework_files import read_framework_files
from nexforge.architect.prompts import EXAMPLE_HABITS
from nexforge.architect.spec import ARCHETYPES
from nexforge.architect.store import BuildConflict
from nexforge.core.errors import ModelHTTPError
from nexforge.models.base import ModelRequest
from nexforge.runtime.config.framework import load_framework

DESCRIPTION = "A support desk for a bike shop: orders and repairs"


def options(out: Path, **kw: Any) -> BuildOptions:
    return BuildOptions(description=DESCRIPTION, out=out, **kw)


async def test_build_writes_a_framework_that_passes_every_rung(tmp_path: Path) -> None:
    model = architect_model()
    [result] = await build(options(tmp_path / "fw"), model)

    assert result.check.passed, [r.reason for r in result.check.rungs]
    assert [r.name for r in result.check.rungs] == [
        "schema",
        "load",
        "tool_tests",
        "smoke",
        "quality",
        "probe",
    ]
    fw = tmp_path / "fw"
    for part in (
        "framework.yaml",
        "agents",
        "prompts",
        "tools",
        "data",
        "kit/personas.jsonl",
        "kit/problem_types.json",
        "kit/probe_queries.jsonl",
        "report.json",
    ):
        assert (fw / part).exists(), part
    loaded = load_framework(fw)
    assert loaded.domain == DESCRIPTION
    assert loaded.workflow is not None and loaded.workflow.archetype == result.archetype
    assert loaded.environment is not None
    tools = {t.name for t in loaded.environment.tools}
    assert {"get_order", "list_orders", "create_customer", "cancel_order"} <= tools

    report = json.loads((fw / "report.json").read_text())
    assert report["passed"] is True and report["reached"] == "probe"
    assert report["model_calls"] == model_calls(model)
    assert report["structure"]["entities"] == 4  # customers, bikes, orders, repairs
    assert report["structure"]["problem_types"]["depth"] >= 3
    assert set(report["stages"]) >= {"domain", "seed", "kit", "v1/prompts"}
    assert set(report["stage_seconds"]) >= {"domain", "seed", "kit", "v1/hierarchy"}


def model_calls(model: Any) -> int:
    return sum(1 for r in model.requests if (r.agent or "").startswith("architect."))


async def test_prompts_carry_structure_the_model_did_not_write(tmp_path: Path) -> None:
    [result] = await build(options(tmp_path / "fw", probe=False), architect_model())
    loaded = load_framework(result.path)
    entry = loaded.entry
    prompt = (result.path / "prompts" / f"{entry.name}.md").read_text()
    assert "Cancel an order only when its status is pending or paid." in prompt  # the policy
    assert "## Output" in prompt
    for child in entry.sub_agents:
        assert f"`{child.name}`" in prompt  # delegation rules name the team


async def test_variants_are_structurally_different(tmp_path: Path) -> None:
    results = await build(options(tmp_path / "fw", variants=5, probe=False), architect_model())

    assert [r.path.name for r in results] == ["v1", "v2", "v3", "v4", "v5"]
    assert sorted(r.archetype for r in results) == sorted(ARCHETYPES)
    assert all(r.check.passed for r in results), [r.check.rungs for r in results]
    shapes = {(r.report["structure"]["agents"], r.report["structure"]["depth"]) for r in results}
    assert len(shapes) >= 4
    # The domain, seed and kit were made once and shared.
    assert sum(1 for r in results for s in r.report["resumed"]) == 0


async def test_a_useless_columns_answer_costs_only_the_columns(tmp_path: Path) -> None:
    only_ids = {"fields": [{"name": "warehouse_id", "type": "integer", "example": "3"}] * 2}
    model = architect_model({"fields": [only_ids]})
    [result] = await build(options(tmp_path / "fw", probe=False), model)

    usage = result.report["stages"]["domain"]
    assert usage["model_calls"] == 4 and usage["repairs"] == []  # one question per entity
    assert any(
        "'warehouse_id' (ids and links come from the references)" in f for f in usage["fixes"]
    )
    assert result.check.passed


async def test_a_malformed_stage_answer_is_repaired(tmp_path: Path) -> None:
    model = architect_model({"rows": [{"rows": "not rows"}]})
    [result] = await build(options(tmp_path / "fw", probe=False), model)

    [repair] = result.report["stages"]["seed"]["repairs"]
    assert "rows" in repair
    # The model saw why: the second request carries the rejection as the tool's error.
    asked = [r for r in model.requests if r.agent == "architect.rows"]
    again = next(r for r in asked if r.messages[-1].role == "tool")
    assert again.messages[-1].is_error
    assert result.check.passed


async def test_placeholder_rows_go_back_with_the_quality_rungs_reasons(tmp_path: Path) -> None:
    numbered = {"rows": [{"problem": f"Problem {n}", "notes": "ok"} for n in range(1, 7)]}
    asked: list[str] = []

    def repairs_numbered_once(request: ModelRequest) -> Any:
        prompt = request.messages[-1].content or ""
        if "Table repairs" in prompt and not asked:
            asked.append(prompt)
            return numbered
        return stage_answer("rows", request.tools[0].parameters, prompt, Filler())

    model = architect_model({"rows": repairs_numbered_once})
    [result] = await build(options(tmp_path / "fw", probe=False), model)

    [repair] = result.report["stages"]["seed"]["repairs"]
    assert "'Problem 1', a numbered placeholder" in repair and "every row is 'ok'" in repair
    assert result.check.passed


async def test_a_prompt_about_the_prompt_is_repaired_or_replaced(tmp_path: Path) -> None:
    habits = ["The prompt should be clear.", "Submit the prompt when done."]
    meta = {"role": "Submit the prompt.", "habits": habits}
    model = architect_model({"prompt": [meta] * 3 + [{**ROLE, "habits": meta["habits"]}]})
    [result] = await build(options(tmp_path / "fw", probe=False), model)

    usage = result.report["stages"]["v1/prompts"]
    assert any("talks about 'submit the prompt'" in r for r in usage["repairs"])
    assert any("role written from the structure" in f for f in usage["fixes"])
    assert any("dropped 2 habit(s)" in f for f in usage["fixes"])
    for prompt in (result.path / "prompts").glob("*.md"):
        assert "prompt" not in prompt.read_text().lower()
    assert result.check.passed


async def test_habits_copied_from_the_worked_example_are_dropped(tmp_path: Path) -> None:
    copied = [
        "Confirm the bike's model and the customer's name before you close a bike.",
        EXAMPLE_HABITS[1],
    ]
    model = architect_model({"prompt": [{**ROLE, "habits": copied}] * 8})
    [result] = await build(options(tmp_path / "fw", probe=False), model)

    fixes = result.report["stages"]["v1/prompts"]["fixes"]
    assert any("dropped 2 habit(s)" in f for f in fixes)
    for prompt in (result.path / "prompts").glob("*.md"):
        text = prompt.read_text()
        assert "daily rate" not in text and "close a bike" not in text


async def test_an_agent_that_can_search_is_told_to_find_named_records_first(
    tmp_path: Path,
) -> None:
    [result] = await build(options(tmp_path / "fw", probe=False), architect_model())

    searchers = 0
    for agent in (result.path / "agents").glob("*.yaml"):
        config = agent.read_text()
        prompt = (result.path / "prompts" / f"{agent.stem}.md").read_text()
        for search in re.findall(r"env: (search_\w+)", config):
            searchers += 1
            assert f"find it with `{search}` first" in prompt
    assert searchers >= 1
    entry = load_framework(result.path).entry
    assert not entry.sees_request and entry.sub_agents
    assert all(a.sees_request for a in entry.sub_agents)  # the user's message reaches them


async def test_an_unrepairable_stage_fails_with_its_reasons(tmp_path: Path) -> None:
    model = architect_model({"rows": {"rows": []}})
    with pytest.raises(StageFailed) as caught:
        await build(options(tmp_path / "fw", max_repairs=1), model)
    assert caught.value.stage == "rows"
    assert "rows" in caught.value.problems[0]


async def test_text_answers_are_parsed_and_link_columns_dropped(tmp_path: Path) -> None:
    columns = [
        {"name": "warehouse_id", "type": "integer", "example": "2"},
        {"name": "colour", "type": "text", "example": "teal"},
        {"name": "weight_kg", "type": "real", "example": "11.2"},
    ]
    text = "```json\n" + json.dumps({"fields": columns}) + "\n```"
    model = architect_model({"fields": [text]})
    [result] = await build(options(tmp_path / "fw", probe=False), model)
    fixes = result.report["stages"]["domain"]["fixes"]
    assert any("'warehouse_id'" in f for f in fixes)
    assert result.check.passed


async def test_a_failed_build_resumes_from_its_last_good_stage(tmp_path: Path) -> None:
    out = tmp_path / "fw"
    broken = architect_model({"personas": ModelHTTPError(503, "endpoint down")})
    with pytest.raises(ModelHTTPError):
        await build(options(out, probe=False), broken)
    assert (out / ".build" / "domain.json").is_file() and (out / ".build" / "seed.json").is_file()

    again = architect_model({"fields": RuntimeError("the domain must not be asked again")})
    [result] = await build(options(out, probe=False), again)
    assert result.check.passed
    assert {"domain", "seed"} <= set(result.report["resumed"])
    asked = {r.agent for r in again.requests}
    assert "architect.fields" not in asked and "architect.personas" in asked


async def test_a_folder_holding_another_build_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "fw"
    await build(options(out, probe=False), architect_model())
    other = BuildOptions(description="A library's loans desk", out=out, probe=False)
    with pytest.raises(BuildConflict, match="different description"):
        await build(other, architect_model())


async def test_a_model_written_tool_ships_only_when_its_tests_pass_in_the_sandbox(
    tmp_path: Path,
) -> None:
    wrong = {**ORDER_COUNT, "tests": [{"arguments": {}, "expected": 4}]}
    model = architect_model({"custom_tool": [wrong, ORDER_COUNT]})
    [result] = await build(options(tmp_path / "fw", probe=False), model)

    assert result.report["custom_tools"] == {"accepted": ["order_count"], "rejected": []}
    [repair] = result.report["stages"]["custom_tools"]["repairs"]
    assert "returned 6, expected 4" in repair
    env = load_framework(result.path).environment
    assert env is not None and "order_count" in {t.name for t in env.tools}
    assert (result.path / "tools" / "custom_order_count.py").is_file()
    assert result.check.passed  # its generated test ran in the sandbox with the others


async def test_a_model_written_tool_that_keeps_failing_is_rejected(tmp_path: Path) -> None:
    crashing = {**ORDER_COUNT, "code": "def compute(rows, **arguments):\n    return 1 / 0\n"}
    model = architect_model({"custom_tool": [crashing] * 3})
    [result] = await build(options(tmp_path / "fw", probe=False), model)

    [rejected] = result.report["custom_tools"]["rejected"]
    assert rejected["name"] == "order_count" and "ZeroDivisionError" in rejected["reason"]
    env = load_framework(result.path).environment
    assert env is not None and "order_count" not in {t.name for t in env.tools}
    assert not (result.path / "tools" / "custom_order_count.py").exists()
    assert result.check.passed


async def test_a_column_the_model_cannot_fill_is_dropped_after_the_repairs(
    tmp_path: Path,
) -> None:
    same_notes = {
        "rows": [{"problem": p, "notes": "ok"} for p in ("Flat tyre", "Loose chain", "Bent rim",
                                                       "Worn pads", "Creaky crank", "Stiff gears")]
    }  # fmt: skip

    def repairs_with_one_note(request: ModelRequest) -> Any:
        prompt = request.messages[1].content or ""  # the question (a repair adds turns)
        if "Table repairs" in prompt:
            return same_notes
        return stage_answer("rows", request.tools[0].parameters, prompt, Filler())

    model = architect_model({"rows": repairs_with_one_note})
    [result] = await build(options(tmp_path / "fw", probe=False), model)

    fixes = result.report["stages"]["seed"]["fixes"]
    assert any("repairs: dropped column 'notes'" in f for f in fixes)
    env = load_framework(result.path).environment
    assert env is not None and env.seed.database is not None
    assert "notes" not in env.tool("create_repair").spec.parameters["properties"]
    assert result.check.passed


async def test_the_staffs_own_work_is_asked_for_by_staff(tmp_path: Path) -> None:
    [result] = await build(options(tmp_path / "fw", probe=False), architect_model())
    files = read_framework_files(result.path)
    assert files.problem_types is not None
    leaves = files.problem_types.leaves()
    user_types = {p.user_type for p in files.personas}

    catalog = [leaf for leaf in leaves if "update_bike" in leaf.tools]
    people = [leaf for leaf in leaves if leaf.tools == ["get_customer"]]
    assert catalog and people
    staff = catalog[0].asked_by
    assert staff and set(staff) < user_types  # some user types, not all
    assert all(leaf.asked_by == staff for leaf in [*catalog, *people])
    assert any(not leaf.asked_by for leaf in leaves)  # the people served ask for the rest
