"""NexForge's own environments as benchmarks: a model on a framework's held-out queries.

Each query with an expected outcome is run ``trials`` times (the synthesis rollout engine:
timeouts, retries, an own environment copy per run) into an evaluation store of its own
in the output folder, never into a training store, so evaluation runs cannot leak into
exported data. A run succeeds when it ended normally and the grounded verifier passes it:
its state-changing calls replayed on a fresh environment reach the expected end state and
its answer states the expected facts. Scores are recomputed from the store on every
invocation, so an interrupted evaluation resumes and re-scoring costs no model call.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexforge.core.trajectory import Trajectory
from nexforge.evaluation.results import (
    RESULTS_FILE,
    CaseResult,
    EvalError,
    category_scores,
    pass_hat_k,
    write_scores,
)
from nexforge.export.splits import SplitPlan
from nexforge.models.base import Model
from nexforge.models.settings import ModelSettings
from nexforge.quality.grounded import GroundedVerifier, NotChecked
from nexforge.quality.tool_validity import bad_calls
from nexforge.runtime.config.framework import Framework, load_framework
from nexforge.synthesis.engine_local import run_local
from nexforge.synthesis.fingerprint import framework_hash
from nexforge.synthesis.gate import SamplingOverrides
from nexforge.synthesis.query_files import read_queries
from nexforge.synthesis.records import QueryRecord, RolloutRecord
from nexforge.synthesis.rollout import RolloutContext, RolloutOptions, plan_tasks
from nexforge.synthesis.store import SynthesisStore

BENCHMARK = "framework"
STORE_FILE = "rollouts.sqlite"
NO_DIFFICULTY = "unrated"
EVAL_QUERIES = "kit/eval_queries.jsonl"
"""A framework's own held-out queries, used when no other source is given."""


@dataclass(frozen=True)
class HeldOut:
    """Which of a store's queries are held out: export's split, reproduced exactly."""

    split: dict[str, float]
    name: str
    seed: int = 0


@dataclass(frozen=True)
class FrameworkEvalOptions:
    trials: int = 1
    workers: int = 4
    timeout_s: float = 600.0
    retries: int = 1
    seed: int = 0
    temperature: float | None = None
    user_sim: bool = False
    max_user_turns: int = 6


@dataclass
class QuerySelection:
    """The queries an evaluation runs, and what was left out and why."""

    queries: list[QueryRecord]
    source: str
    unchecked: int = 0
    """Queries without an expected outcome: nothing to score them against."""
    not_held_out: int = 0
    limited: int = 0


def select_queries(
    framework: Framework,
    fh: str,
    *,
    queries_file: Path | None = None,
    store_path: Path | None = None,
    held_out: HeldOut | None = None,
    limit: int | None = None,
) -> QuerySelection:
    """The checkable queries from a QUERIES file or a store, in their stored order."""
    if queries_file is not None and store_path is not None:
        raise EvalError("give one of --queries FILE or --store DB, not both")
    if queries_file is None and store_path is None:
        queries_file = framework.root / EVAL_QUERIES
        if not queries_file.is_file():
            raise EvalError(
                f"framework {framework.name} ships no {EVAL_QUERIES}: "
                "give --queries FILE or --store DB"
            )
    not_held_out = 0
    if queries_file is not None:
        if held_out is not None:
            raise EvalError("--held-out selects from a store: use it with --store")
        found = read_queries(queries_file, fh)
        source = str(queries_file)
    else:
        assert store_path is not None
        found, source = _store_queries(framework, fh, store_path)
        if held_out is not None:
            kept = _held_out(found, store_path, held_out)
            not_held_out = len(found) - len(kept)
            found, source = kept, f"{source} (split {held_out.name})"
    selection = QuerySelection(queries=[], source=source, not_held_out=not_held_out)
    for query in found:
        if checkable(query):
            selection.queries.append(query)
        else:
            selection.unchecked += 1
    if limit is not None and len(selection.queries) > limit:
        selection.limited = len(selection.queries) - limit
        selection.queries = selection.queries[:limit]
    if not selection.queries:
        raise EvalError(
            f"no query in {source} has an expected outcome to score against "
            f"({selection.unchecked} without one); write queries with `nexforge queries`"
        )
    return selection


