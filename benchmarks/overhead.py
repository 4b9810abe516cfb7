"""The runtime's own cost: per step with ScriptedModel, per episode over HTTP, and
how many concurrent runs one process sustains against a 200 ms server.

    .venv/bin/python benchmarks/overhead.py            # full run (~1 minute)
    .venv/bin/python benchmarks/overhead.py --quick    # smaller counts

One episode = 2 model calls + 1 tool call (call a tool, then answer). The client is
pinned to one core; the mock server runs in its own process on the other core, so its
CPU does not count against the runtime. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from nexforge.models.base import ModelRequest
from nexforge.models.settings import ModelSettings
from nexforge.runtime import Agent, Limits
from nexforge.testing import MockOpenAIServer, MockReply, ScriptedModel, call, say
from nexforge.tools import tool_from_function


def lookup(key: str) -> str:
    """Look a key up.

    Args:
        key: The key.
    """
    return f"value-of-{key}"


def episode_responder(request: dict[str, Any]) -> MockReply:
    if request["messages"][-1]["role"] == "user":
        return MockReply(tool_calls=[{"name": "lookup", "arguments": {"key": "k"}}])
    return MockReply(content="done")


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def scripted_steps(runs: int, steps: int) -> float:
    """µs per step (one model call + one tool call), ScriptedModel, runs of `steps` steps."""

    def respond(request: ModelRequest) -> Any:
        tool_results = sum(1 for m in request.messages if m.role == "tool")
        return call("lookup", key="k") if tool_results < steps else say("done")

    agent = Agent(
        name="bench",
        tools=[tool_from_function(lookup)],
        model=ScriptedModel(respond),
        limits=Limits(max_steps=steps + 1),
    )
    workspace = Path.cwd()
    await agent.arun("warm", workspace=workspace)
    start = time.perf_counter()
    for _ in range(runs):
        await agent.arun("go", workspace=workspace)
    return (time.perf_counter() - start) / (runs * steps) * 1e6


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(latency)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


async def http_batch(url: str, concurrency: int) -> float:
    agent = Agent(
        name="bench",
        tools=[tool_from_function(lookup)],
        model=ModelSettings(base_url=url, model="mock-model", timeout_s=600, max_retries=0),
    )
    workspace = Path.cwd()
    start = time.perf_counter()
    results = await asyncio.gather(
        *(agent.arun("go", workspace=workspace) for _ in range(concurrency))
    )
    wall = time.perf_counter() - start
    bad = [r.stop_reason for r in results if r.stop_reason != "completed"]
    if bad:
        raise SystemExit(f"{len(bad)} runs did not complete: {set(bad)}")
    return wall


async def http_sequential(url: str, episodes: int) -> float:
    """ms per episode over HTTP at 0 ms server latency, one at a time, one shared model."""
    from nexforge.models.openai import Endpoint, OpenAIChatModel

    model = OpenAIChatModel([Endpoint(base_url=url, model="mock-model")])
    agent = Agent(name="bench", tools=[tool_from_function(lookup)], model=model)
    workspace = Path.cwd()
    await agent.arun("warm", workspace=workspace)
    start = time.perf_counter()
    for _ in range(episodes):
        await agent.arun("go", workspace=workspace)
    elapsed = time.perf_counter() - start
    await model.aclose()
    return elapsed / episodes * 1e3


def serve(latency: float) -> None:
    os.sched_setaffinity(0, {1 % os.cpu_count()})  # type: ignore[operator]

    async def run() -> None:
        async with MockOpenAIServer(
            responder=episode_responder, latency_s=latency, record_requests=False
        ) as server:
            print(server.url, flush=True)
            await asyncio.Event().wait()

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    os.sched_setaffinity(0, {0})
    quick = args.quick
    print(f"python {sys.version.split()[0]}, client pinned to 1 core, server in its own process")

    per_step = asyncio.run(scripted_steps(runs=50 if quick else 200, steps=10))
    print(f"ScriptedModel: {per_step:.1f} µs per step (1 model call + 1 tool call)")

    proc, url = start_server(0.0)
    try:
        per_episode = asyncio.run(http_sequential(url, 200 if quick else 1000))
        print(f"HTTP, 0 ms server: {per_episode:.3f} ms per episode (2 model calls + 1 tool call)")
    finally:
        proc.kill()

    latency = 0.2
    ideal = 2 * latency
    proc, url = start_server(latency)
    try:
        for n in (1, 100, 500) if quick else (1, 100, 500, 1000, 1000):
            gc.collect()
            wall = asyncio.run(http_batch(url, n))
            print(
                f"HTTP, 200 ms server, {n:>4} concurrent: wall {wall:.2f} s, "
                f"{wall / ideal:.2f}x ideal ({ideal:.1f} s), peak RSS {rss_mib():.0f} MiB"
            )
    finally:
        proc.kill()


if __name__ == "__main__":
    main()
