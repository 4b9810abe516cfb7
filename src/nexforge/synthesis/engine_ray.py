"""The Ray engine: rollouts spread over Ray actors, stored by the driver as they arrive.

Same contract as ``engine_local.run_local``: the driver plans the work in the store,
claims and dispatches what is not stored yet, and writes each finished rollout in its own
transaction, so killing the driver loses at most the rollouts in flight and re-running
the same command finishes the rest. Workers never touch the store.

Each actor loads the framework once from its folder (the same path on every node: a
local cluster or a shared file system; the actor checks the framework hash), builds its
own ``RolloutContext`` and runs up to ``workers / num_actors`` rollouts at a time on its
event loop with ``execute_rollout``, the same code the local engine runs. Rollout keys,
run ids and per-rollout seeds are the same as the local engine's, so a rollout's content
does not depend on the engine (only its timings and ``provenance.engine`` do).

Models travel pickled: ``ModelSettings`` or a picklable Model (e.g. ``ScriptedModel``
with a module-level responder). In-process llama.cpp models are not shipped: the driver
serves each once with ``nexforge serve-model`` and workers call it over HTTP (see
``served_model``).

The token budget is the driver's: each actor reports what it has spent with every
result, the driver stops dispatching once the sum reaches the budget, and a rollout an
actor had to abandon (``BudgetSpent``) comes back as "not done" and stays pending.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from nexforge.core.errors import NexForgeError
from nexforge.models.base import Model
from nexforge.models.settings import ModelSettings
from nexforge.runtime.config.framework import load_framework
from nexforge.synthesis.engine_local import (
    OnResult,
    RolloutSummary,
    StoreWriter,
    remaining_tasks,
)
from nexforge.synthesis.fingerprint import framework_hash
from nexforge.synthesis.gate import BudgetSpent
from nexforge.synthesis.records import RolloutRecord
from nexforge.synthesis.rollout import RolloutContext, RolloutOptions, RolloutTask, execute_rollout
from nexforge.synthesis.served_model import WorkerModels, apply_agent_models, models_for_workers
from nexforge.synthesis.store import SynthesisStore

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'nexforge[ray]'"
Outcome = tuple[str | None, int]
"""What an actor returns: the rollout record as JSON (None: the budget ran out before it
finished) and the tokens that actor has spent so far."""


class RayUnavailableError(NexForgeError):
    """Ray is not installed (or cannot be imported)."""


class RolloutWorker:
    """A Ray actor (created with ``ray.remote``): one framework, many rollouts at a time."""

    def __init__(
        self,
        source: str,
        expected_hash: str,
        options: RolloutOptions,
        models: WorkerModels,
    ) -> None:
        os.environ.update(models.env)
        framework = load_framework(source)
        found = framework_hash(framework)
        if found != expected_hash:
            raise NexForgeError(
                f"the framework at {source} on this Ray node has hash {found}, the driver's "
                f"has {expected_hash}: every node needs the same framework folder"
            )
        apply_agent_models(framework.entry, models.agent_models)
        self._ctx = RolloutContext(
            framework,
            expected_hash,
            options,
            model=models.model,
            user_model=_as_model(models.user_model),
            engine="ray",
        )

    async def run(self, task: RolloutTask, allowance: int | None) -> Outcome:
        """Run one rollout; ``allowance`` is what is left of the run's budget (None: no budget)."""
        budget = self._ctx.budget
        if allowance is not None:
            budget.limit = budget.spent + allowance
        try:
            record = await execute_rollout(task, self._ctx)
        except BudgetSpent:
            return None, budget.spent
        return record.model_dump_json(), budget.spent


def _as_model(model: Model | ModelSettings | None) -> Model | None:
    if not isinstance(model, ModelSettings):
        return model
    from nexforge.models.resolve import ModelResolver

    return ModelResolver(model).resolve("user_sim", None, None)


async def run_ray(
    tasks: Sequence[RolloutTask],
    ctx: RolloutContext,
    store: SynthesisStore,
    *,
    address: str | None = None,
    on_result: OnResult | None = None,
    num_actors: int | None = None,
) -> RolloutSummary:
    """Run the tasks not yet stored on Ray, ``ctx.options.workers`` at a time.

    A process that has already joined Ray (``ray.init``) keeps its instance. Otherwise
    ``address`` names the cluster to join (``"auto"``, ``"ray://host:10001"``...), and
    without it a local instance (one CPU per core) is started here and shut down at the
    end. ``num_actors``: by default one per CPU of the cluster, at most ``workers``.
    """
    started = time.perf_counter()
    summary = RolloutSummary(planned=len(tasks))
    todo = remaining_tasks(tasks, store, retry_failed=ctx.options.retry_failed)
    summary.already_done = len(tasks) - len(todo)
    if todo:
        ray = import_ray()
        with ExitStack() as stack:
            stack.enter_context(_connected(ray, address))
            models = stack.enter_context(models_for_workers(ctx))
            actors = _start_actors(ray, ctx, models, num_actors)
            stack.callback(_kill_all, ray, actors)
            # Fail here, with the actor's own error, if a worker cannot load the framework.
            await asyncio.gather(*(_awaitable(a.__ray_ready__.remote()) for a in actors))
            per_actor = math.ceil(max(1, ctx.options.workers) / len(actors))
            dispatch = _Dispatch(ray, actors, per_actor, ctx.options.token_budget)
            writer = stack.enter_context(StoreWriter(store, ctx, summary, on_result))
            await dispatch.run(todo, writer, models.model_shas)
    summary.settle(started)
    return summary


