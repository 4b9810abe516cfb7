"""The architect on five shipped descriptions: cost and what it produced.

    .venv/bin/python benchmarks/architect.py                   # embedded tiny model
    .venv/bin/python benchmarks/architect.py --model openai:NAME --probe
    .venv/bin/python benchmarks/architect.py --only 2 --keep out/bench-architect

Per description: seconds, model calls, tokens, the rung reached, agents, depth, tools,
personas and problem-type leaves, then the diversity of the five frameworks. The probe
rung (the framework's agents running on the model) is off by default: on the embedded
model it dominates the time and measures the runtime, not the architect. Prints numbers,
asserts nothing; run on an idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from nexforge.architect.build import BuildOptions, build
from nexforge.architect.diversity import diversity_report, read_structure
from nexforge.models.resolve import ModelResolver
from nexforge.runtime.config import parse_model_spec

DESCRIPTIONS = [
    "A support desk for a bike shop: orders, returns and repairs",
    "A small public library that lends books and tracks members and overdue loans",
    "A veterinary clinic booking appointments for pets and keeping their records",
    "An IT helpdesk handling employee tickets about laptops and software licences",
    "A food bank managing donations, volunteers and weekly pickup slots",
]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="default: the embedded tiny model")
    parser.add_argument("--probe", action="store_true", help="also run the probe rung")
    parser.add_argument("--only", type=int, default=None, help="1-5: one description")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="write frameworks here")
    args = parser.parse_args()
    override = parse_model_spec(args.model) if args.model else None
    model = ModelResolver(override).resolve("architect", None, None)
    chosen = [DESCRIPTIONS[args.only - 1]] if args.only else DESCRIPTIONS
    root = args.keep or Path(tempfile.mkdtemp(prefix="nexforge-bench-architect-"))
    print(f"model {model.name}; frameworks in {root}")
    header = f"{'#':>2} {'seconds':>8} {'calls':>5} {'tokens out':>10} {'reached':>10} "
    print(
        header
        + f"{'archetype':>17} {'agents':>6} {'depth':>5} {'tools':>5} {'personas':>8} {'leaves':>6}"
    )
    paths = []
    for i, description in enumerate(chosen, 1):
        out = root / f"d{i}"
        started = time.perf_counter()
        options = BuildOptions(description=description, out=out, seed=args.seed, probe=args.probe)
        try:
            [result] = await build(options, model)
        except Exception as exc:  # a benchmark reports a failed build and goes on
            print(f"{i:>2} {time.perf_counter() - started:8.1f} failed: {exc}")
            continue
        seconds = time.perf_counter() - started
        r, s = result.report, result.report["structure"]
        print(
            f"{i:>2} {seconds:8.1f} {r['model_calls']:>5} {r['completion_tokens']:>10} "
            f"{r['reached'] or '-':>10} {s['archetype']:>17} {s['agents']:>6} {s['depth']:>5} "
            f"{s['tools']:>5} {s['personas']:>8} {s['problem_types']['leaves']:>6}"
        )
        paths.append(result.path)
    if len(paths) > 1:
        report = diversity_report([read_structure(p) for p in paths])
        summary = report.to_dict()
        print(f"diversity: {summary.get('summary', summary.get('mean_distance'))}")
        for finding in report.findings:
            print(f"  finding: {finding}")


if __name__ == "__main__":
    asyncio.run(main())
