"""Rollouts on the local engine: isolation, samples, idempotence, retries, budget."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from shop_script import queries, shop_responder

from nexforge.core.errors import ModelHTTPError
from nexforge.core.messages import Message
from nexforge.models.base import ModelRequest
from nexforge.runtime.config.framework import load_framework
from nexforge.synthesis.engine_local import run_local
from nexforge.synthesis.fingerprint import framework_hash
from nexforge.synthesis.gate import SamplingOverrides
from nexforge.synthesis.rollout import RolloutContext, RolloutOptions, plan_tasks
from nexforge.synthesis.store import SynthesisStore
from nexforge.testing import ScriptedModel, call, say


def context(shop_dir: Path, model: ScriptedModel, **options: object) -> RolloutContext:
    framework = load_framework(shop_dir)
    return RolloutContext(
        framework,
        framework_hash(framework),
        RolloutOptions(**options),
        model=model,  # type: ignore[arg-type]
    )


async def test_concurrent_rollouts_each_get_their_own_environment_copy(
    shop_dir: Path, store: SynthesisStore
) -> None:
    # Each rollout buys the whole stock of trail bikes: on a shared database all but
    # one would be refused; on isolated copies every one succeeds with the same order.
    ctx = context(shop_dir, ScriptedModel(shop_responder), workers=16)
    tasks = plan_tasks(queries(24, ctx.framework_hash), samples=1)
    summary = await run_local(tasks, ctx, store)
    assert (summary.done, summary.failed, summary.pending) == (24, 0, 0)
    answers = {r.trajectory.final_output for r in store.rollouts() if r.trajectory}
    assert len(answers) == 1
    assert '"status": "placed"' in answers.pop().replace("'", '"')
    seed = sqlite3.connect(shop_dir / "data" / "shop.sqlite")
    assert seed.execute("SELECT stock FROM products WHERE sku = 'BK-TRAIL'").fetchone() == (3,)


async def test_samples_give_k_rollouts_per_query_and_a_rerun_adds_nothing(
    shop_dir: Path, store: SynthesisStore
) -> None:
    model = ScriptedModel(shop_responder)
    ctx = context(shop_dir, model, workers=8, samples=3)
    tasks = plan_tasks(queries(5, ctx.framework_hash), samples=3)
    first = await run_local(tasks, ctx, store)
    assert first.done == 15
    calls_before = len(model.requests)
    again = await run_local(tasks, ctx, store)
    assert (again.already_done, again.done, len(model.requests)) == (15, 0, calls_before)
    records = list(store.rollouts())
    assert sorted(r.sample for r in records) == sorted([0, 1, 2] * 5)
    assert len({r.key for r in records}) == 15
    # every rollout: run id = rollout key; its own seed; provenance complete
    for record in records:
        assert record.trajectory is not None
        assert record.trajectory.run_id == record.key
        assert record.provenance.framework_hash == ctx.framework_hash
        assert record.provenance.model == "scripted"
        assert record.trajectory.provenance.sampling["seed"] == record.provenance.seed
    assert len({r.provenance.seed for r in records}) == 15


async def test_two_runs_on_one_store_split_the_rollouts_and_run_none_twice(
    shop_dir: Path, store: SynthesisStore
) -> None:
    model = ScriptedModel(shop_responder)
    ctx = context(shop_dir, model, workers=3)
    tasks = plan_tasks(queries(12, ctx.framework_hash), samples=1)
    with SynthesisStore(store.path) as second:  # another writer, as another process has
        first_run, second_run = await asyncio.gather(
            run_local(tasks, ctx, store), run_local(tasks, ctx, second)
        )
    assert first_run.done + second_run.done == 12
    for run in (first_run, second_run):
        assert run.done + run.already_done + run.busy == 12
        assert (run.failed, run.discarded, run.pending) == (0, 0, 0)
    assert len(model.requests) == 12 * 4  # lead, orders, orders, lead: once per rollout
    assert store.status().rollouts == {"done": 12, "failed": 0, "pending": 0}


async def test_sampling_overrides_reach_every_model_request(
    shop_dir: Path, store: SynthesisStore
) -> None:
    model = ScriptedModel(shop_responder)
    ctx = context(shop_dir, model, sampling=SamplingOverrides(temperature=0.7, max_tokens=300))
    await run_local(plan_tasks(queries(1, ctx.framework_hash), 1), ctx, store)
    assert model.requests
    for request in model.requests:
        assert request.sampling.temperature == 0.7
        assert request.sampling.max_tokens == 300
        assert request.sampling.seed is not None


async def test_a_fault_is_retried_and_a_persistent_fault_is_recorded_as_failed(
    shop_dir: Path, store: SynthesisStore
) -> None:
    seen: dict[str, int] = {}

    def flaky(request: ModelRequest) -> Message:
        user = request.messages[1].content or ""
        if request.agent == "lead" and len(request.messages) == 2:
            seen[user] = seen.get(user, 0) + 1
            if "request 0" in user:
                raise ModelHTTPError(500, "server error")
            if "request 1" in user and seen[user] == 1:
                raise ModelHTTPError(500, "server error")
        return shop_responder(request)

    ctx = context(shop_dir, ScriptedModel(flaky), retries=2, retry_backoff_s=0.0)
    summary = await run_local(plan_tasks(queries(3, ctx.framework_hash), 1), ctx, store)
    assert (summary.done, summary.failed) == (2, 1)
    by_text = {store.query(r.query_key).text[-9:]: r for r in store.rollouts()}  # type: ignore[union-attr]
    assert by_text["request 0"].status == "failed"
    assert by_text["request 0"].attempts == 3
    assert "500" in (by_text["request 0"].error or "")
    assert by_text["request 1"].status == "done"
    assert by_text["request 1"].attempts == 2
    assert by_text["request 2"].attempts == 1
    # failed rollouts are kept, and retried only when asked
    again = await run_local(plan_tasks(queries(3, ctx.framework_hash), 1), ctx, store)
    assert again.done + again.failed == 0
    ctx_retry = context(shop_dir, ScriptedModel(shop_responder), retry_failed=True)
    retried = await run_local(plan_tasks(queries(3, ctx.framework_hash), 1), ctx_retry, store)
    assert (retried.done, retried.failed) == (1, 0)
    assert store.status().rollouts == {"done": 3, "failed": 0, "pending": 0}


async def test_a_rollout_over_its_time_limit_is_recorded_with_its_partial_trajectory(
    shop_dir: Path, store: SynthesisStore
) -> None:
    async def slow(request: ModelRequest) -> Message:
        if request.agent == "orders":
            await asyncio.sleep(30)
        return shop_responder(request)

    ctx = context(shop_dir, ScriptedModel(slow), timeout_s=0.3, retries=1, retry_backoff_s=0.0)
    summary = await run_local(plan_tasks(queries(2, ctx.framework_hash), 1), ctx, store)
    assert summary.failed == 2
    for record in store.rollouts():
        assert record.attempts == 2
        assert "timed out" in (record.error or "")
        assert record.trajectory is not None
        assert record.trajectory.stop_reason == "cancelled"


async def test_the_token_budget_stops_cleanly_and_a_rerun_finishes_without_duplicates(
    shop_dir: Path, store: SynthesisStore
) -> None:
    probe = context(shop_dir, ScriptedModel(shop_responder))
    with SynthesisStore(shop_dir.parent / "probe.sqlite") as scratch:
        one = await run_local(plan_tasks(queries(1, probe.framework_hash), 1), probe, scratch)
    per_rollout = one.prompt_tokens + one.completion_tokens
    budget = int(per_rollout * 4.5)
    ctx = context(shop_dir, ScriptedModel(shop_responder), workers=2, token_budget=budget)
    tasks = plan_tasks(queries(12, ctx.framework_hash), 1)
    first = await run_local(tasks, ctx, store)
    assert first.budget_spent
    assert 0 < first.done < 12
    assert first.pending == 12 - first.done
    assert store.status().rollouts["pending"] == first.pending
    rest = await run_local(tasks, context(shop_dir, ScriptedModel(shop_responder)), store)
    assert rest.done == first.pending
    assert len(list(store.rollouts(status="done"))) == 12


async def test_an_endpoint_cap_bounds_model_calls_in_flight(
    shop_dir: Path, store: SynthesisStore
) -> None:
    in_flight = peak = 0

    async def counting(request: ModelRequest) -> Message:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return shop_responder(request)

    ctx = context(shop_dir, ScriptedModel(counting), workers=20, endpoint_concurrency=3)
    summary = await run_local(plan_tasks(queries(20, ctx.framework_hash), 1), ctx, store)
    assert summary.done == 20
    assert peak == 3


async def test_a_model_that_answers_without_tools_still_stores_a_done_rollout(
    shop_dir: Path, store: SynthesisStore
) -> None:
    ctx = context(shop_dir, ScriptedModel(lambda request: say("Hello.")))
    summary = await run_local(plan_tasks(queries(1, ctx.framework_hash), 1), ctx, store)
    assert summary.done == 1
    (record,) = store.rollouts()
    assert record.trajectory is not None and record.trajectory.final_output == "Hello."


async def test_user_sim_rollouts_are_multi_turn_and_share_the_token_budget(
    shop_dir: Path, store: SynthesisStore
) -> None:
    def user(request: ModelRequest) -> Message:
        replies = sum(1 for m in request.messages if m.role == "assistant")
        if replies < 2:
            return call("submit_user_turn", message="Yes, please go ahead.", status="continue")
        return call("submit_user_turn", message="Thanks, that is all.", status="goal_met")

    user_model = ScriptedModel(user, name="user-sim")
    ctx = context(shop_dir, ScriptedModel(shop_responder), user_sim=True, max_user_turns=4)
    ctx.user_model = user_model
    summary = await run_local(plan_tasks(queries(2, ctx.framework_hash), 1), ctx, store)
    assert summary.done == 2
    for record in store.rollouts():
        assert record.provenance.user_sim
        trajectory = record.trajectory
        assert trajectory is not None
        users = [m for m in trajectory.root_episode().messages if m.role == "user"]
        assert len(users) >= 2
        assert users[1].content == "Yes, please go ahead."
        assert trajectory.query_meta["user_sim"]["status"] == "goal_met"
    assert all(r.sampling.seed is not None for r in user_model.requests)
    assert ctx.budget.spent > sum(r.usage.prompt_tokens for r in store.rollouts())
