"""The cascade's default export filter on the labelled set (tests/quality/labelled):
precision of what it keeps, recall of the good rollouts, and per junk kind how many it
kept and which stage dropped them.

    .venv/bin/python benchmarks/labelled_set.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "quality" / "labelled"))

from cases import GOOD
from labelled_store import labelled_outcomes, per_kind


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = asyncio.run(labelled_outcomes(Path(tmp)))
    kept = [o for o in outcomes if o.decision.keep]
    good = [o for o in outcomes if o.case.label == GOOD]
    good_kept = [o for o in good if o.decision.keep]
    precision = len(good_kept) / len(kept) if kept else 1.0
    print(f"rollouts: {len(outcomes)} ({len(good)} good, {len(outcomes) - len(good)} junk)")
    print(
        f"default filter: precision {precision:.2f}, recall of good {len(good_kept) / len(good):.2f}"
    )
    print(f"{'label':32} {'n':>3} {'kept':>5}  dropped by")
    for label, (n, k) in per_kind(outcomes).items():
        stages = Counter(
            (o.decision.reason or "").split(":")[0]
            for o in outcomes
            if o.case.label == label and not o.decision.keep
        )
        by = ", ".join(f"{s} {c}" for s, c in stages.most_common())
        print(f"{label:32} {n:>3} {k:>5}  {by}")


if __name__ == "__main__":
    main()
