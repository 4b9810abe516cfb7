"""The local provider's speed next to raw xllamacpp, and throughput under concurrency.

    .venv/bin/python benchmarks/local_model.py                 # the installed tiny model
    .venv/bin/python benchmarks/local_model.py --model PATH    # any GGUF

Same prompt, same settings (n_parallel, per-slot context, threads, temperature 0), the
same loaded server: raw = llama.cpp's blocking call, sampled alternately with LocalModel
(streamed, in a worker thread, behind the slot queue). Prompt speed is timed
on a 1-token completion of a prompt made unique by a nonce (so the prompt cache cannot
answer it); generation speed on a 128-token completion, minus that prompt time. Then
1, 2 and 4 requests at once through LocalModel: completion tokens / wall time. Run on an
idle machine; prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from nexforge.core.messages import Message
from nexforge.models.base import ModelRequest, Sampling
from nexforge.models.local import LocalModel
from nexforge.models.local_engine import _available_cpus

N_PARALLEL = 4
N_CTX = 4096
GEN_TOKENS = 128
REPEATS = 5
SYSTEM = "You are a senior Python engineer. Answer with code only, no explanation. " * 6
TASK = (
    "Write a Python module with a function parse_csv(path) that reads a CSV file, "
    "validates each row and returns a list of dataclass records; include docstrings."
)


def prompt(nonce: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": f"[{nonce}] {SYSTEM}"},
        {"role": "user", "content": TASK},
    ]


Run = Callable[[list[dict[str, str]], int], tuple[int, int]]


def sample(run: Run) -> tuple[float, float]:
    """One (prompt tok/s, generation tok/s); ``run`` returns (prompt, completion) tokens."""
    started = time.perf_counter()
    prompt_tokens, _ = run(prompt(uuid.uuid4().hex), 1)
    prompt_s = time.perf_counter() - started
    started = time.perf_counter()
    _, completion = run(prompt(uuid.uuid4().hex), GEN_TOKENS)
    total_s = time.perf_counter() - started
    return prompt_tokens / prompt_s, (completion - 1) / max(1e-6, total_s - prompt_s)


def compare(model: LocalModel) -> dict[str, tuple[float, float]]:
    """Medians for raw xllamacpp and LocalModel, sampled alternately on ONE loaded server.

    Alternating on the same server keeps load drift and thread-pool state out of the ratio.
    """
    loop = asyncio.new_event_loop()
    loop.run_until_complete(model.load())
    # The benchmark reaches past the wrapper on purpose: "raw" means llama.cpp's own
    # blocking call on the very same server and settings.
    server: Any = model._host.loaded()._server  # type: ignore[union-attr]
    timings: list[dict[str, float]] = []  # llama.cpp's own clock, for reference

    def raw(messages: list[dict[str, str]], max_tokens: int) -> tuple[int, int]:
        body = {"messages": messages, "max_tokens": max_tokens, "temperature": 0.0}
        result: dict[str, Any] = server.handle_chat_completions(body)
        timings.append(result["timings"])
        usage = result["usage"]
        return int(usage["prompt_tokens"]), int(usage["completion_tokens"])

    def ours(messages: list[dict[str, str]], max_tokens: int) -> tuple[int, int]:
        request = ModelRequest(
            messages=[Message.model_validate(m) for m in messages],
            sampling=Sampling(max_tokens=max_tokens),
        )
        usage = loop.run_until_complete(model.complete(request)).usage
        return usage.prompt_tokens, usage.completion_tokens

    samples: dict[str, list[tuple[float, float]]] = {"xllamacpp": [], "LocalModel": []}
    try:
        raw(prompt("warm-up"), 8)
        ours(prompt("warm-up"), 8)
        for _ in range(REPEATS):
            samples["xllamacpp"].append(sample(raw))
            samples["LocalModel"].append(sample(ours))
    finally:
        loop.close()
    rates = {
        side: (statistics.median(p for p, _ in rows), statistics.median(g for _, g in rows))
        for side, rows in samples.items()
    }
    rates["(llama.cpp timings)"] = (
        statistics.median(t["prompt_per_second"] for t in timings if t["prompt_n"] > 8),
        statistics.median(t["predicted_per_second"] for t in timings if t["predicted_n"] > 8),
    )
    return rates


async def concurrent_throughput(model: LocalModel, n: int) -> float:
    requests = [
        ModelRequest(
            messages=[Message.model_validate(m) for m in prompt(uuid.uuid4().hex)],
            sampling=Sampling(max_tokens=GEN_TOKENS),
        )
        for _ in range(n)
    ]
    started = time.perf_counter()
    responses = await asyncio.gather(*(model.complete(r) for r in requests))
    elapsed = time.perf_counter() - started
    return sum(r.usage.completion_tokens for r in responses) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny", help="tiny, small or a GGUF path")
    args = parser.parse_args()
    from nexforge.models.install import resolve_model_file

    path = resolve_model_file(args.model)
    threads = _available_cpus()
    print(f"model {path.name}, {threads} threads, n_parallel {N_PARALLEL}, temperature 0")

    model = LocalModel(
        path, n_ctx=N_CTX, n_parallel=N_PARALLEL, n_threads=threads, temperature=0.0, timeout_s=900
    )
    rates = compare(model)
    (raw_prompt, raw_gen), (ours_prompt, ours_gen) = rates["xllamacpp"], rates["LocalModel"]
    print(f"{'':12} {'prompt tok/s':>13} {'gen tok/s':>10}")
    print(f"{'xllamacpp':12} {raw_prompt:13.1f} {raw_gen:10.1f}")
    print(f"{'LocalModel':12} {ours_prompt:13.1f} {ours_gen:10.1f}")
    internal_prompt, internal_gen = rates["(llama.cpp timings)"]
    print(
        f"{'(internal)':12} {internal_prompt:13.1f} {internal_gen:10.1f}  llama.cpp's own clock, raw side"
    )
    print(f"{'ratio':12} {ours_prompt / raw_prompt:13.1%} {ours_gen / raw_gen:10.1%}")
    print("aggregate generation through LocalModel (completion tokens / wall time):")
    for n in (1, 2, 4):
        rate = asyncio.run(concurrent_throughput(model, n))
        print(f"  {n} concurrent: {rate:6.1f} tok/s")


if __name__ == "__main__":
    main()
