"""``generate_queries``: a seeded, resumable query set for a framework (NexGAP queries).

Each slot of the set is planned in order (``planner``), then attempted (``query_slot``):
grounded in records read from the environment, written by the model, its expected
outcome checked, reviewed. Attempts for up to ``concurrency`` slots run at once, but
they are accepted strictly in slot order, so near-duplicate removal and the store see
the same sequence however the model calls interleave: the same seed gives the same set.

Accepting a query stores it and counts its path for the sampler in one transaction.
A rejected attempt (a near-duplicate, no evidence, a failed stage) is stored with its
reason and the slot is tried again with the next attempt; after ``max_attempts`` the
slot is given up (also stored) and a later slot takes its place, up to ``2 * n`` slots.
A re-run continues after what the store holds for (framework hash, seed): the plans are
recomputed from the same counts, accepted and given-up slots are skipped, and a slot
with rejected attempts resumes at its next attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from nexforge.architect.ask import StageUsage
from nexforge.architect.framework_files import (
    PERSONAS_FILE,
    PROBLEM_TYPES_FILE,
    FrameworkFiles,
    read_framework_files,
)
from nexforge.architect.smoke import agents_by_name
from nexforge.core.errors import NexForgeError
from nexforge.models.base import Model
from nexforge.runtime.config.framework import Framework, load_framework
from nexforge.synthesis.dedup import NearDuplicateIndex
from nexforge.synthesis.fingerprint import framework_hash
from nexforge.synthesis.grounding import environment_run
from nexforge.synthesis.growth import grow_type, grown_id
from nexforge.synthesis.planner import SlotPlan, SlotPlanner
from nexforge.synthesis.problem_tree import GrownType, ProblemTree, TypePath, grown_from_store
from nexforge.synthesis.query_options import QueriesSummary, QueryOptions
from nexforge.synthesis.query_slot import Rejection, SlotWork, attempt_slot
from nexforge.synthesis.records import QueryRecord
from nexforge.synthesis.store import SynthesisStore
from nexforge.tools.base import Tool

__all__ = ["QueriesSummary", "QueryOptions", "generate_queries", "load_query_kit"]

log = logging.getLogger(__name__)

GAVE_UP = "gave_up"
Progress = Callable[[str], None]


async def generate_queries(
    framework_dir: str | Path,
    *,
    n: int,
    store: SynthesisStore,
    seed: int = 0,
    model: Model,
    options: QueryOptions | None = None,
    progress: Progress | None = None,
) -> QueriesSummary:
    """Make the store hold ``n`` accepted queries for (this framework, ``seed``).

    Raises NexForgeError when the framework has no query kit or no environment, and
    ConfigError for a malformed framework folder; model errors propagate (re-run to resume).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    framework, files = load_query_kit(framework_dir)
    run = _QueryRun(framework, files, store, seed, model, options or QueryOptions(), progress)
    return await run.run(n)


def load_query_kit(framework_dir: str | Path) -> tuple[Framework, FrameworkFiles]:
    """The framework (loaded) and its files, checked to hold a kit and an environment."""
    folder = Path(framework_dir).resolve()
    root = folder.parent if folder.is_file() else folder
    files = read_framework_files(root)
    if not files.personas or files.problem_types is None:
        raise NexForgeError(
            f"{root} has no query kit ({PERSONAS_FILE} and {PROBLEM_TYPES_FILE}): run "
            f"`nexforge build --from-config {root}` to write one, or add the kit/ files"
        )
    framework = load_framework(root)
    if framework.environment is None:
        raise NexForgeError(
            f"{root}: queries are grounded in the framework's environment, and it has none "
            "(declare environment: in framework.yaml)"
        )
    return framework, files


