"""The shipped examples load and run end to end with ScriptedModel and real tools."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nexforge.models.settings import ModelSettings
from nexforge.runtime.config import load_agent
from nexforge.testing import ScriptedModel, call, say
from nexforge.tools import make_run_workspace

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


async def test_codebase_qa_team_finds_sqlite_imports(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "codebase_qa" / "sample_repo", repo)
    agent = load_agent(EXAMPLES / "codebase_qa" / "lead.yaml")
    model = ScriptedModel(
        {
            "lead": [
                call("investigator", task="Which Python files import sqlite3?"),
                say("app/store.py and scripts/report.py import sqlite3."),
            ],
            "investigator": [
                call("search_files", pattern="import sqlite3"),
                call("reader", task="Read app/store.py; what does it use sqlite3 for?"),
                say("app/store.py (order storage) and scripts/report.py"),
            ],
            "reader": [call("read_file", path="app/store.py"), say("It opens the orders DB.")],
        }
    )
    with model:
        result = await agent.arun("Which Python files import sqlite3?", model=model, workspace=repo)

    assert result.stop_reason == "completed"
    episodes = {e.agent: e for e in result.trajectory.episodes}
    assert set(episodes) == {"lead", "investigator", "reader"}
    search_result = episodes["investigator"].messages[3]
    assert search_result.name == "search_files" and not search_result.is_error
    assert "app/store.py" in (search_result.content or "")
    assert "scripts/report.py" in (search_result.content or "")
    read_result = episodes["reader"].messages[3]
    assert "def open_store" in (read_result.content or "")


async def test_data_analyst_queries_the_shipped_database_and_writes_a_report(
    tmp_path: Path,
) -> None:
    agent = load_agent(EXAMPLES / "data_analyst" / "lead.yaml")
    revenue_sql = (
        "SELECT p.category, SUM(p.price * i.quantity) AS revenue FROM order_items i "
        "JOIN products p ON p.id = i.product_id GROUP BY p.category ORDER BY revenue DESC"
    )
    model = ScriptedModel(
        {
            "lead": [
                call("analyst", task="Revenue per product category?"),
                call("reporter", task="Write report.md: bikes lead with 1997.0"),
                say("Bikes lead with 1997.0 in revenue; see report.md."),
            ],
            "analyst": [call("sqlite_query", sql=revenue_sql), say("bikes 1997.0")],
            "reporter": [
                call("write_file", path="report.md", content="# Revenue\nbikes: 1997.0\n"),
                say("report.md"),
            ],
        }
    )
    with model:
        result = await agent.arun(
            "Revenue by category, with a report", model=model, workspace=tmp_path
        )

    assert result.stop_reason == "completed"
    analyst = next(e for e in result.trajectory.episodes if e.agent == "analyst")
    rows = analyst.messages[3].content or ""
    assert "bikes" in rows and "1997" in rows and not analyst.messages[3].is_error
    assert (tmp_path / "report.md").read_text().startswith("# Revenue")


async def test_the_analyst_database_is_read_only(tmp_path: Path) -> None:
    agent = load_agent(EXAMPLES / "data_analyst" / "analyst.yaml")
    model = ScriptedModel([call("sqlite_query", sql="DELETE FROM orders"), say("refused")])
    result = await agent.arun("delete everything", model=model, workspace=tmp_path)
    refusal = result.trajectory.root_episode().messages[3]
    assert refusal.is_error


async def test_stockroom_example_with_scripted_model(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "stockroom" / "workspace", tmp_path, dirs_exist_ok=True)
    agent = load_agent(EXAMPLES / "stockroom" / "lead.yaml")
    model = ScriptedModel(
        {
            "lead": [call("clerk", task="How many city bikes?"), say("There are 12 city bikes.")],
            "clerk": [call("read_file", path="stock.txt"), say("12")],
        }
    )
    with model:
        result = await agent.arun(
            "How many city bikes are in stock?", model=model, workspace=tmp_path
        )
    clerk = next(e for e in result.trajectory.episodes if e.agent == "clerk")
    assert "city bikes: 12" in (clerk.messages[3].content or "")


@pytest.mark.slow
async def test_stockroom_example_on_the_embedded_model(
    tmp_path: Path, tiny_model_path: Path
) -> None:
    """Structure, not wording: the real 0.5B delegates, reads the file, and answers."""
    shutil.copytree(EXAMPLES / "stockroom" / "workspace", tmp_path, dirs_exist_ok=True)
    agent = load_agent(EXAMPLES / "stockroom" / "lead.yaml")
    result = await agent.arun(
        "How many city bikes are in stock?",
        model=ModelSettings(provider="local", model="tiny"),
        workspace=tmp_path,
    )
    assert result.stop_reason == "completed" and result.final_output
    clerk = next(e for e in result.trajectory.episodes if e.agent == "clerk")
    calls = [c for m in clerk.messages for c in m.tool_calls]
    assert calls and calls[0].name == "read_file"
    results = [m for m in clerk.messages if m.role == "tool"]
    assert results and not results[0].is_error and "city bikes" in (results[0].content or "")


async def test_meeting_notes_example_uses_two_real_mcp_servers() -> None:
    from nexforge.tools.mcp import close_shared_servers

    # A run workspace: the per_run server runs as its uid (a root-owned folder given as
    # the workspace would be read-only to it, as to run_shell).
    workspace = make_run_workspace()

    agent = load_agent(EXAMPLES / "meeting_notes" / "lead.yaml")
    entity = {"name": "design review", "entityType": "meeting", "observations": ["15:00 Paris"]}
    model = ScriptedModel(
        {
            "lead": [
                call("get_current_time", timezone="Europe/Paris"),
                call("scribe", task="Record: design review at 15:00 Paris time"),
                say("Noted."),
            ],
            "scribe": [
                call("create_entities", entities=[entity]),
                call("search_nodes", query="design review"),
                say("recorded the design review"),
            ],
        }
    )
    try:
        with model:
            result = await agent.arun("Note the design review", model=model, workspace=workspace)
        written = (workspace / "memory.jsonl").is_file()
    finally:
        await close_shared_servers()
        shutil.rmtree(workspace, ignore_errors=True)
    assert result.stop_reason == "completed"
    lead = result.trajectory.root_episode()
    time_result = next(m for m in lead.messages if m.name == "get_current_time")
    assert not time_result.is_error and "Europe/Paris" in (time_result.content or "")
    scribe = next(e for e in result.trajectory.episodes if e.agent == "scribe")
    found = [m for m in scribe.messages if m.name == "search_nodes"]
    assert found and "design review" in (found[0].content or "")
    assert written  # the per-run server wrote into the workspace
