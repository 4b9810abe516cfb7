"""Verify and export throughput on a store of synthetic trajectories.

    .venv/bin/python benchmarks/export.py                    # 10,000 trajectories, every format
    .venv/bin/python benchmarks/export.py --rollouts 1000 --formats trl,openai

Each trajectory looks like a real two-level run: a lead agent (with reasoning) that calls a
sub-agent and, in parallel, two tools; the sub-agent makes two tool calls, one of which
fails and is retried; unicode and multi-line tool output throughout. That is 2 episodes
(2 samples), 5 model calls (5 RL rows) and ~6.5 KB of JSON per trajectory. The store is
built once (not timed as export), verified once by the cascade's structural stages (so
the default filter keeps everything), then every format is exported in a fresh process
so one format's memory does not count against the next. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.core.trajectory import Episode, Provenance, Trajectory, Usage
from nexforge.synthesis.records import QueryRecord, RolloutProvenance, RolloutRecord, rollout_key
from nexforge.synthesis.store import SynthesisStore

FORMATS = (
    "openai",
    "trl",
    "sharegpt",
    "xml",
    "hermes",
    "qwen3-coder",
    "glm",
    "minimax",
    "deepseek",
    "rl",
)
SAMPLES_PER_QUERY = 2

LOOKUP = ToolSpec(
    name="lookup_order",
    description="Look an order up by its id.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "integer"}, "fields": {"type": "array"}},
        "required": ["order_id"],
    },
    read_only=True,
)
REFUND = ToolSpec(
    name="refund",
    description="Refund part of an order.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "integer"}, "amount": {"type": "number"}},
        "required": ["order_id", "amount"],
    },
)
SPECIALIST = ToolSpec(
    name="billing_specialist",
    description="Delegate a billing task.",
    parameters={"type": "object", "properties": {"task": {"type": "string"}}, "required": ["task"]},
)


def trajectory(index: int, sample: int) -> Trajectory:
    run_id = f"run-{index:06d}-{sample}"
    # Samples of one query look at different orders, so de-duplication keeps them all.
    order = 1000 + 10 * index + sample
    stock = "\n".join(f"row {r}: Fahrrad «Trail» {r * 3} € — ok" for r in range(12))
    lead_calls = [
        ToolCall(id="c1", name="billing_specialist", arguments={"task": f"Refund order {order}"}),
        ToolCall(id="c2", name="lookup_order", arguments={"order_id": order, "fields": ["status"]}),
        ToolCall(id="c3", name="lookup_order", arguments={"order_id": order + 1}),
    ]
    lead = Episode(
        episode_id=f"{run_id}-e0",
        agent="lead",
        model="bench-model",
        tool_call_format="structured",
        system_prompt="You are the support lead of a bike shop. " * 8,
        tools=[SPECIALIST, LOOKUP],
        messages=[
            Message.user(f"Please refund 20 EUR on order {order} and tell me its status."),
            Message.assistant(
                "I will delegate the refund and look the orders up.",
                lead_calls,
                reasoning="The refund is billing work; the status needs a lookup. " * 3,
            ),
            Message.tool("c1", "billing_specialist", f"Refunded 20.0 on order {order}."),
            Message.tool("c2", "lookup_order", json.dumps({"id": order, "status": "shipped"})),
            Message.tool("c3", "lookup_order", stock),
            Message.assistant(f"Order {order} is shipped and 20 EUR were refunded."),
        ],
        final=f"Order {order} is shipped and 20 EUR were refunded.",
    )
    child = Episode(
        episode_id=f"{run_id}-e1",
        parent_episode_id=lead.episode_id,
        parent_tool_call_id="c1",
        agent="billing",
        model="bench-model",
        tool_call_format="structured",
        system_prompt="You handle refunds. Check the order before refunding. " * 6,
        tools=[LOOKUP, REFUND],
        messages=[
            Message.user(f"Refund order {order}"),
            Message.assistant(
                None, [ToolCall(id="d1", name="refund", arguments={"order_id": order})]
            ),
            Message.tool("d1", "refund", "missing argument: amount", is_error=True),
            Message.assistant(
                None,
                [ToolCall(id="d2", name="refund", arguments={"order_id": order, "amount": 20.0})],
            ),
            Message.tool("d2", "refund", json.dumps({"refunded": 20.0, "order": order})),
            Message.assistant(f"Refunded 20.0 on order {order}."),
        ],
        final=f"Refunded 20.0 on order {order}.",
    )
    return Trajectory(
        run_id=run_id,
        framework="bench",
        query=lead.messages[0].content or "",
        started_at=1.0,
        ended_at=2.0,
        stop_reason="completed",
        final_output=lead.final,
        usage=Usage(prompt_tokens=2400, completion_tokens=300, model_calls=6, tool_calls=5),
        provenance=Provenance(framework_hash="fh-bench", model="bench-model"),
        episodes=[lead, child],
    )


def build_store(path: Path, rollouts: int) -> float:
    started = time.perf_counter()
    queries = rollouts // SAMPLES_PER_QUERY
    with SynthesisStore(path) as store:
        records = [
            QueryRecord(
                text=f"Please refund 20 EUR on order {1000 + 10 * i} and tell me its status.",
                framework="bench",
                difficulty=("easy", "medium", "hard")[i % 3],
            ).keyed("fh-bench")
            for i in range(queries)
        ]
        store.add_queries(records)
        for i, query in enumerate(records):
            for sample in range(SAMPLES_PER_QUERY):
                store.put_rollout(
                    RolloutRecord(
                        key=rollout_key(query.key, sample),
                        query_key=query.key,
                        sample=sample,
                        status="done",
                        trajectory=trajectory(i, sample),
                        started_at=1.0,
                        seconds=1.0,
                        provenance=RolloutProvenance(
                            framework_hash="fh-bench", package_version="bench", seed=sample
                        ),
                    )
                )
    return time.perf_counter() - started


def verify(path: Path) -> float:
    """Seconds the cascade's default stages take over the whole store."""
    from nexforge.quality.cascade import VerifyOptions, verify_store

    started = time.perf_counter()
    with SynthesisStore(path) as store:
        asyncio.run(verify_store(store, VerifyOptions()))
    return time.perf_counter() - started


