"""Rollout throughput and memory: the local engine vs the Ray engine against a 200 ms server.

    .venv/bin/python benchmarks/rollout.py             # 1, 64, 512 in flight, both engines
    .venv/bin/python benchmarks/rollout.py --quick     # fewer rollouts per row
    .venv/bin/python benchmarks/rollout.py --engines local --sizes 512 --profile out.prof

One rollout = 4 model calls + 3 tool calls: a one-tool agent (written to a temporary
folder) whose model calls its tool three times, then answers. The model is
``MockOpenAIServer`` in its own process with 200 ms latency per call, so the ideal rate
is ``in_flight / (4 * 0.2 s)``. Every row runs in a fresh process (a fresh Ray instance
for the Ray rows, started before the clock starts), so peak RSS is that row's own; the
rate covers the whole ``run_local`` / ``run_ray`` call: planning, actor start-up,
rollouts and the store writes. Nothing is pinned: server, driver and Ray share the cores.
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from nexforge.testing import MockOpenAIServer, MockReply

LATENCY_S = 0.2
CALLS_PER_ROLLOUT = 4

AGENT_YAML = """\
name: bench
description: Looks a key up three times, then answers.
system_prompt: Look the key up, then answer.
tools:
  - python: benchtools:lookup
limits: {max_steps: 6}
"""

TOOLS_PY = '''\
async def lookup(key: str) -> str:
    """Look a key up.

    Args:
        key: The key.
    """
    return f"value-of-{key}"
'''


def responder(body: dict[str, Any]) -> MockReply:
    """Three lookups, then an answer: four model calls per rollout."""
    done = sum(1 for m in body["messages"] if m["role"] == "tool")
    if done < CALLS_PER_ROLLOUT - 1:
        return MockReply(tool_calls=[{"name": "lookup", "arguments": {"key": f"k{done}"}}])
    return MockReply(content="done")


def serve() -> None:
    async def run() -> None:
        async with MockOpenAIServer(
            responder=responder, latency_s=LATENCY_S, record_requests=False
        ) as server:
            print(server.url, flush=True)
            await asyncio.Event().wait()

    asyncio.run(run())


def write_framework(folder: Path) -> Path:
    agent = folder / "bench.yaml"
    agent.write_text(AGENT_YAML)
    (folder / "benchtools.py").write_text(TOOLS_PY)
    return agent


# --- one row, in its own process -------------------------------------------------------------


def rss_kib(pid: int | str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def ray_processes() -> dict[str, list[str]]:
    """Pids of Ray's processes on this machine: rollout actors and the rest of Ray."""
    found: dict[str, list[str]] = {"actors": [], "ray": []}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"RolloutWorker" in cmdline:
            found["actors"].append(proc.name)
        elif cmdline.startswith(b"ray::") or b"/site-packages/ray/" in cmdline:
            found["ray"].append(proc.name)
    return found


