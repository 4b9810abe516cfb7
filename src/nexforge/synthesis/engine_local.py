"""The local engine: hundreds of rollouts in flight on one asyncio loop, stored as they end.

A fixed pool of ``workers`` coroutines pulls tasks from a queue (no task object per
pending rollout), so memory follows what is in flight, not the size of the job. Each
finished rollout is written to the store in its own transaction before the next is
taken: killing the process loses at most the rollouts in flight, and the next run of
the same command picks up exactly the ones not stored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nexforge.synthesis.gate import BudgetSpent
from nexforge.synthesis.records import RolloutRecord
from nexforge.synthesis.rollout import RolloutContext, RolloutTask, execute_rollout
from nexforge.synthesis.store import SynthesisStore

OnResult = Callable[[RolloutRecord], None]


@dataclass
class RolloutSummary:
    """What a rollout command did (this invocation only, plus what it found stored)."""

    planned: int = 0
    already_done: int = 0
    done: int = 0
    failed: int = 0
    pending: int = 0
    """Left undone because the token budget ran out (run the command again to continue)."""
    budget_spent: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_calls: int = 0
    seconds: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)
    """First line of each failure's error -> count."""

    @property
    def rate(self) -> float:
        finished = self.done + self.failed
        return finished / self.seconds if self.seconds > 0 else 0.0

    def add(self, record: RolloutRecord) -> None:
        if record.status == "done":
            self.done += 1
        else:
            self.failed += 1
            reason = (record.error or "unknown error").splitlines()[0][:120]
            self.failures[reason] = self.failures.get(reason, 0) + 1
        self.prompt_tokens += record.usage.prompt_tokens
        self.completion_tokens += record.usage.completion_tokens
        self.model_calls += record.usage.model_calls

    def to_dict(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "already_done": self.already_done,
            "done": self.done,
            "failed": self.failed,
            "pending": self.pending,
            "budget_spent": self.budget_spent,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "model_calls": self.model_calls,
            "seconds": round(self.seconds, 3),
            "rollouts_per_s": round(self.rate, 3),
            "failures": self.failures,
        }


def remaining_tasks(
    tasks: Sequence[RolloutTask], store: SynthesisStore, *, retry_failed: bool
) -> list[RolloutTask]:
    """Store the tasks' queries and plan the tasks (both idempotent); return those not yet
    stored (or failed, when retrying failures)."""
    unique = {t.query.key: t.query for t in tasks}
    store.add_queries(unique.values())
    store.plan_rollouts((t.key, t.query.key, t.sample) for t in tasks)
    states = store.rollout_states()
    return [t for t in tasks if t.key not in states or (retry_failed and states[t.key] == "failed")]


async def run_local(
    tasks: Sequence[RolloutTask],
    ctx: RolloutContext,
    store: SynthesisStore,
    *,
    on_result: OnResult | None = None,
) -> RolloutSummary:
    """Run the tasks not yet stored, ``ctx.options.workers`` at a time."""
    started = time.perf_counter()
    summary = RolloutSummary(planned=len(tasks))
    todo = remaining_tasks(tasks, store, retry_failed=ctx.options.retry_failed)
    summary.already_done = len(tasks) - len(todo)
    queue: asyncio.Queue[RolloutTask] = asyncio.Queue()
    for task in todo:
        queue.put_nowait(task)
    stop = asyncio.Event()

    async def worker() -> None:
        while not stop.is_set():
            try:
                task = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                record = await execute_rollout(task, ctx)
            except BudgetSpent:
                stop.set()
                summary.budget_spent = True
                return
            store.put_rollout(record)
            summary.add(record)
            if on_result is not None:
                on_result(record)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, ctx.options.workers))]
    try:
        await asyncio.gather(*workers)
    finally:
        for running in workers:
            running.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    summary.pending = len(todo) - summary.done - summary.failed
    summary.seconds = time.perf_counter() - started
    return summary
