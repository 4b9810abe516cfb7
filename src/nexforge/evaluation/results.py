"""What every evaluation records: one result per case and trial, appended as it finishes.

A run writes ``results.jsonl`` in its output folder, one :class:`CaseResult` per line,
flushed as each case ends; re-running the same command skips what is already there, so an
interrupted evaluation resumes. ``scores.json`` holds the summary computed from the log.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nexforge.core.errors import NexForgeError

log = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"
SCORES_FILE = "scores.json"


class EvalError(NexForgeError):
    """An evaluation cannot start or go on (bad flags, a missing benchmark package...)."""


class CaseResult(BaseModel):
    """One case (a BFCL entry, a tau2 task, a framework query) on one trial."""

    model_config = ConfigDict(extra="forbid")

    benchmark: str
    category: str
    case_id: str
    trial: int = 0
    correct: bool
    reward: float | None = None
    reason: str = ""
    """Why it failed (the checker's own words), or empty."""
    error: str | None = None
    """Set when the case could not be run (model error, crash): scored as incorrect."""
    model: str = ""
    steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: int = 0
    valid_tool_calls: int = 0
    seconds: float = 0.0
    detail: dict[str, Any] = Field(default_factory=dict)
    """Benchmark-specific record: the model's calls, the checker's report, the trajectory."""

    @property
    def key(self) -> tuple[str, int]:
        return (self.case_id, self.trial)


class CategoryScore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accuracy: float
    correct: int
    total: int


def category_scores(results: Iterable[CaseResult]) -> dict[str, CategoryScore]:
    """Accuracy per category, plus ``overall`` over every case (not a mean of means)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for result in results:
        for name in (result.category, "overall"):
            counts[name][0] += int(result.correct)
            counts[name][1] += 1
    ordered = sorted(name for name in counts if name != "overall")
    if counts:
        ordered.append("overall")
    return {
        name: CategoryScore(
            accuracy=counts[name][0] / counts[name][1],
            correct=counts[name][0],
            total=counts[name][1],
        )
        for name in ordered
    }


def pass_hat_k(successes_per_case: Mapping[str, Iterable[bool]], k: int) -> float | None:
    """tau-bench's pass^k: the chance that k trials drawn from a case's n all succeed.

    Averaged over cases with at least k trials: mean of C(c, k) / C(n, k), c successes of n.
    ``None`` when no case has k trials.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    values: list[float] = []
    for trials in successes_per_case.values():
        outcomes = list(trials)
        if len(outcomes) < k:
            continue
        values.append(math.comb(sum(outcomes), k) / math.comb(len(outcomes), k))
    return sum(values) / len(values) if values else None


class ResultLog:
    """The append-only ``results.jsonl`` of one evaluation run (resume by key)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / RESULTS_FILE
        self._results: dict[tuple[str, int], CaseResult] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    result = CaseResult.model_validate_json(line)
                except ValidationError as exc:
                    # A line cut by a kill is the only damage an append-only log can take:
                    # the case is simply run again.
                    log.warning("%s:%d: unreadable result skipped (%s)", self.path, number, exc)
                    continue
                self._results[result.key] = result

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._results

    def __len__(self) -> int:
        return len(self._results)

    def results(self) -> list[CaseResult]:
        return list(self._results.values())

    def append(self, result: CaseResult) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        line = result.model_dump_json() + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        self._results[result.key] = result


def write_scores(folder: Path, summary: Mapping[str, Any]) -> Path:
    """Write ``scores.json`` atomically (a reader never sees half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / SCORES_FILE
    partial = target.with_suffix(".json.partial")
    partial.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    partial.replace(target)
    return target
