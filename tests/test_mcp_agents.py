"""Agents using real MCP servers: per-run isolation, workspaces, a hierarchy of two servers."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

from nexforge.core.trajectory import RunResult
from nexforge.runtime.config import load_agent
from nexforge.testing import ScriptedModel, call, say
from test_mcp_support import close_shared, make_repo, requires, server_pids

__all__ = ["close_shared"]  # the fixture, used by name below

MEMORY = '{command: mcp-server-memory, env: {MEMORY_FILE_PATH: "${workspace}/memory.jsonl"}, scope: per_run, max_concurrent: 2}'


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def tool_results(result: RunResult, agent: str) -> list[str]:
    episode = next(e for e in result.trajectory.episodes if e.agent == agent)
    return [m.content or "" for m in episode.messages if m.role == "tool"]


def entity(name: str) -> dict[str, object]:
    return {"name": name, "entityType": "person", "observations": [f"{name} was here"]}


@requires("mcp-server-memory")
async def test_concurrent_runs_of_a_per_run_server_never_see_each_other(
    tmp_path: Path, close_shared: None
) -> None:
    config = write(
        tmp_path / "keeper.yaml",
        f"""
        name: keeper
        system_prompt: You keep notes.
        mcp_servers:
          memory: {MEMORY}
        tools:
          - mcp: memory
        """,
    )
    agent = load_agent(config)

    def script(name: str) -> ScriptedModel:
        return ScriptedModel(
            [call("create_entities", entities=[entity(name)]), call("read_graph"), say("noted")]
        )

    alice, bob = script("alice"), script("bob")
    with alice, bob:
        results = await asyncio.gather(
            agent.arun("remember alice", model=alice), agent.arun("remember bob", model=bob)
        )

    graphs = [json.loads(tool_results(r, "keeper")[1]) for r in results]
    assert [[e["name"] for e in g["entities"]] for g in graphs] == [["alice"], ["bob"]]
    assert server_pids("mcp-server-memory") == []  # closed with their runs


@requires("mcp-server-git")
async def test_per_run_git_server_works_on_the_runs_own_workspace(tmp_path: Path) -> None:
    make_repo(tmp_path / "seed", "seed repository for listing")
    config = write(
        tmp_path / "historian.yaml",
        """
        name: historian
        system_prompt: You read git history.
        mcp_servers:
          git: {command: mcp-server-git, args: [--repository, .], scope: per_run, list_workspace: seed}
        tools:
          - mcp: git/git_log
        """,
    )
    agent = load_agent(config)
    assert agent.tools[0].spec.read_only
    workspace = make_repo(tmp_path / "run-ws", "the run's own commit")

    model = ScriptedModel([call("git_log", repo_path="."), say("read it")])
    with model:
        result = await agent.arun("what happened?", model=model, workspace=workspace)

    (log,) = tool_results(result, "historian")
    assert "the run's own commit" in log
    assert "seed repository" not in log


@requires("mcp-server-time", "mcp-server-memory")
async def test_a_hierarchy_using_two_servers_at_once(tmp_path: Path, close_shared: None) -> None:
    write(
        tmp_path / "lead.yaml",
        """
        name: lead
        system_prompt: You plan and delegate.
        mcp_servers:
          time: {command: mcp-server-time, scope: shared, timeout_s: 10}
        tools:
          - mcp: time/get_current_time
        sub_agents:
          - config: scribe.yaml
        """,
    )
    write(
        tmp_path / "scribe.yaml",
        f"""
        name: scribe
        description: Writes things down.
        system_prompt: You write things down.
        mcp_servers:
          memory: {MEMORY}
        tools:
          - mcp: memory
        """,
    )
    lead = load_agent(tmp_path / "lead.yaml")
    model = ScriptedModel(
        {
            "lead": [
                call("get_current_time", timezone="Europe/Paris"),
                call("scribe", task="note the meeting time"),
                say("the meeting is noted"),
            ],
            "scribe": [
                call("create_entities", entities=[entity("meeting")]),
                call("search_nodes", query="meeting"),
                say("noted: meeting"),
            ],
        }
    )
    with model:
        result = await lead.arun("note the meeting with the time", model=model)

    assert result.stop_reason == "completed"
    assert result.final_output == "the meeting is noted"
    time_result, scribe_result = tool_results(result, "lead")
    assert json.loads(time_result)["timezone"] == "Europe/Paris"
    assert scribe_result == "noted: meeting"
    created, found = tool_results(result, "scribe")
    assert json.loads(created)[0]["name"] == "meeting"
    assert json.loads(found)["entities"][0]["name"] == "meeting"
    # The per_run memory server closed with the run; the shared time server stays up
    # for later runs until close_shared_servers().
    assert server_pids("mcp-server-memory") == []
    assert len(server_pids("mcp-server-time")) == 1
