"""The quality cascade over a store: every stage's verdicts on every rollout.

Rollouts are verified concurrently (``workers`` at a time) in store order. Each one's
verdicts from structure to grounded are written in one transaction as soon as they are
known, then its judge verdict: a killed run keeps everything already written, and the
next run skips each (rollout, stage) that already has a verdict unless ``redo``. A stage's
new verdicts on a rollout replace its old ones as a set, so a stale turn-level verdict
does not survive a redo. Dedup, a property of the whole store, is recomputed every run.
Every verdict names the rollout content it judged: held verdicts on other content do not
count, and the store refuses new ones on a rollout stored again meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from nexforge.models.base import Model
from nexforge.quality.answer import check_answer
from nexforge.quality.behaviour import BehaviourLimits, check_behaviour
from nexforge.quality.dedup import DEFAULT_THRESHOLD, DedupEntry, dedup_entry, dedup_verdicts
from nexforge.quality.grounded import GroundedVerifier
from nexforge.quality.judge import JudgeFailed, JudgeSettings, judge_rollout
from nexforge.quality.policy import (
    ANSWER,
    BEHAVIOUR,
    DEDUP,
    GROUNDED,
    JUDGE,
    NOT_CHECKED,
    QUERY,
    STAGES,
    STRUCTURE,
    TOOL_VALIDITY,
    rollout_level,
)
from nexforge.quality.query_check import check_query
from nexforge.quality.structure import check_structure
from nexforge.quality.summary import CascadeSummary, StageSummary
from nexforge.quality.tool_validity import check_tool_validity
from nexforge.synthesis.dedup import MinHasher
from nexforge.synthesis.records import QueryRecord, RolloutRecord, Verdict, judged
from nexforge.synthesis.store import SynthesisStore

T = TypeVar("T")
EARLIER_STAGES = (STRUCTURE, TOOL_VALIDITY, BEHAVIOUR)
"""What the judge and dedup need to have run."""
GATING_STAGES = (STRUCTURE, TOOL_VALIDITY, BEHAVIOUR, QUERY, ANSWER, GROUNDED)
"""A rollout that failed one of these is no candidate for the judge or for dedup."""
DEDUP_BATCH = 500


@dataclass
class VerifyOptions:
    """What ``verify_store`` runs. ``stages`` empty means every stage, the judge only when
    a judge model is given; they always run in cascade order. Raises ValueError for an
    unknown stage, the judge stage without a model, or a threshold outside (0, 1]."""

    stages: tuple[str, ...] = ()
    judge: Model | None = None
    judge_threshold: float = 0.6
    dedup_threshold: float = DEFAULT_THRESHOLD
    frameworks: list[Path] = field(default_factory=list)
    redo: bool = False
    workers: int = 8
    behaviour: BehaviourLimits = field(default_factory=BehaviourLimits)
    judge_attempts: int = 2
    judge_backoff_s: float = 0.5

    def __post_init__(self) -> None:
        if not self.stages:
            self.stages = tuple(s for s in STAGES if s != JUDGE or self.judge is not None)
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            raise ValueError(f"unknown stage {unknown[0]!r}; expected one of: {', '.join(STAGES)}")
        self.stages = tuple(s for s in STAGES if s in self.stages)
        if JUDGE in self.stages and self.judge is None:
            raise ValueError("the judge stage needs a judge model (--judge MODEL)")
        for name, value in (
            ("judge threshold", self.judge_threshold),
            ("dedup threshold", self.dedup_threshold),
        ):
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        if self.workers < 1 or self.judge_attempts < 1:
            raise ValueError("workers and judge attempts must be at least 1")


async def verify_store(
    store: SynthesisStore,
    options: VerifyOptions,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> CascadeSummary:
    """Run the cascade on every stored rollout; ``progress(done, total)`` after each one."""
    started = time.perf_counter()
    run = _Run(store, options)
    total = len(store.rollout_states())
    run.summary.rollouts = total
    done = 0

    async def verify(item: tuple[int, RolloutRecord]) -> None:
        nonlocal done
        await run.verify(*item)
        done += 1
        if progress is not None:
            progress(done, total)

    await _bounded(enumerate(store.rollouts()), verify, options.workers)
    if DEDUP in options.stages:
        run.dedup()
    run.summary.seconds = time.perf_counter() - started
    return run.summary


class _Run:
    """The state of one ``verify_store`` call."""

    def __init__(self, store: SynthesisStore, options: VerifyOptions) -> None:
        self.store = store
        self.options = options
        self.stages = options.stages
        self.summary = CascadeSummary()
        self.summary.stages = {stage: StageSummary() for stage in self.stages}
        self.held = store.all_verdicts()
        self.queries: dict[str, QueryRecord | None] = {}
        self.grounded = (
            GroundedVerifier(store.frameworks(), options.frameworks)
            if GROUNDED in self.stages
            else None
        )
        self.judge = JudgeSettings(
            threshold=options.judge_threshold,
            attempts=options.judge_attempts,
            retry_backoff_s=options.judge_backoff_s,
        )
        self.hasher = MinHasher()
        self.dedup_entries: dict[int, DedupEntry] = {}
        self.content: dict[str, str] = {}
        """Rollout key -> the content hash of the record verified."""

    def _query(self, key: str) -> QueryRecord | None:
        if key not in self.queries:
            self.queries[key] = self.store.query(key)
        return self.queries[key]

    def _due(self, stage: str, held: dict[str, Verdict]) -> bool:
        """Whether ``stage`` runs on a rollout that holds ``held`` (counts a skip)."""
        if stage not in self.stages:
            return False
        if stage in held and not self.options.redo and not held[stage].detail.get(NOT_CHECKED):
            self.summary.stages[stage].skipped += 1
            return False
        return True

    async def verify(self, position: int, rollout: RolloutRecord) -> None:
        digest = self.content[rollout.key] = rollout.content_hash()
        held = rollout_level(
            [v for v in self.held.get(rollout.key, []) if v.rollout_hash == digest]
        )
        new: list[Verdict] = []
        query = self._query(rollout.query_key)
        checks: tuple[tuple[str, Callable[[RolloutRecord], list[Verdict]]], ...] = (
            (STRUCTURE, check_structure),
            (TOOL_VALIDITY, check_tool_validity),
            (BEHAVIOUR, lambda r: check_behaviour(r, self.options.behaviour)),
            (QUERY, lambda r: check_query(r, query)),
            (ANSWER, lambda r: check_answer(r, query, query.type_tools if query else None)),
        )
        for stage, check in checks:
            if self._due(stage, held):
                found = check(rollout)
                self.summary.stages[stage].count(found)
                new += found
        if self.grounded is not None and self._due(GROUNDED, held):
            result = await self.grounded.check(rollout, query)
            if result.detail.get(NOT_CHECKED):
                self.summary.stages[GROUNDED].not_checked[result.reason] += 1
            else:
                self.summary.stages[GROUNDED].count([result])
            new.append(result)
        if new:
            self.store.put_verdicts(judged(new, digest), replace=True)
        current = held | rollout_level(new)
        ran = all(stage in current for stage in EARLIER_STAGES)
        passed = ran and all(v.passed for s, v in current.items() if s in GATING_STAGES)
        if self._due(JUDGE, held):
            await self._judge(rollout, ran=ran, passed=passed)
        if DEDUP in self.stages:
            if ran:
                self.dedup_entries[position] = dedup_entry(
                    rollout.key, rollout.trajectory, candidate=passed, hasher=self.hasher
                )
            else:
                self.summary.stages[DEDUP].not_checked["earlier stages have not run"] += 1

    async def _judge(self, rollout: RolloutRecord, *, ran: bool, passed: bool) -> None:
        counts = self.summary.stages[JUDGE]
        if not ran:
            counts.not_checked["earlier stages have not run"] += 1
            return
        if not passed:
            counts.not_checked["failed an earlier stage"] += 1
            return
        assert self.options.judge is not None
        try:
            verdict = await judge_rollout(
                self.options.judge, rollout, self._query(rollout.query_key), self.judge
            )
        except JudgeFailed as exc:
            counts.not_checked[f"judge call failed: {exc}"] += 1
            return
        self.store.put_verdicts(judged([verdict], self.content[rollout.key]), replace=True)
        counts.count([verdict])

    def dedup(self) -> None:
        entries = [self.dedup_entries[i] for i in sorted(self.dedup_entries)]
        verdicts = [
            v.model_copy(update={"rollout_hash": self.content[v.rollout_key]})
            for v in dedup_verdicts(entries, self.options.dedup_threshold)
        ]
        for start in range(0, len(verdicts), DEDUP_BATCH):
            self.store.put_verdicts(verdicts[start : start + DEDUP_BATCH], replace=True)
        counts = self.summary.stages[DEDUP]
        for verdict in verdicts:
            counts.count([verdict])


async def _bounded(
    items: Iterable[T], work: Callable[[T], Coroutine[Any, Any, None]], limit: int
) -> None:
    """Run ``work`` on each item, at most ``limit`` at a time, started in item order.
    The first exception cancels the rest and is raised."""
    pending: set[asyncio.Task[None]] = set()
    try:
        for item in items:
            if len(pending) >= limit:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                _raise_first(finished)
            pending.add(asyncio.create_task(work(item)))
        while pending:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            _raise_first(finished)
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def _raise_first(finished: set[asyncio.Task[None]]) -> None:
    # Every finished task's exception is retrieved, so none is reported as unhandled.
    errors = [error for task in finished if (error := task.exception()) is not None]
    if errors:
        raise errors[0]
