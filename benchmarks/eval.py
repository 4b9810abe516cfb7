"""A model's scores on a fixed evaluation subset: BFCL, tau2 and the shop's own queries.

    .venv/bin/python benchmarks/eval.py                         # the embedded tiny model
    .venv/bin/python benchmarks/eval.py --model openai:NAME     # any configured endpoint
    .venv/bin/python benchmarks/eval.py --only bfcl --keep out/bench-eval

The subset is fixed so numbers compare across models and releases: the first
``--bfcl-cases`` cases of each of six BFCL categories (the first ``--multi-turn-cases`` of
multi_turn_base), the first ``--tau2-tasks`` tasks of tau2 retail's test split (one trial,
the model playing both agent and user), and the shop's eight held-out queries. Prints a
table of scores, cases and seconds; asserts nothing. Results resume from ``--keep``; run on
an idle machine when the seconds matter.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from nexforge.evaluation.bfcl import run_bfcl
from nexforge.evaluation.framework import FrameworkEvalOptions, run_framework_eval, select_queries
from nexforge.evaluation.model_spec import model_from_spec
from nexforge.evaluation.tau2 import Tau2Options, run_tau2
from nexforge.runtime.config import parse_model_spec
from nexforge.runtime.config.framework import load_framework
from nexforge.synthesis.fingerprint import framework_hash

SHOP = Path(__file__).resolve().parents[1] / "examples" / "shop"
BFCL_CATEGORIES = [
    "simple_python",
    "multiple",
    "parallel",
    "irrelevance",
    "live_simple",
    "multi_turn_base",
]

Row = tuple[str, str, str, int, float]
"""benchmark, subset, score, cases, seconds."""


async def bfcl(spec: str | None, out: Path, cases: int, multi: int) -> list[Row]:
    model = model_from_spec(spec)
    rows: list[Row] = []
    for name in BFCL_CATEGORIES:
        started = time.perf_counter()
        summary = await run_bfcl(
            model,
            out_dir=out / "bfcl",
            categories=[name],
            limit=multi if name.startswith("multi_turn") else cases,
            timeout_s=600,
        )
        seconds = time.perf_counter() - started
        score = summary["categories"][name]
        accuracy = f"{100 * score['accuracy']:.0f}% ({score['correct']}/{score['total']})"
        rows.append(("bfcl", name, accuracy, score["total"], seconds))
    return rows


async def tau2(spec: str | None, out: Path, tasks: int) -> list[Row]:
    agent = model_from_spec(spec)
    user = model_from_spec(spec, role="user_sim", option="--user-model")
    options = Tau2Options(split="test", limit=tasks, max_turns=10, max_steps=10, workers=2)
    started = time.perf_counter()
    summary: dict[str, Any] = await run_tau2(agent, user, "retail", out / "tau2", options)
    seconds = time.perf_counter() - started
    score = f"reward {summary['avg_reward'] or 0.0:.2f}, pass^1 {summary['pass_hat_k']['1']:.2f}"
    return [("tau2", f"retail test, first {tasks}", score, summary["runs"], seconds)]


async def shop(spec: str | None, out: Path) -> list[Row]:
    framework = load_framework(SHOP)
    selection = select_queries(framework, framework_hash(framework))
    settings = parse_model_spec(spec) if spec is not None else None
    started = time.perf_counter()
    summary = await run_framework_eval(
        SHOP, settings, selection, out / "shop", FrameworkEvalOptions(workers=2)
    )
    seconds = time.perf_counter() - started
    validity = summary["tool_call_validity"]
    score = (
        f"success {100 * summary['success_rate']:.0f}%, valid calls "
        f"{'n/a' if validity is None else f'{100 * validity:.0f}%'}"
    )
    return [("framework", "shop kit/eval_queries", score, summary["rollouts"], seconds)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--model", default="local:tiny", help="a model SPEC (local:tiny)")
    parser.add_argument("--only", choices=("bfcl", "tau2", "shop"), default=None)
    parser.add_argument("--bfcl-cases", type=int, default=10)
    parser.add_argument("--multi-turn-cases", type=int, default=2)
    parser.add_argument("--tau2-tasks", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="results folder (resumes)")
    args = parser.parse_args()
    out = args.keep or Path(tempfile.mkdtemp(prefix="nexforge-bench-eval-"))
    rows: list[Row] = []
    if args.only in (None, "bfcl"):
        rows += await bfcl(args.model, out, args.bfcl_cases, args.multi_turn_cases)
    if args.only in (None, "tau2"):
        rows += await tau2(args.model, out, args.tau2_tasks)
    if args.only in (None, "shop"):
        rows += await shop(args.model, out)
    print(f"model {args.model}; results in {out}")
    print(f"{'benchmark':<10} {'subset':<28} {'score':<34} {'cases':>5} {'seconds':>8}")
    for benchmark, subset, score, cases, seconds in rows:
        print(f"{benchmark:<10} {subset:<28} {score:<34} {cases:>5} {seconds:>8.1f}")


if __name__ == "__main__":
    asyncio.run(main())