def peak_rss_mib() -> int:
    """This process's own peak RSS (``ru_maxrss`` would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return -1


def export_one(store: Path, fmt: str, out_dir: Path, suffix: str) -> dict[str, object]:
    """Export in this process (called in a child, see ``main``)."""
    from nexforge.export import ExportOptions, export_store

    output = out_dir / f"{fmt}{suffix}"
    started = time.perf_counter()
    with SynthesisStore(store) as opened:
        summary = export_store(opened, ExportOptions(format=fmt, output=output))
    seconds = time.perf_counter() - started
    files = sorted(out_dir.glob(f"{fmt}*{suffix}"))
    size = sum(f.stat().st_size for f in files)
    samples = summary.samples_written
    return {
        "format": fmt + ("" if suffix == ".jsonl" else " (parquet)"),
        "samples": samples,
        "seconds": round(seconds, 2),
        "samples_per_s": round(samples / seconds),
        "mb_per_s": round(size / seconds / 1e6, 1),
        "mb": round(size / 1e6, 1),
        "peak_rss_mib": peak_rss_mib(),
    }


def scrub_cost(path: Path, fmt: str, samples: int = 500, rounds: int = 5) -> float:
    """Microseconds ``Scrubber.scrub`` takes per sample's JSON text (best of ``rounds``)."""
    from nexforge.export import Scrubber
    from nexforge.export.samples import rollout_samples

    texts: list[str] = []
    with SynthesisStore(path) as store:
        for record in store.rollouts():
            rows = rollout_samples(record, store.query(record.query_key), [], format=fmt).rows
            texts += [json.dumps(row, ensure_ascii=False) for row in rows]
            if len(texts) >= samples:
                break
    scrubber = Scrubber()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for text in texts:
            scrubber.scrub(text)
        best = min(best, time.perf_counter() - started)
    return best / len(texts) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rollouts", type=int, default=10_000)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--parquet", default="trl,openai", help="formats also written as parquet")
    parser.add_argument("--child", nargs=4, metavar=("STORE", "FORMAT", "DIR", "SUFFIX"))
    args = parser.parse_args()
    if args.child:
        store, fmt, out, suffix = args.child
        print(json.dumps(export_one(Path(store), fmt, Path(out), suffix)))
        return

    with tempfile.TemporaryDirectory(prefix="nexforge-export-bench-") as tmp:
        store = Path(tmp) / "store.sqlite"
        built = build_store(store, args.rollouts)
        print(
            f"store: {args.rollouts} trajectories in {built:.1f} s "
            f"({store.stat().st_size / 1e6:.0f} MB)"
        )
        checked = verify(store)
        print(
            f"verify (structure, validity, behaviour, dedup): {checked:.1f} s, "
            f"{args.rollouts / checked:.0f} rollouts/s"
        )
        jobs = [(fmt, ".jsonl") for fmt in args.formats.split(",") if fmt]
        jobs += [(fmt, ".parquet") for fmt in args.parquet.split(",") if fmt]
        print(
            f"{'format':<22}{'samples':>9}{'s':>8}{'samples/s':>11}{'MB/s':>8}{'MB':>8}{'RSS MiB':>9}"
        )
        for fmt, suffix in jobs:
            out = Path(tmp) / f"out-{fmt}-{suffix[1:]}"
            out.mkdir()
            child = subprocess.run(
                [sys.executable, __file__, "--child", str(store), fmt, str(out), suffix],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(child.stdout.strip().splitlines()[-1])
            print(
                f"{row['format']:<22}{row['samples']:>9}{row['seconds']:>8}"
                f"{row['samples_per_s']:>11}{row['mb_per_s']:>8}{row['mb']:>8}"
                f"{row['peak_rss_mib']:>9}"
            )
        costs = ", ".join(
            f"{fmt} {scrub_cost(store, fmt):.0f}" for fmt in ("openai", "trl", "xml", "rl")
        )
        print(f"secret scrubbing, us per sample (best of 5 rounds over 500 samples): {costs}")


if __name__ == "__main__":
    main()
