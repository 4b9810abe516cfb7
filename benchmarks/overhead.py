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
import json
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


async def lookup_async(key: str) -> str:
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


async def scripted_steps(runs: int, steps: int, *, sync_tool: bool = False) -> float:
    """µs per step (one model call + one tool call), ScriptedModel, runs of `steps` steps.

    An ``async def`` tool measures the runtime alone; a sync tool adds the worker-thread
    hop the executor makes so that blocking tools never stall the loop.
    """

    def respond(request: ModelRequest) -> Any:
        tool_results = sum(1 for m in request.messages if m.role == "tool")
        return call("lookup", key="k") if tool_results < steps else say("done")

    tool = tool_from_function(lookup if sync_tool else lookup_async, name="lookup")
    agent = Agent(
        name="bench",
        tools=[tool],
        model=ScriptedModel(respond, record_requests=False),
        limits=Limits(max_steps=steps + 1),
    )
    workspace = Path.cwd()
    await agent.arun("warm", workspace=workspace)
    start = time.perf_counter()
    for _ in range(runs):
        await agent.arun("go", workspace=workspace)
    return (time.perf_counter() - start) / (runs * steps) * 1e6


def start_server(latency: float, minimal: bool = False) -> tuple[subprocess.Popen[str], str]:
    kind = ["--minimal"] if minimal else []
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(latency), *kind],
        stdout=subprocess.PIPE,
        text=True,
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


TOOL_CALL_REPLY = json.dumps(
    {
        "id": "x",
        "object": "chat.completion",
        "model": "mock-model",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"key": "k"}'},
                        }
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 5},
    }
).encode()
FINAL_REPLY = json.dumps(
    {
        "id": "x",
        "object": "chat.completion",
        "model": "mock-model",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "done"},
            }
        ],
        "usage": {"prompt_tokens": 30, "completion_tokens": 1},
    }
).encode()


class MinimalEndpoint(asyncio.Protocol):
    """A bare HTTP/1.1 keep-alive chat endpoint (~tens of µs per request), so that the
    server is not what a concurrency measurement measures. Same replies as the mock."""

    latency = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower() + b"\r\n"
            start = head.find(b"content-length:")
            length = int(head[start + 15 : head.find(b"\r\n", start)]) if start >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            answered = b'"role": "tool"' in body or b'"role":"tool"' in body
            reply = FINAL_REPLY if answered else TOOL_CALL_REPLY
            response = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(reply)).encode() + b"\r\n\r\n" + reply
            )
            asyncio.get_running_loop().call_later(self.latency, self._send, response)

    def _send(self, response: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(response)


async def raw_aiohttp_batch(url: str, concurrency: int) -> float:
    """The floor: the same two POSTs per episode with bare aiohttp and no runtime."""
    import aiohttp

    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    first = {"model": "m", "messages": [{"role": "user", "content": "go"}], "tools": [tool]}
    second = {**first, "messages": [*first["messages"], {"role": "tool", "content": "v"}]}

    async def episode(session: aiohttp.ClientSession) -> None:
        for body in (first, second):
            async with session.post(f"{url}/chat/completions", json=body) as response:
                await response.json()

    connector = aiohttp.TCPConnector(limit=1000)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(episode(session) for _ in range(concurrency)))
        return time.perf_counter() - start


def serve(latency: float, minimal: bool) -> None:
    os.sched_setaffinity(0, {1 % os.cpu_count()})  # type: ignore[operator]

    async def run_minimal() -> None:
        MinimalEndpoint.latency = latency
        server = await asyncio.get_running_loop().create_server(
            MinimalEndpoint, "127.0.0.1", 0, backlog=4096
        )
        port = server.sockets[0].getsockname()[1]
        print(f"http://127.0.0.1:{port}/v1", flush=True)
        await asyncio.Event().wait()

    async def run() -> None:
        async with MockOpenAIServer(
            responder=episode_responder, latency_s=latency, record_requests=False
        ) as server:
            print(server.url, flush=True)
            await asyncio.Event().wait()

    asyncio.run(run_minimal() if minimal else run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--minimal", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.minimal)
        return
    os.sched_setaffinity(0, {0})
    quick = args.quick
    print(f"python {sys.version.split()[0]}, client pinned to 1 core, server in its own process")

    runs = 50 if quick else 300
    per_step = asyncio.run(scripted_steps(runs=runs, steps=10))
    print(f"ScriptedModel: {per_step:.1f} µs per step (1 model call + 1 async tool call)")
    per_step = asyncio.run(scripted_steps(runs=runs, steps=10, sync_tool=True))
    print(f"ScriptedModel: {per_step:.1f} µs per step (1 model call + 1 sync tool, thread hop)")

    proc, url = start_server(0.0)
    try:
        per_episode = asyncio.run(http_sequential(url, 200 if quick else 1000))
        print(f"HTTP, 0 ms server: {per_episode:.3f} ms per episode (2 model calls + 1 tool call)")
    finally:
        proc.kill()

    latency = 0.2
    ideal = 2 * latency
    sizes = (1, 100, 500) if quick else (1, 100, 500, 1000, 1000)
    for minimal, label in ((False, "MockOpenAIServer"), (True, "minimal endpoint")):
        proc, url = start_server(latency, minimal)
        try:
            for n in sizes:
                gc.collect()
                floor = asyncio.run(raw_aiohttp_batch(url, n))
                wall = asyncio.run(http_batch(url, n))
                print(
                    f"{label}, 200 ms, {n:>4} concurrent: wall {wall:.2f} s = "
                    f"{wall / ideal:.2f}x ideal (raw aiohttp alone {floor / ideal:.2f}x), "
                    f"peak RSS {rss_mib():.0f} MiB"
                )
        finally:
            proc.kill()


if __name__ == "__main__":
    main()
