"""``nexforge eval bfcl``: the Berkeley Function Calling Leaderboard, offline, on any Model.

The data, the checkers and the stateful backends are those of the ``bfcl-eval`` package
(see ``bfcl_package``); NexForge supplies the model side, as bfcl_eval's OpenAI
chat-completions FC handler would: native tool calls, no system prompt of its own,
temperature 0. Single-turn categories are in ``bfcl_single``, multi-turn ones in
``bfcl_multiturn``, memory ones in ``bfcl_memory``. Each case's result is appended to ``results.jsonl`` as it finishes and a
re-run skips the finished ones (cases that could not run, e.g. on a model timeout, are
tried again); ``scores.json`` holds accuracy per category.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexforge.core.errors import NexForgeError
from nexforge.evaluation.bfcl_memory import MemoryChains
from nexforge.evaluation.bfcl_multiturn import run_multi_turn
from nexforge.evaluation.bfcl_package import BfclCase, BfclPackage, category_mapping, load_bfcl
from nexforge.evaluation.bfcl_single import Tally, run_single_turn
from nexforge.evaluation.results import (
    CaseResult,
    EvalError,
    ResultLog,
    category_scores,
    write_scores,
)
from nexforge.models.base import Model

log = logging.getLogger(__name__)

BENCHMARK = "bfcl"
WORK_FOLDER = "bfcl_eval"
"""Sub-folder of the output folder where bfcl_eval creates its own (empty) folders."""
MEMORY_FOLDER = "memory"
"""Sub-folder of the output folder for the memory categories' snapshots."""
_MEMORY_BACKENDS = {"memory_kv": "MemoryAPI_kv", "memory_rec_sum": "MemoryAPI_rec_sum"}

_NEEDS_INTERNET = "needs the internet (its backend searches the live web)"
SKIPPED: dict[str, str] = {
    "web_search_base": _NEEDS_INTERNET,
    "web_search_no_snippet": _NEEDS_INTERNET,
    "memory_vector": "needs sentence-transformers, faiss and an embedding model download",
    "format_sensitivity": "varies the system prompt of prompting (non-FC) models; not scored",
}
"""Categories bfcl_eval knows that this offline FC evaluation does not run, and why."""

ResultCallback = Callable[[CaseResult, int, int], None]
"""Called with each finished case, the number finished (resumed ones included) and the total."""


@dataclass(frozen=True)
class CategorySelection:
    run: list[str]
    skipped: dict[str, str]


def select_categories(names: Sequence[str] | None) -> CategorySelection:
    """BFCL category names and group names (``multi_turn``, ``live``...) -> what runs and
    what is skipped (with why). None or empty: every scoring category."""
    mapping = category_mapping()
    known: list[str] = list(mapping.ALL_CATEGORIES)
    groups: dict[str, list[str]] = mapping.TEST_COLLECTION_MAPPING
    wanted: set[str] = set()
    for name in names or ["all_scoring"]:
        if name in groups:
            wanted.update(groups[name])
        elif name in known:
            wanted.add(name)
        else:
            raise EvalError(
                f"--categories: unknown BFCL category {name!r}; categories: "
                f"{', '.join(known)}; groups: {', '.join(groups)}"
            )
    ordered = [name for name in known if name in wanted]
    return CategorySelection(
        run=[name for name in ordered if name not in SKIPPED],
        skipped={name: SKIPPED[name] for name in ordered if name in SKIPPED},
    )


def _without_missing_backends(selection: CategorySelection, bfcl: BfclPackage) -> CategorySelection:
    """Memory categories whose backend's dependencies are not installed are skipped."""
    missing = {
        name: module
        for name in selection.run
        if (module := bfcl.missing_backends.get(_MEMORY_BACKENDS.get(name, "")))
    }
    return CategorySelection(
        run=[name for name in selection.run if name not in missing],
        skipped={
            **selection.skipped,
            **{name: f"needs {module} (pip install {module})" for name, module in missing.items()},
        },
    )


def load_cases(bfcl: BfclPackage, categories: Sequence[str], limit: int | None) -> list[BfclCase]:
    """The first ``limit`` cases of each category (all without a limit), in BFCL's order."""
    cases: list[BfclCase] = []
    for category in categories:
        cases.extend(bfcl.load_cases(category)[:limit])
    return cases