def checkable(query: QueryRecord) -> bool:
    """Whether the query says what a correct run achieves: facts, an end state, or the
    reference calls that reach one."""
    expected = query.expected
    return expected is not None and bool(
        expected.facts or expected.state_hash is not None or expected.calls
    )


async def with_end_states(
    queries: Sequence[QueryRecord], framework: Framework
) -> list[QueryRecord]:
    """Queries whose reference calls have no end-state hash get one: the calls replayed on a
    fresh copy of the environment (how hand-written held-out queries name the state)."""
    completed: list[QueryRecord] = []
    for query in queries:
        expected = query.expected
        if expected is None or not expected.calls or expected.state_hash is not None:
            completed.append(query)
            continue
        if framework.environment is None:
            raise EvalError(
                f"query {query.text!r} names reference calls, but framework {framework.name} "
                "has no environment to run them on"
            )
        calls = [(c.tool, c.arguments) for c in expected.calls]
        reached = await framework.environment.replay_calls(calls)
        update = {"expected": expected.model_copy(update={"state_hash": reached})}
        completed.append(query.model_copy(update=update))
    return completed


def _store_queries(framework: Framework, fh: str, path: Path) -> tuple[list[QueryRecord], str]:
    if not path.is_file():
        raise EvalError(f"no store at {path}")
    with SynthesisStore(path) as store:
        every = store.queries()
    mine = [q for q in every if q.framework_hash == fh]
    if not mine:
        others = sorted({q.framework or q.framework_hash for q in every})
        raise EvalError(
            f"{path} holds no queries for framework {framework.name} (hash {fh}); "
            f"its queries are for: {', '.join(others) or 'nothing yet'}"
        )
    return mine, str(path)


def _held_out(queries: list[QueryRecord], path: Path, held_out: HeldOut) -> list[QueryRecord]:
    """The queries `nexforge export --split ... --seed ...` put in the held-out split."""
    if held_out.name not in held_out.split:
        raise EvalError(
            f"--held-out {held_out.name!r} is not a split of --split "
            f"(splits: {', '.join(held_out.split)})"
        )
    with SynthesisStore(path) as store:
        every = [q.key for q in store.queries()]
    # Export ranks every query of the store, whatever its framework: so must this.
    plan = SplitPlan(held_out.split, every, held_out.seed)
    return [q for q in queries if plan.assign(q.key) == held_out.name]


OnRollout = Callable[[RolloutRecord], None]


async def run_framework_eval(
    framework_dir: Path,
    model: Model | ModelSettings | None,
    selection: QuerySelection,
    out_dir: Path,
    options: FrameworkEvalOptions,
    *,
    user_model: Model | None = None,
    on_rollout: OnRollout | None = None,
) -> dict[str, Any]:
    """Run what is not yet in the evaluation store, then score everything; the summary."""
    framework = load_framework(framework_dir)
    fh = framework_hash(framework)
    rollout_options = RolloutOptions(
        workers=options.workers,
        samples=options.trials,
        timeout_s=options.timeout_s,
        retries=options.retries,
        seed=options.seed,
        sampling=SamplingOverrides(temperature=options.temperature),
        user_sim=options.user_sim,
        max_user_turns=options.max_user_turns,
    )
    queries = await with_end_states(selection.queries, framework)
    tasks = plan_tasks(queries, options.trials)
    with SynthesisStore(out_dir / STORE_FILE) as store:
        store.remember_framework(fh, framework.name, framework_dir)
        ctx = RolloutContext(
            framework, fh, rollout_options, model=model, user_model=user_model, engine="local"
        )
        ran = await run_local(tasks, ctx, store, on_result=on_rollout)
        wanted = {task.key for task in tasks}
        rollouts = [r for r in store.rollouts() if r.key in wanted]
        verifier = GroundedVerifier(store.frameworks())
        by_key = {q.key: q for q in queries}
        results = [await _score(r, by_key[r.query_key], verifier) for r in rollouts]
    _write_results(out_dir, results)
    summary = summarise(results, options.trials)
    summary.update(
        framework=framework.name,
        framework_hash=fh,
        queries=len(selection.queries),
        source=selection.source,
        left_out={
            "no_expected_outcome": selection.unchecked,
            "not_held_out": selection.not_held_out,
            "over_limit": selection.limited,
        },
        pending=ran.pending,
        budget_spent=ran.budget_spent,
    )
    write_scores(out_dir, summary)
    return summary


