"""Side by side: the ``scores.json`` of several evaluation folders of one benchmark."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexforge.evaluation.results import SCORES_FILE, EvalError


@dataclass(frozen=True)
class Scored:
    folder: Path
    model: str
    benchmark: str
    values: dict[str, float | None]
    cases: dict[str, int]
    """Cases behind each row, so a comparison of different subsets shows as such."""


def read_scores(folder: Path) -> dict[str, Any]:
    path = folder / SCORES_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EvalError(f"{folder}: no {SCORES_FILE} (not an evaluation folder)") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise EvalError(f"{path}: unreadable: {exc}") from exc
    if not isinstance(data, dict) or "benchmark" not in data:
        raise EvalError(f"{path}: not a NexForge evaluation summary (no 'benchmark' key)")
    return data


def _categories(data: Mapping[str, Any]) -> tuple[dict[str, float | None], dict[str, int]]:
    values: dict[str, float | None] = {}
    cases: dict[str, int] = {}
    for name, score in data.get("categories", {}).items():
        values[name] = score["accuracy"]
        cases[name] = score["total"]
    return values, cases


def _pass_hat_k(
    data: Mapping[str, Any], runs: int
) -> tuple[dict[str, float | None], dict[str, int]]:
    values = {f"pass^{k}": v for k, v in data.get("pass_hat_k", {}).items()}
    return values, dict.fromkeys(values, runs)


def scored(folder: Path) -> Scored:
    """The comparable numbers of one evaluation folder."""
    data = read_scores(folder)
    benchmark = str(data["benchmark"])
    values: dict[str, float | None] = {}
    cases: dict[str, int] = {}
    if benchmark == "bfcl":
        values, cases = _categories(data)
    elif benchmark == "tau2":
        runs = int(data.get("runs", 0))
        values = {"average reward": data.get("avg_reward")}
        cases = {"average reward": runs}
        more, more_cases = _pass_hat_k(data, runs)
        values.update(more)
        cases.update(more_cases)
        benchmark = f"tau2 {data.get('domain', '')} ({data.get('split', '')})"
    elif benchmark == "framework":
        runs = int(data.get("rollouts", 0))
        values, cases = _categories(data)
        more, more_cases = _pass_hat_k(data, runs)
        values.update(more)
        cases.update(more_cases)
        values["tool-call validity"] = data.get("tool_call_validity")
        cases["tool-call validity"] = int(data.get("tool_calls", 0))
        values["mean steps"] = data.get("mean_steps")
        values["mean tokens"] = data.get("mean_tokens")
        cases["mean steps"] = cases["mean tokens"] = runs
        benchmark = f"framework {data.get('framework', '')}"
    else:
        raise EvalError(f"{folder / SCORES_FILE}: unknown benchmark {benchmark!r}")
    return Scored(folder, str(data.get("model") or folder.name), benchmark, values, cases)


NUMBER_FORMATS = {"average reward": ".3f", "mean steps": ".1f", "mean tokens": ".0f"}
"""Rows that are not rates, and how they are shown (rates are percents)."""


def compare(folders: Sequence[Path]) -> list[Scored]:
    """The folders' numbers; all must hold the same benchmark (and domain, framework)."""
    if len(folders) < 1:
        raise EvalError("name at least one evaluation folder")
    found = [scored(folder) for folder in folders]
    kinds = {s.benchmark for s in found}
    if len(kinds) > 1:
        listed = "; ".join(f"{s.folder}: {s.benchmark}" for s in found)
        raise EvalError(f"the folders hold different benchmarks ({listed})")
    return found


def rows(found: Sequence[Scored]) -> list[str]:
    """Row labels in first-seen order (each summary lists its categories, ``overall`` last)."""
    labels: list[str] = []
    for item in found:
        labels.extend(label for label in item.values if label not in labels)
    return labels
