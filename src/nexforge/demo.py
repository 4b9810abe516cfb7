"""``make demo``: run the codebase Q&A example hierarchy end to end over HTTP.

Until the embedded model lands, the model is NexForge's mock OpenAI-compatible server
driven by a small rule-based responder (it delegates, searches, reads, summarises). The
runtime, the HTTP provider, the tools and tracing are all real.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from nexforge.cli.progress import render_event
from nexforge.models.settings import ModelSettings
from nexforge.runtime.config import load_agent
from nexforge.runtime.conversation import Conversation
from nexforge.runtime.events import RunStopped
from nexforge.testing.mock_server import MockOpenAIServer, MockReply

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "codebase_qa"
QUESTION = "Which Python files import sqlite3?"


def _is_sub_agent(tool: dict[str, Any]) -> bool:
    return list(tool["function"]["parameters"].get("properties", {})) == ["task"]


def subs_of(tools: dict[str, dict[str, Any]]) -> list[str]:
    return [name for name, tool in tools.items() if _is_sub_agent(tool)]


def demo_responder(request: dict[str, Any]) -> MockReply:
    """Rule-based stand-in for a model: enough to walk the example's hierarchy."""
    messages: list[dict[str, Any]] = request["messages"]
    tools = {t["function"]["name"]: t for t in request.get("tools", [])}
    task = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    last = messages[-1]
    if last["role"] == "user":
        subs = [name for name in subs_of(tools) if name != "reader"]
        if subs:
            return MockReply(tool_calls=[{"name": subs[0], "arguments": {"task": task}}])
        if "search_files" in tools:
            found = re.search(r"import (\w+)", task)
            pattern = f"import {found.group(1)}" if found else task.split()[-1]
            return MockReply(
                tool_calls=[{"name": "search_files", "arguments": {"pattern": pattern}}]
            )
        path = re.search(r"[\w./-]+\.py", task)
        if "read_file" in tools and path:
            return MockReply(
                tool_calls=[{"name": "read_file", "arguments": {"path": path.group(0)}}]
            )
    if last["role"] == "tool":
        names = {
            c["id"]: c["function"]["name"]
            for m in messages
            if m["role"] == "assistant"
            for c in m.get("tool_calls") or []
        }
        called = {names.get(m["tool_call_id"]) for m in messages if m["role"] == "tool"}
        paths = sorted(set(re.findall(r"([\w./-]+\.py):\d+", last["content"] or "")))
        if "search_files" in called and "reader" in tools and "reader" not in called and paths:
            ask = f"Read {paths[0]} and quote the lines that matter for: {task}"
            return MockReply(tool_calls=[{"name": "reader", "arguments": {"task": ask}}])
        results = [m["content"] for m in messages if m["role"] == "tool"]
        if len(results) == 1 and last["role"] == "tool" and called <= {*subs_of(tools)}:
            return MockReply(content=results[0])
        return MockReply(content="Findings:\n" + "\n\n".join(results))
    return MockReply(content=f"(mock model) I cannot help with: {task}")


async def main() -> int:
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(
        "[bold]NexForge demo[/bold]: the codebase Q&A example (lead → investigator → reader)\n"
        "Model: NexForge's mock OpenAI-compatible server with a rule-based responder, over\n"
        "real HTTP on 127.0.0.1 with a bearer token. (The embedded local model is a separate\n"
        "issue; point NEXFORGE_BASE_URL/NEXFORGE_MODEL at any endpoint to use a real one.)\n"
    )
    token = secrets.token_urlsafe(16)
    agent = load_agent(EXAMPLE / "lead.yaml")
    async with MockOpenAIServer(responder=demo_responder, api_key=token) as server:
        model = ModelSettings(
            provider="openai", base_url=server.url, model=server.model, api_key=token
        )
        console.print(f"task: {QUESTION}\nworkspace: {EXAMPLE / 'sample_repo'}\n")
        async with Conversation(
            agent, model=model, workspace=EXAMPLE / "sample_repo"
        ) as conversation:
            async for event in conversation.stream(QUESTION):
                render_event(console, event)
                if isinstance(event, RunStopped):
                    result = event.result
    console.print("\n[bold]final answer[/bold]:")
    sys.stdout.write((result.final_output or "") + "\n")
    episodes = ", ".join(f"{e.agent}({len(e.messages)} msgs)" for e in result.trajectory.episodes)
    console.print(f"\ntrajectory: {len(result.trajectory.spans)} spans; episodes: {episodes}")
    return 0 if result.stop_reason == "completed" else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