class _Dispatch:
    """The driver's loop: at most ``per_actor`` rollouts in flight on each actor.

    Finished rollouts arrive on a queue (each future puts itself there when done), so the
    driver's cost per rollout does not grow with the number in flight.
    """

    def __init__(self, ray: Any, actors: list[Any], per_actor: int, budget: int | None) -> None:
        self._ray = ray
        self._actors = actors
        self._per_actor = per_actor
        self._budget = budget
        self._load = [0] * len(actors)
        self._spent = [0] * len(actors)
        self._in_flight: dict[asyncio.Future[Outcome], tuple[int, Any]] = {}
        self._finished: asyncio.Queue[asyncio.Future[Outcome]] = asyncio.Queue()

    def _allowance(self) -> int | None:
        return None if self._budget is None else self._budget - sum(self._spent)

    def _submit(self, task: RolloutTask) -> None:
        index = min(range(len(self._actors)), key=self._load.__getitem__)
        ref = self._actors[index].run.remote(task, self._allowance())
        future: asyncio.Future[Outcome] = _awaitable(ref)
        future.add_done_callback(self._finished.put_nowait)
        self._in_flight[future] = (index, ref)
        self._load[index] += 1

    async def run(
        self, todo: Sequence[RolloutTask], writer: StoreWriter, model_shas: dict[str, str]
    ) -> None:
        summary = writer.summary
        queue = iter(todo)
        capacity = self._per_actor * len(self._actors)
        stopping = False
        try:
            while True:
                while not stopping and len(self._in_flight) < capacity:
                    allowance = self._allowance()
                    if allowance is not None and allowance <= 0:
                        stopping = summary.budget_spent = True
                        break
                    task = next(queue, None)
                    if task is None:
                        stopping = True
                        break
                    if writer.claim(task):
                        self._submit(task)
                if not self._in_flight:
                    return
                future = await self._finished.get()
                index, _ref = self._in_flight.pop(future)
                self._load[index] -= 1
                payload, spent = future.result()
                self._spent[index] = max(self._spent[index], spent)
                if payload is None:
                    stopping = summary.budget_spent = True
                    continue
                writer.put(_with_model_sha(RolloutRecord.model_validate_json(payload), model_shas))
        finally:
            self._cancel_in_flight()

    def _cancel_in_flight(self) -> None:
        for future, (_index, ref) in self._in_flight.items():
            future.remove_done_callback(self._finished.put_nowait)
            future.cancel()
            try:
                self._ray.cancel(ref)
            except Exception as exc:  # the actor may already be gone; it is killed next
                log.debug("cancelling a rollout on Ray failed: %s", exc)
        self._in_flight.clear()


def _with_model_sha(record: RolloutRecord, model_shas: dict[str, str]) -> RolloutRecord:
    """Workers call served models over HTTP and cannot hash their files: the driver can."""
    sha = model_shas.get(record.provenance.model or "")
    if sha is None or record.provenance.model_sha is not None:
        return record
    record.provenance.model_sha = sha
    if record.trajectory is not None:
        record.trajectory.provenance.model_sha = sha
    return record


def import_ray() -> Any:
    """Ray, imported on first use (it is an optional extra)."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailableError(
            f"the ray engine needs Ray ({exc}): {INSTALL_HINT}, or use --engine local"
        ) from exc
    return ray


@contextmanager
def _connected(ray: Any, address: str | None) -> Iterator[None]:
    """Join ``address``, or the Ray instance already joined, or start a local one."""
    if ray.is_initialized():
        yield
        return
    if address is None:
        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _start_actors(
    ray: Any, ctx: RolloutContext, models: WorkerModels, num_actors: int | None
) -> list[Any]:
    cpus = float(ray.cluster_resources().get("CPU", 0.0))
    workers = max(1, ctx.options.workers)
    count = num_actors if num_actors is not None else min(workers, max(1, int(cpus)))
    if count < 1:
        raise ValueError("num_actors must be >= 1")
    per_actor = math.ceil(workers / count)
    # CPUs per actor only spread actors over the nodes: they are I/O-bound coroutines.
    remote = ray.remote(RolloutWorker).options(
        num_cpus=round(cpus / count, 4) if cpus else 0,
        max_concurrency=per_actor,
    )
    source = str(ctx.framework.source)
    return [remote.remote(source, ctx.framework_hash, ctx.options, models) for _ in range(count)]


def _awaitable(ref: Any) -> asyncio.Future[Any]:
    return asyncio.wrap_future(ref.future())


def _kill_all(ray: Any, actors: list[Any]) -> None:
    for actor in actors:
        ray.kill(actor)
