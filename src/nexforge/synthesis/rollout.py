"""One rollout: run a framework's entry agent on a query, with a timeout and retries.

The engines (``engine_local``, ``engine_ray``) decide where rollouts run; this module
decides what one rollout is. Its run id is its rollout key, its seed is derived from the
run's seed and that key, and it runs on its own copy of the environment (the runtime
opens one per run). A rollout ends ``done`` (the agent stopped for any reason other
than a fault), ``failed`` (faults on every attempt: the last error and trajectory are
kept), or not at all when the token budget ran out (``BudgetSpent``; it stays pending).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from nexforge import __version__
from nexforge.core.errors import describe_error
from nexforge.core.trajectory import RunResult, Trajectory, Usage
from nexforge.models.base import Model
from nexforge.models.settings import ModelSettings
from nexforge.runtime.config.framework import Framework
from nexforge.synthesis.fingerprint import file_sha256
from nexforge.synthesis.gate import (
    BudgetSpent,
    EndpointGates,
    GatedModel,
    SamplingOverrides,
    TokenBudget,
)
from nexforge.synthesis.records import (
    QueryRecord,
    RolloutProvenance,
    RolloutRecord,
    content_key,
    rollout_key,
)

log = logging.getLogger(__name__)

FAULT_STOPS = frozenset({"error"})
"""Stop reasons that mean the rollout hit a fault (retried), not an agent outcome."""


@dataclass(frozen=True)
class RolloutOptions:
    """How rollouts run. ``workers`` bounds rollouts in flight (per process)."""

    workers: int = 64
    samples: int = 1
    timeout_s: float = 900.0
    retries: int = 2
    retry_backoff_s: float = 1.0
    token_budget: int | None = None
    endpoint_concurrency: int | None = None
    sampling: SamplingOverrides = field(default_factory=SamplingOverrides)
    seed: int = 0
    retry_failed: bool = False
    user_sim: bool = False
    max_user_turns: int = 6

    @property
    def longest_rollout_s(self) -> float:
        """The longest one rollout can take: every attempt timing out, plus the backoffs."""
        backoffs = self.retry_backoff_s * ((1 << self.retries) - 1)
        return (self.retries + 1) * self.timeout_s + backoffs


@dataclass(frozen=True)
class RolloutTask:
    key: str
    query: QueryRecord
    sample: int


def plan_tasks(queries: Iterable[QueryRecord], samples: int) -> list[RolloutTask]:
    """``samples`` tasks per query, keyed by (query key, sample index)."""
    if samples < 1:
        raise ValueError("samples must be >= 1")
    return [
        RolloutTask(rollout_key(query.key, sample), query, sample)
        for query in queries
        for sample in range(samples)
    ]


def rollout_seed(run_seed: int, key: str) -> int:
    """A per-rollout seed: samples of one query differ, re-runs of one rollout agree."""
    return int(content_key("seed", str(run_seed), key), 16) % (2**31 - 1)


@dataclass
class RolloutContext:
    """What every rollout of one run shares: the framework, the model, gates and budget."""

    framework: Framework
    framework_hash: str
    options: RolloutOptions
    model: Model | ModelSettings | None = None
    user_model: Model | None = None
    engine: str = "local"
    budget: TokenBudget = field(init=False)
    gates: EndpointGates = field(init=False)

    def __post_init__(self) -> None:
        self.budget = TokenBudget(self.options.token_budget)
        self.gates = EndpointGates(self.options.endpoint_concurrency)


async def execute_rollout(task: RolloutTask, ctx: RolloutContext) -> RolloutRecord:
    """Run ``task`` with retries; raises ``BudgetSpent`` (nothing to store) when the budget
    ran out before the rollout could finish."""
    options = ctx.options
    seed = rollout_seed(options.seed, task.key)
    sampling = SamplingOverrides(
        temperature=options.sampling.temperature,
        top_p=options.sampling.top_p,
        max_tokens=options.sampling.max_tokens,
        seed=seed,
    )
    started = time.time()
    usage = Usage()
    error: str | None = None
    trajectory: Trajectory | None = None
    attempt = 0
    for attempt in range(1, options.retries + 2):
        models: list[Model] = []
        result, trajectory, error = await _attempt(task, ctx, sampling, models)
        if trajectory is not None:
            _add_usage(usage, trajectory.usage)
            _fill_provenance(trajectory, ctx, sampling, models)
        if result is not None and result.stop_reason not in FAULT_STOPS:
            return _record(task, ctx, "done", attempt, trajectory, None, usage, started, seed)
        log.info("rollout %s attempt %d failed: %s", task.key, attempt, error)
        if attempt <= options.retries:
            await asyncio.sleep(options.retry_backoff_s * 2 ** (attempt - 1))
    return _record(task, ctx, "failed", attempt, trajectory, error, usage, started, seed)


async def _attempt(
    task: RolloutTask, ctx: RolloutContext, sampling: SamplingOverrides, models: list[Model]
) -> tuple[RunResult | None, Trajectory | None, str | None]:
    def wrap(model: Model) -> Model:
        models.append(model)
        return GatedModel(
            model, gate=ctx.gates.for_model(model), budget=ctx.budget, sampling=sampling
        )

    meta = _query_meta(task)
    agent = ctx.framework.entry
    conversation = agent.conversation(
        model=ctx.model,
        run_id=task.key,
        framework=ctx.framework.name,
        query_meta=meta,
        wrap_model=wrap,
    )
    result: RunResult | None = None
    error: str | None = None
    try:
        async with asyncio.timeout(ctx.options.timeout_s):
            if ctx.options.user_sim:
                result = await _with_user(task, ctx, conversation, sampling)
            else:
                result = await conversation.send(task.query.text)
        error = result.error
    except BudgetSpent:
        raise
    except TimeoutError:
        error = f"rollout timed out after {ctx.options.timeout_s:g} s"
    except Exception as exc:  # a crash in a tool or the runtime: recorded and retried
        error = describe_error(exc)
    finally:
        await conversation.aclose()
    trajectory = _trajectory_of(conversation)
    return result, trajectory, error


async def _with_user(
    task: RolloutTask, ctx: RolloutContext, conversation: object, sampling: SamplingOverrides
) -> RunResult:
    from nexforge.runtime.conversation import Conversation
    from nexforge.synthesis.user_sim import continue_with_user

    assert isinstance(conversation, Conversation)
    if ctx.user_model is None:
        raise ValueError("--user-sim needs a user model")
    # The simulator's calls share the endpoint caps and the token budget with the agents'.
    user = GatedModel(
        ctx.user_model,
        gate=ctx.gates.for_model(ctx.user_model),
        budget=ctx.budget,
        sampling=SamplingOverrides(seed=sampling.seed),
    )
    return await continue_with_user(
        conversation, task.query, user_model=user, max_turns=ctx.options.max_user_turns
    )


def _trajectory_of(conversation: object) -> Trajectory | None:
    try:
        trajectory = conversation.trajectory  # type: ignore[attr-defined]
    except RuntimeError:  # never started (e.g. the model could not be resolved)
        return None
    assert isinstance(trajectory, Trajectory)
    return trajectory


def _query_meta(task: RolloutTask) -> dict[str, object]:
    query = task.query
    return {
        "query_key": query.key,
        "sample": task.sample,
        "persona": (query.persona or {}).get("id"),
        "path": list(query.path),
        "difficulty": query.difficulty,
    }


def _fill_provenance(
    trajectory: Trajectory, ctx: RolloutContext, sampling: SamplingOverrides, models: list[Model]
) -> None:
    provenance = trajectory.provenance
    provenance.framework_hash = ctx.framework_hash
    provenance.sampling = sampling.as_dict()
    path = next((getattr(m, "path", None) for m in models if hasattr(m, "path")), None)
    if isinstance(path, Path) and path.is_file():
        provenance.model_sha = file_sha256(path)


def _add_usage(total: Usage, more: Usage) -> None:
    total.prompt_tokens += more.prompt_tokens
    total.completion_tokens += more.completion_tokens
    total.model_calls += more.model_calls
    total.tool_calls += more.tool_calls


def _record(
    task: RolloutTask,
    ctx: RolloutContext,
    status: str,
    attempts: int,
    trajectory: Trajectory | None,
    error: str | None,
    usage: Usage,
    started: float,
    seed: int,
) -> RolloutRecord:
    provenance = trajectory.provenance if trajectory is not None else None
    return RolloutRecord.model_validate(
        {
            "key": task.key,
            "query_key": task.query.key,
            "sample": task.sample,
            "status": status,
            "attempts": attempts,
            "trajectory": trajectory,
            "error": error,
            "usage": usage,
            "started_at": started,
            "seconds": round(time.time() - started, 3),
            "provenance": RolloutProvenance(
                framework_hash=ctx.framework_hash,
                model=provenance.model if provenance else None,
                model_sha=provenance.model_sha if provenance else None,
                package_version=__version__,
                sampling=provenance.sampling if provenance else {},
                seed=seed,
                engine=ctx.engine,
                user_sim=ctx.options.user_sim,
            ),
        }
    )
