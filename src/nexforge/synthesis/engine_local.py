"""The local engine: hundreds of rollouts in flight on one asyncio loop, stored as they end.

A fixed pool of ``workers`` coroutines pulls tasks from a queue (no task object per
pending rollout), so memory follows what is in flight, not the size of the job. Each
finished rollout is written to the store in its own transaction before the next is
taken: killing the process loses at most the rollouts in flight, and the next run of
the same command picks up exactly the ones not stored.

A worker claims each rollout in the store before running it (``store_claims``), so
several processes on one store split the work: a rollout another live process is running
is left to it, and one it stored meanwhile is not run again.
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
from nexforge.synthesis.store_claims import ClaimOwner

OnResult = Callable[[RolloutRecord], None]
CLAIM_MARGIN_S = 120.0
"""Added to the longest a rollout can take for a claim's lease (closing tools, storing)."""


@dataclass
class RolloutSummary:
    """What a rollout command did (this invocation only, plus what it found stored)."""

    planned: int = 0
    already_done: int = 0
    done: int = 0
    failed: int = 0
    pending: int = 0
    """Left undone because the token budget ran out (run the command again to continue)."""
    busy: int = 0
    """Left to another process on the store that is running them."""
    discarded: int = 0
    """Run here, but another process had stored them first: its copies were kept."""
    budget_spent: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_calls: int = 0
    seconds: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)
    """First line of each failure's error -> count."""

    def settle(self, started: float) -> None:
        """Count what is left pending, and the run's seconds since ``started``."""
        finished = self.already_done + self.done + self.failed + self.busy + self.discarded
        self.pending = self.planned - finished
        self.seconds = time.perf_counter() - started

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
            "busy": self.busy,
            "discarded": self.discarded,
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


class StoreWriter:
    """How an engine's run writes to the store: claim each rollout before running it,
    store it with its claim, count what other writers hold. Use as a context manager: on
    exit the run's remaining claims end (their rollouts stay pending)."""

    def __init__(
        self,
        store: SynthesisStore,
        ctx: RolloutContext,
        summary: RolloutSummary,
        on_result: OnResult | None,
    ) -> None:
        self.store = store
        self.summary = summary
        self.owner = ClaimOwner.this_process()
        self._lease_s = ctx.options.longest_rollout_s + CLAIM_MARGIN_S
        self._retry_failed = ctx.options.retry_failed
        self._on_result = on_result

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.release_claims(self.owner)

    def claim(self, task: RolloutTask) -> bool:
        """Whether this run is to run ``task`` (False: stored or run by another writer)."""
        outcome = self.store.claim_rollout(
            task.key, self.owner, lease_s=self._lease_s, retry_failed=self._retry_failed
        )
        if outcome == "stored":
            self.summary.already_done += 1
        elif outcome == "busy":
            self.summary.busy += 1
        return outcome == "claimed"

    def put(self, record: RolloutRecord) -> None:
        if not self.store.put_rollout(record, owner=self.owner):
            self.summary.discarded += 1
            return
        self.summary.add(record)
        if self._on_result is not None:
            self._on_result(record)


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

    async def worker(writer: StoreWriter) -> None:
        while not stop.is_set():
            try:
                task = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if not writer.claim(task):
                continue
            try:
                record = await execute_rollout(task, ctx)
            except BudgetSpent:
                stop.set()
                summary.budget_spent = True
                return
            writer.put(record)

    with StoreWriter(store, ctx, summary, on_result) as writer:
        workers = [asyncio.create_task(worker(writer)) for _ in range(max(1, ctx.options.workers))]
        try:
            await asyncio.gather(*workers)
        finally:
            for running in workers:
                running.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
    summary.settle(started)
    return summary