class RaySampler:
    """Peak summed RSS of Ray's processes, sampled from /proc (shared pages count twice)."""

    def __init__(self, period_s: float = 0.25) -> None:
        self.peak = {"actors": 0, "ray": 0}
        self._period = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._period):
            for kind, pids in ray_processes().items():
                self.peak[kind] = max(self.peak[kind], sum(rss_kib(p) for p in pids))

    def __enter__(self) -> RaySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def one_row(engine: str, agent: Path, url: str, in_flight: int, count: int) -> dict[str, Any]:
    from nexforge.models.settings import ModelSettings
    from nexforge.runtime.config.framework import load_framework
    from nexforge.synthesis.engine_local import run_local
    from nexforge.synthesis.engine_ray import run_ray
    from nexforge.synthesis.fingerprint import framework_hash
    from nexforge.synthesis.records import QueryRecord
    from nexforge.synthesis.rollout import RolloutContext, RolloutOptions, plan_tasks
    from nexforge.synthesis.store import SynthesisStore

    framework = load_framework(agent)
    fh = framework_hash(framework)
    settings = ModelSettings(base_url=url, model="mock-model", timeout_s=600, max_retries=0)
    options = RolloutOptions(workers=in_flight, timeout_s=600, retries=0)
    ctx = RolloutContext(framework, fh, options, model=settings, engine=engine)
    tasks = plan_tasks([QueryRecord(text=f"question {i}").keyed(fh) for i in range(count)], 1)
    first: list[float] = []

    def on_result(record: object) -> None:
        if not first:
            first.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as scratch, SynthesisStore(Path(scratch) / "s.db") as store:
        if engine == "ray":
            with RaySampler() as sampler:
                start = time.perf_counter()
                summary = await run_ray(tasks, ctx, store, on_result=on_result)
            ray_peak = sampler.peak
        else:
            start = time.perf_counter()
            summary = await run_local(tasks, ctx, store, on_result=on_result)
            ray_peak = {"actors": 0, "ray": 0}
    if summary.done != count:
        raise SystemExit(f"{engine} {in_flight}: {summary.to_dict()}")
    return {
        "rate": summary.rate,
        "first_s": first[0] - start if first else 0.0,
        "seconds": summary.seconds,
        "driver_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "actors_mib": ray_peak["actors"] / 1024,
        "ray_mib": ray_peak["ray"] / 1024,
    }


def row_main(args: argparse.Namespace) -> None:
    if args.engine == "ray":
        import ray

        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
    coroutine = one_row(args.engine, Path(args.agent), args.url, args.in_flight, args.count)
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(asyncio.run, coroutine)
        profiler.dump_stats(args.profile)
    else:
        result = asyncio.run(coroutine)
    print(json.dumps(result), flush=True)


# --- the table -------------------------------------------------------------------------------


def rollouts_for(in_flight: int, quick: bool) -> int:
    return max(8, in_flight * (2 if quick else 8))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--engines", default="local,ray")
    parser.add_argument("--sizes", default="1,64,512")
    parser.add_argument("--profile", default=None, help="cProfile each row's driver to FILE")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--row", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--agent", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--in-flight", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.row:
        row_main(args)
        return

    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"{CALLS_PER_ROLLOUT} model calls x {LATENCY_S * 1000:.0f} ms per rollout"
    )
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    header = (
        f"{'engine':<6} {'in flight':>9} {'rollouts':>8} {'rollouts/s':>10} {'ideal/s':>8} "
        f"{'x ideal':>7} {'1st result s':>12} {'driver MiB':>10} {'actors MiB':>10} "
        f"{'Ray MiB':>8}"
    )
    try:
        with tempfile.TemporaryDirectory() as folder:
            agent = write_framework(Path(folder))
            print(header)
            for size in (int(s) for s in args.sizes.split(",")):
                for engine in args.engines.split(","):
                    count = rollouts_for(size, args.quick)
                    command = [
                        sys.executable, __file__, "--row", "--engine", engine, "--agent",
                        str(agent), "--url", url, "--in-flight", str(size), "--count", str(count),
                    ]  # fmt: skip
                    if args.profile:
                        command += ["--profile", f"{args.profile}.{engine}.{size}"]
                    done = subprocess.run(command, capture_output=True, text=True, check=False)
                    if done.returncode != 0:
                        raise SystemExit(f"{engine} {size} failed:\n{done.stderr[-3000:]}")
                    row = json.loads(done.stdout.strip().splitlines()[-1])
                    ideal = size / (CALLS_PER_ROLLOUT * LATENCY_S)
                    print(
                        f"{engine:<6} {size:>9} {count:>8} {row['rate']:>10.1f} {ideal:>8.1f} "
                        f"{ideal / row['rate']:>6.2f}x {row['first_s']:>12.2f} "
                        f"{row['driver_mib']:>10.0f} {row['actors_mib']:>10.0f} "
                        f"{row['ray_mib']:>8.0f}",
                        flush=True,
                    )
    finally:
        server.kill()


if __name__ == "__main__":
    main()
