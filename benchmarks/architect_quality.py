"""Architect quality on the embedded model: this tree against a git revision, side by side.

    .venv/bin/python benchmarks/architect_quality.py --base 763a460        # tiny model
    .venv/bin/python benchmarks/architect_quality.py --base main --only 1 --rounds 2
    .venv/bin/python benchmarks/architect_quality.py --keep out/bench-quality

Each sentence is built with ``nexforge build ... --no-probe`` (the pipeline builds without
the probe too) once per source tree, the trees alternating, so both see the same machine:
the revision's ``src`` (extracted with ``git archive``) and this tree's. Per build: the
wall time, each stage's time (from the build's progress lines: ``domain: done in 41.0s``),
the last rung the build's own ladder reached, and this tree's quality rung run on the
output, as problems per check. Prints numbers, asserts nothing; the machine is shared, so
compare builds of one run, not across runs.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nexforge.architect.framework_files import read_framework_files
from nexforge.architect.quality_rung import CHECKS, check_content, read_content
from nexforge.runtime.config.framework import load_framework

SENTENCES = [
    "A support desk for a bike shop: orders, refunds and stock",
    "A dental clinic's appointment desk",
    "A library's loans and reservations",
]
HERE = Path(__file__).resolve().parents[1]
_DONE = re.compile(r"^\W*([\w/]+): done in ([\d.]+)s", re.MULTILINE)
_CHECK_LINE = re.compile(r"^\s*(PASS|FAIL|SKIP) (\w+)", re.MULTILINE)


def extract(revision: str, into: Path) -> Path:
    """The revision's ``src`` folder, written below ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(HERE), "archive", revision, "src"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


def build(src: Path, sentence: str, out: Path, model: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, "-m", "nexforge", "build", sentence, "-o", str(out)]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "--model", model, "--no-probe"], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    stages: dict[str, float] = {}
    for name, seconds in _DONE.findall(done.stderr):
        key = "prompts" if "/prompt_" in name else name.split("/")[-1]
        stages[key] = max(stages.get(key, 0.0), float(seconds))  # prompts overlap: the longest
    rungs = dict((name, status) for status, name in _CHECK_LINE.findall(done.stdout))
    reached = [n for n, s in rungs.items() if s == "PASS"]
    return {
        "wall": wall,
        "stages": stages,
        "reached": reached[-1] if reached else "-",
        "quality": quality(out) if (out / "framework.yaml").is_file() else None,
        "error": done.stderr.strip().splitlines()[-1] if done.returncode and done.stderr else "",
    }


def quality(folder: Path) -> dict[str, int]:
    content = read_content(load_framework(folder), read_framework_files(folder))
    problems = check_content(content)
    return {c: sum(p.check == c for p in problems) for c in CHECKS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="main", help="git revision to compare with")
    parser.add_argument("--model", default="local:tiny")
    parser.add_argument("--only", type=int, default=None, help="1-3: one sentence")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="write frameworks here")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="nexforge-bench-quality-"))
    root.mkdir(parents=True, exist_ok=True)
    trees = {args.base: extract(args.base, Path(tempfile.mkdtemp())), "this": HERE / "src"}
    chosen = [SENTENCES[args.only - 1]] if args.only else SENTENCES
    print(f"model {args.model}; frameworks in {root}")
    print("| sentence | tree | wall s | stages (s) | round 1 reached | quality problems |")
    print("|---|---|---|---|---|---|")
    for round_ in range(args.rounds):
        for i, sentence in enumerate(chosen, 1):
            order = list(trees) if (round_ + i) % 2 else list(reversed(trees))
            for name in order:
                out = root / f"r{round_}-s{i}-{name.replace('/', '_')}"
                got = build(trees[name], sentence, out, args.model)
                stages = ", ".join(f"{k} {v:.0f}" for k, v in got["stages"].items())  # type: ignore[attr-defined]
                found = got["quality"]
                if found is None:
                    verdict = f"no framework ({got['error']})"
                else:
                    total = sum(found.values())  # type: ignore[attr-defined]
                    parts = ", ".join(f"{c} {n}" for c, n in found.items() if n)  # type: ignore[attr-defined]
                    verdict = "PASS (0)" if total == 0 else f"FAIL ({total}: {parts})"
                wall = float(got["wall"])  # type: ignore[arg-type]
                print(
                    f"| {sentence} | {name} | {wall:.0f} | {stages} | {got['reached']} | "
                    f"{verdict} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
