"""``make demo``: run an example hierarchy end to end on the embedded model.

By default the ``stockroom`` example (lead -> clerk -> read_file) runs on the embedded
Qwen2.5-Coder-0.5B model in-process, offline. ``--mock`` instead runs the larger
``codebase_qa`` example over real HTTP against NexForge's mock OpenAI-compatible server,
driven by a small rule-based responder. Either way the runtime, tools and tracing are real.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from nexforge.cli.progress import render_event
from nexforge.core.errors import NexForgeError
from nexforge.core.trajectory import RunResult
from nexforge.models.settings import ModelSettings
from nexforge.runtime.config import load_agent
from nexforge.runtime.conversation import Conversation
from nexforge.runtime.events import RunStopped
from nexforge.testing.mock_server import MockOpenAIServer, MockReply

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MOCK_QUESTION = "Which Python files import sqlite3?"
LOCAL_QUESTION = "How many city bikes are in stock?"
TRAJECTORY_OUT = Path("out") / "demo-trajectory.json"


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


async def _stream(console: Console, conversation: Conversation, question: str) -> RunResult:
    result: RunResult | None = None
    async for event in conversation.stream(question):
        render_event(console, event)
        if isinstance(event, RunStopped):
            result = event.result
    assert result is not None
    return result


async def run_local(console: Console) -> RunResult:
    example = EXAMPLES / "stockroom"
    console.print(
        "[bold]NexForge demo[/bold]: the stockroom example (lead → clerk → read_file) on the\n"
        "embedded model, Qwen2.5-Coder-0.5B-Instruct Q4_K_M, in-process through llama.cpp.\n"
    )
    agent = load_agent(example / "lead.yaml")
    with tempfile.TemporaryDirectory(prefix="nexforge-demo-") as tmp:
        workspace = Path(shutil.copytree(example / "workspace", Path(tmp) / "workspace"))
        console.print(f"task: {LOCAL_QUESTION}\nworkspace: a copy of {example / 'workspace'}\n")
        async with Conversation(
            agent, model=ModelSettings(provider="local", model="tiny"), workspace=workspace
        ) as conversation:
            return await _stream(console, conversation, LOCAL_QUESTION)


async def run_mock(console: Console) -> RunResult:
    example = EXAMPLES / "codebase_qa"
    console.print(
        "[bold]NexForge demo (mock)[/bold]: the codebase Q&A example (lead → investigator →\n"
        "reader) over real HTTP on 127.0.0.1 with a bearer token, against NexForge's mock\n"
        "OpenAI-compatible server driven by a rule-based responder.\n"
    )
    token = secrets.token_urlsafe(16)
    agent = load_agent(example / "lead.yaml")
    async with MockOpenAIServer(responder=demo_responder, api_key=token) as server:
        model = ModelSettings(base_url=server.url, model=server.model, api_key=token)
        console.print(f"task: {MOCK_QUESTION}\nworkspace: {example / 'sample_repo'}\n")
        async with Conversation(
            agent, model=model, workspace=example / "sample_repo"
        ) as conversation:
            return await _stream(console, conversation, MOCK_QUESTION)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if not EXAMPLES.is_dir():
        console.print("the demo runs from a source checkout of NexForge (examples/ is missing)")
        return 2
    try:
        result = asyncio.run(run_mock(console) if "--mock" in args else run_local(console))
    except NexForgeError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 1
    TRAJECTORY_OUT.parent.mkdir(parents=True, exist_ok=True)
    TRAJECTORY_OUT.write_text(result.trajectory.model_dump_json(indent=2), encoding="utf-8")
    console.print("\n[bold]final answer[/bold]:")
    sys.stdout.write((result.final_output or "") + "\n")
    episodes = ", ".join(
        f"{e.agent} ({len(e.messages)} messages)" for e in result.trajectory.episodes
    )
    console.print(
        f"\n{result.stop_reason} · {len(result.trajectory.episodes)} episodes: {episodes}\n"
        f"trajectory written to {TRAJECTORY_OUT.resolve()}"
    )
    return 0 if result.stop_reason == "completed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