async def run_bfcl(
    model: Model,
    *,
    out_dir: Path,
    categories: Sequence[str] | None = None,
    limit: int | None = None,
    workers: int = 4,
    timeout_s: float | None = None,
    on_result: ResultCallback | None = None,
) -> dict[str, Any]:
    """Run BFCL on ``model``, resuming from ``out_dir``; returns the summary written to
    ``scores.json``: ``categories`` ({name: {accuracy, correct, total}}, ``overall`` last),
    ``skipped`` ({name: reason}) and counts."""
    if workers < 1:
        raise EvalError("--workers must be at least 1")
    if limit is not None and limit < 1:
        raise EvalError("--limit must be at least 1")
    selection = select_categories(categories)
    bfcl = load_bfcl(out_dir / WORK_FOLDER)
    selection = _without_missing_backends(selection, bfcl)
    cases = load_cases(bfcl, selection.run, limit)
    memory = MemoryChains(model, bfcl, out_dir / MEMORY_FOLDER, timeout_s=timeout_s)
    results = ResultLog(out_dir)
    finished = {r.key for r in results.results() if r.error is None}
    todo = [case for case in cases if (case.id, 0) not in finished]
    done = len(cases) - len(todo)
    log.info("bfcl: %d cases, %d already done, %d to run", len(cases), done, len(todo))
    gate = asyncio.Semaphore(workers)

    async def one(case: BfclCase) -> None:
        nonlocal done
        async with gate:
            result = await run_case(model, case, bfcl, timeout_s=timeout_s, memory=memory)
        results.append(result)
        done += 1
        if on_result is not None:
            on_result(result, done, len(cases))

    async with asyncio.TaskGroup() as group:
        for case in todo:
            group.create_task(one(case))

    keys = {(case.id, 0) for case in cases}
    selected = [r for r in results.results() if r.key in keys]
    summary: dict[str, Any] = {
        "benchmark": BENCHMARK,
        "bfcl_eval": bfcl.version,
        "model": model.name,
        "limit": limit,
        "categories": {
            name: score.model_dump() for name, score in category_scores(selected).items()
        },
        "skipped": selection.skipped,
        "cases": len(cases),
        "resumed": len(cases) - len(todo),
        "errors": sum(1 for r in selected if r.error is not None),
    }
    write_scores(out_dir, summary)
    return summary


async def run_case(
    model: Model,
    case: BfclCase,
    bfcl: BfclPackage,
    *,
    timeout_s: float | None = None,
    memory: MemoryChains | None = None,
) -> CaseResult:
    """Run and score one case; a model that fails (after its own retries) fails the case.
    Memory cases need the run's ``memory`` chains (shared by a scenario's questions)."""
    started = time.perf_counter()
    tally = Tally()
    error: str | None = None
    try:
        if bfcl.utils.is_memory(case.category):
            if memory is None:
                raise ValueError(f"{case.id}: memory cases need the run's MemoryChains")
            verdict, detail = await memory.run_question(case, tally)
        elif bfcl.utils.is_multi_turn(case.category):
            verdict, detail = await run_multi_turn(model, case, bfcl, tally, timeout_s=timeout_s)
        else:
            verdict, detail = await run_single_turn(model, case, bfcl, tally, timeout_s=timeout_s)
        correct, reason = verdict.correct, verdict.reason
        if verdict.report:
            detail["checker"] = verdict.report
    except NexForgeError as exc:
        log.warning("bfcl %s: %s", case.id, exc)
        correct, reason, detail, error = False, "model_error", {}, f"{type(exc).__name__}: {exc}"
    return CaseResult(
        benchmark=BENCHMARK,
        category=case.category,
        case_id=case.id,
        correct=correct,
        reason=reason,
        error=error,
        model=model.name,
        steps=tally.steps,
        prompt_tokens=tally.prompt_tokens,
        completion_tokens=tally.completion_tokens,
        tool_calls=tally.tool_calls,
        valid_tool_calls=tally.valid_tool_calls,
        seconds=round(time.perf_counter() - started, 3),
        detail=bfcl.utils.make_json_serializable(detail),
    )
