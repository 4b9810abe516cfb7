"""The shipped examples load and run end to end with ScriptedModel and real tools."""

from __future__ import annotations

import shutil
from pathlib import Path

from nexforge.runtime.config import load_agent
from nexforge.testing import ScriptedModel, call, say

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