async def _score(
    rollout: RolloutRecord, query: QueryRecord, verifier: GroundedVerifier
) -> CaseResult:
    trajectory = rollout.trajectory
    calls, invalid = _call_counts(trajectory)
    base: dict[str, Any] = dict(
        benchmark=BENCHMARK,
        category=query.difficulty or NO_DIFFICULTY,
        case_id=query.key,
        trial=rollout.sample,
        model=(rollout.provenance.model or ""),
        steps=rollout.usage.model_calls,
        prompt_tokens=rollout.usage.prompt_tokens,
        completion_tokens=rollout.usage.completion_tokens,
        tool_calls=calls,
        valid_tool_calls=calls - invalid,
        seconds=rollout.seconds,
    )
    stop = trajectory.stop_reason if trajectory is not None else None
    detail = {"rollout": rollout.key, "query": query.text, "stop_reason": stop}
    if rollout.status != "done":
        error = rollout.error or "the rollout failed"
        return CaseResult(**base, correct=False, reward=0.0, error=error, detail=detail)
    verdict = await verifier.check(rollout, query)
    if isinstance(verdict, NotChecked):
        # Every selected query has an expected outcome, so this is a framework that
        # changed or no longer loads: a score here would be made up.
        raise EvalError(f"cannot score rollout {rollout.key}: {verdict.reason}")
    reason = verdict.reason
    passed = verdict.passed and stop == "completed"
    if verdict.passed and not passed:
        reason = f"the run stopped with {stop}"
    detail.update(verdict.detail)
    return CaseResult(
        **base, correct=passed, reward=1.0 if passed else 0.0, reason=reason, detail=detail
    )


def _call_counts(trajectory: Trajectory | None) -> tuple[int, int]:
    """(tool calls made in every episode, of which invalid against the offered schemas)."""
    if trajectory is None:
        return 0, 0
    total = sum(
        len(message.tool_calls)
        for episode in trajectory.episodes
        for message in episode.messages
        if message.role == "assistant"
    )
    return total, len(bad_calls(trajectory))


def summarise(results: Sequence[CaseResult], trials: int) -> dict[str, Any]:
    """Success rate, pass^k, tool-call validity, steps and tokens, per difficulty."""
    by_case: dict[str, list[bool]] = defaultdict(list)
    for result in results:
        by_case[result.case_id].append(result.correct)
    runs = len(results) or 1
    calls = sum(r.tool_calls for r in results)
    valid = sum(r.valid_tool_calls for r in results)
    return {
        "benchmark": BENCHMARK,
        "model": next((r.model for r in results if r.model), ""),
        "rollouts": len(results),
        "success_rate": sum(r.correct for r in results) / runs if results else 0.0,
        "pass_hat_k": {str(k): pass_hat_k(by_case, k) for k in range(1, max(1, trials) + 1)},
        "tool_call_validity": valid / calls if calls else None,
        "tool_calls": calls,
        "mean_steps": sum(r.steps for r in results) / runs,
        "mean_tokens": sum(r.prompt_tokens + r.completion_tokens for r in results) / runs,
        "failed_runs": sum(1 for r in results if r.error is not None),
        "stop_reasons": dict(Counter(str(r.detail.get("stop_reason")) for r in results)),
        "categories": {
            name: score.model_dump() for name, score in category_scores(results).items()
        },
    }


def _write_results(folder: Path, results: Sequence[CaseResult]) -> None:
    """``results.jsonl`` from the store's current contents (rewritten whole, atomically)."""
    target = folder / RESULTS_FILE
    partial = target.with_suffix(".jsonl.partial")
    with partial.open("w", encoding="utf-8") as handle:
        for result in results:
            handle.write(result.model_dump_json() + "\n")
    partial.replace(target)


def results_of(folder: Path) -> list[dict[str, Any]]:
    """The stored per-rollout results of an evaluation folder (for reports and tests)."""
    path = folder / RESULTS_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