class _QueryRun:
    def __init__(
        self,
        framework: Framework,
        files: FrameworkFiles,
        store: SynthesisStore,
        seed: int,
        model: Model,
        options: QueryOptions,
        progress: Progress | None,
    ) -> None:
        assert framework.environment is not None and files.problem_types is not None
        self.framework = framework
        self.environment = framework.environment
        self.store = store
        self.seed = seed
        self.model = model
        self.options = options
        self.progress = progress or (lambda _: None)
        self.fh = framework_hash(framework)
        store.remember_framework(self.fh, framework.name, framework.source)
        self.usage = StageUsage()
        self.summary = QueriesSummary(framework.name, self.fh, seed, requested=0)
        self.accepted: dict[int, QueryRecord] = {}
        self.given_up: set[int] = set()
        self.next_attempt: dict[int, int] = {}
        self._resume_state()
        self.index = NearDuplicateIndex(options.dedup_threshold)
        for record in store.queries(self.fh):
            self.index.add(record.key, record.text)
        tree, self.own_grown = self._tree(ProblemTree(files.problem_types))
        self.planner = SlotPlanner(
            tree,
            files.personas,
            self._base_counts(),
            seed=seed,
            alpha=options.alpha,
            difficulty_mix=options.difficulty_mix,
            grow_p=options.grow_p,
            grower=self._grow,
        )

    # --- what the store already holds ---------------------------------------------------

    def _resume_state(self) -> None:
        for record in self.store.queries(self.fh, seed=self.seed):
            if record.slot is not None:
                self.accepted.setdefault(record.slot, record)
        for row in self.store.rejections(self.fh, self.seed):
            if str(row["reason"]).startswith(GAVE_UP):
                self.given_up.add(row["slot"])
            else:
                self.next_attempt[row["slot"]] = max(
                    self.next_attempt.get(row["slot"], 0), row["attempt"] + 1
                )

    def _base_counts(self) -> Counter[TypePath]:
        """The store's counts without this seed's accepted queries (re-planned here)."""
        counts = Counter(self.store.path_counts(self.fh))
        counts.subtract(Counter(tuple(r.path) for r in self.accepted.values() if r.path))
        return +counts

    def _tree(self, tree: ProblemTree) -> tuple[ProblemTree, dict[int, GrownType]]:
        """The kit's tree with types other runs grew; this seed's, by slot, to re-use."""
        own: dict[int, GrownType] = {}
        for parent, stored in self.store.grown_types(self.fh):
            grown = grown_from_store(parent, stored)
            if grown is None:
                log.warning("ignoring a malformed grown problem type under %s", parent)
            elif grown.seed == self.seed and grown.slot is not None:
                own[grown.slot] = grown
            else:
                try:
                    tree = tree.with_type(grown)
                except (KeyError, ValueError) as exc:
                    log.warning("ignoring grown problem type %s: %s", grown.node.id, exc)
        return tree, own

    # --- the run --------------------------------------------------------------------------

    async def run(self, n: int) -> QueriesSummary:
        started = time.perf_counter()
        self.summary.requested = n
        async with environment_run(self.environment, "grounding") as grounding:
            work = SlotWork(
                self.framework.name,
                self.fh,
                self.seed,
                self.environment,
                grounding,
                self.model,
                self.options,
                self.usage,
            )
            try:
                await self._fill(work, n)
            finally:
                self._finish_summary(n, time.perf_counter() - started)
        return self.summary

    async def _fill(self, work: SlotWork, n: int) -> None:
        max_slots = 2 * n
        tasks: dict[int, asyncio.Task[QueryRecord | Rejection]] = {}
        plans: dict[int, SlotPlan] = {}
        slot = 0
        try:
            while len(self.accepted) < n and slot < max_slots:
                wanted = min(self.options.concurrency, n - len(self.accepted))
                while self.planner.next_slot < max_slots and len(tasks) < wanted:
                    plan = await self.planner.plan(self.planner.next_slot)
                    if self._open(plan.slot):
                        plan = self._resumed(plan)
                        plans[plan.slot] = plan
                        tasks[plan.slot] = asyncio.create_task(attempt_slot(work, plan))
                if self._open(slot):
                    assert slot in plans  # launching plans at least up to the first open slot
                    await self._settle(work, plans.pop(slot), tasks.pop(slot))
                self.planner.forget(slot)
                slot += 1
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)

    def _open(self, slot: int) -> bool:
        return slot not in self.accepted and slot not in self.given_up

    def _resumed(self, plan: SlotPlan) -> SlotPlan:
        """The plan of the attempt a slot resumes at (after attempts already rejected)."""
        attempt = min(self.next_attempt.get(plan.slot, 0), self.options.max_attempts - 1)
        return plan if attempt == 0 else self.planner.replan(plan.slot, attempt)

    async def _settle(
        self, work: SlotWork, plan: SlotPlan, task: asyncio.Task[QueryRecord | Rejection]
    ) -> None:
        """Accept the slot's outcome, or reject it and retry until accepted or given up."""
        outcome = await task
        while True:
            rejection = self._accept(outcome) if isinstance(outcome, QueryRecord) else outcome
            if rejection is None:
                return
            kind = rejection.kind
            self.summary.rejected[kind] = self.summary.rejected.get(kind, 0) + 1
            last = plan.attempt + 1 >= self.options.max_attempts
            with self.store.transaction() as tx:
                self.store.add_rejection(
                    self.fh,
                    self.seed,
                    plan.slot,
                    plan.attempt,
                    rejection.reason,
                    rejection.text,
                    db=tx,
                )
                if last:
                    self.store.add_rejection(
                        self.fh,
                        self.seed,
                        plan.slot,
                        plan.attempt + 1,
                        f"{GAVE_UP}: after {plan.attempt + 1} attempts; last: {rejection.reason}",
                        db=tx,
                    )
            self.progress(f"slot {plan.slot} attempt {plan.attempt}: {rejection.reason}")
            if last:
                self.given_up.add(plan.slot)
                self.summary.given_up += 1
                return
            plan = self.planner.replan(plan.slot, plan.attempt + 1)
            outcome = await attempt_slot(work, plan)

    def _accept(self, record: QueryRecord) -> Rejection | None:
        signature = self.index.signature(record.text)
        near = self.index.nearest(signature)
        if near is not None:
            key, similarity = near
            detail = f"estimated Jaccard {similarity:.2f} with query {key}"
            return Rejection("near_duplicate", detail, record.text)
        with self.store.transaction() as tx:
            added = self.store.add_query(record, bump_path=True, db=tx)
        if not added:
            return Rejection("duplicate", f"query {record.key} is already stored", record.text)
        assert record.slot is not None
        self.index.add(record.key, signature)
        self.accepted[record.slot] = record
        self.summary.new += 1
        self.progress(f"slot {record.slot}: {record.text[:100]}")
        return None

    # --- growth -------------------------------------------------------------------------

    async def _grow(self, slot: int, tree: ProblemTree, parent: TypePath) -> GrownType:
        node_id = grown_id(parent[-1], self.seed, slot)
        stored = self.own_grown.get(slot)
        if stored is not None and stored.node.id == node_id:
            return stored
        usage = StageUsage()
        try:
            node = await grow_type(
                self.model,
                tree,
                parent,
                self._growth_tools(),
                node_id=node_id,
                settings=self.options.ask,
                usage=usage,
            )
        finally:
            self.usage.add(usage)
        grown = GrownType(parent[-1], node, self.seed, slot)
        if self.store.add_grown_type(self.fh, parent[-1], grown.to_store()):
            self.summary.grown += 1
            return grown
        # Another process running the same seed grew this slot first: use what it stored.
        for stored_parent, stored_node in self.store.grown_types(self.fh):
            theirs = grown_from_store(stored_parent, stored_node)
            if theirs is not None and theirs.node.id == node_id:
                return theirs
        return grown

    def _growth_tools(self) -> list[Tool]:
        """Environment tools some agent holds: a grown type must stay solvable."""
        held = {t.name for a in agents_by_name(self.framework.entry).values() for t in a.tools}
        tools = [t for t in self.environment.tools if t.name in held]
        return tools or self.environment.tools

    def _finish_summary(self, n: int, seconds: float) -> None:
        self.summary.queries = [self.accepted[s] for s in sorted(self.accepted)][:n]
        self.summary.model_calls = self.usage.model_calls
        self.summary.prompt_tokens = self.usage.prompt_tokens
        self.summary.completion_tokens = self.usage.completion_tokens
        self.summary.seconds = seconds
