"""The Ray engine on a real local Ray cluster: same rollouts as the local engine, resumable,
models over HTTP, the budget, and one served embedded model instead of weights per worker."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shop_script
from shop_script import queries, shop_responder

from nexforge.models.settings import ModelSettings
from nexforge.runtime.config.framework import load_framework
from nexforge.synthesis.engine_local import run_local
from nexforge.synthesis.engine_ray import INSTALL_HINT, RayUnavailableError, import_ray, run_ray
from nexforge.synthesis.fingerprint import file_sha256, framework_hash
from nexforge.synthesis.gate import SamplingOverrides
from nexforge.synthesis.records import QueryRecord, RolloutRecord
from nexforge.synthesis.rollout import RolloutContext, RolloutOptions, plan_tasks
from nexforge.synthesis.served_model import serve_model_process
from nexforge.synthesis.store import SynthesisStore
from nexforge.testing import MockOpenAIServer, MockReply, ScriptedModel, installed_model_or_skip

Models = ScriptedModel | ModelSettings | None


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """One local Ray instance for the module; ``run_ray`` joins it instead of starting one."""
    ray = pytest.importorskip("ray", reason=f"ray is not installed: {INSTALL_HINT}")
    previous = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # a throwaway local cluster needs no token
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # The scripted responders live in a test module the workers cannot import: ship them.
    ray.cloudpickle.register_pickle_by_value(shop_script)
    try:
        yield
    finally:
        ray.cloudpickle.unregister_pickle_by_value(shop_script)
        ray.shutdown()
        if previous is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = previous


def context(framework_dir: Path, model: Models, **options: Any) -> RolloutContext:
    framework = load_framework(framework_dir)
    return RolloutContext(
        framework, framework_hash(framework), RolloutOptions(**options), model=model
    )


def comparable(record: RolloutRecord) -> dict[str, Any]:
    """A stored rollout without what may differ between engines: timings, the engine's
    name, and tool-call ids (the scripted model and the mock number them per process)."""
    data = record.model_dump(mode="json", exclude={"started_at", "seconds"})
    del data["provenance"]["engine"]
    trajectory = data["trajectory"]
    del trajectory["started_at"], trajectory["ended_at"]
    for span in trajectory["spans"]:
        del span["start"], span["end"]
    text = json.dumps(data, sort_keys=True)
    ids: dict[str, str] = {}
    text = re.sub(r"call_[0-9_]+", lambda m: ids.setdefault(m.group(), f"call#{len(ids)}"), text)
    return dict(json.loads(text))


def stored(store: SynthesisStore) -> dict[str, dict[str, Any]]:
    return {record.key: comparable(record) for record in store.rollouts()}


def shop_over_http(body: dict[str, Any]) -> MockReply:
    """``shop_responder`` on the wire: the agent is recognised by the tools it is offered."""
    messages = body["messages"]
    if messages[-1]["role"] == "tool":
        return MockReply(content=f"Done: {messages[-1]['content']}")
    offered = {tool["function"]["name"] for tool in body.get("tools", [])}
    user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    if "orders" in offered:
        return MockReply(tool_calls=[{"name": "orders", "arguments": {"task": user}}])
    items = [{"sku": "BK-TRAIL", "quantity": 3}]
    return MockReply(
        tool_calls=[{"name": "create_order", "arguments": {"customer_id": 1, "items": items}}]
    )


async def test_ray_stores_the_same_rollouts_as_the_local_engine(
    ray_cluster: None, shop_dir: Path, store: SynthesisStore, tmp_path: Path
) -> None:
    options: dict[str, Any] = {"workers": 8, "samples": 2, "seed": 7}
    ctx = context(shop_dir, ScriptedModel(shop_responder), **options)
    tasks = plan_tasks(queries(6, ctx.framework_hash), samples=2)
    local = await run_local(tasks, ctx, store)
    with SynthesisStore(tmp_path / "ray.sqlite") as ray_store:
        seen: list[str] = []
        summary = await run_ray(
            tasks,
            context(shop_dir, ScriptedModel(shop_responder), **options),
            ray_store,
            on_result=lambda record: seen.append(record.key),
        )
        assert (summary.done, summary.failed, summary.pending) == (12, 0, 0)
        assert sorted(seen) == sorted(t.key for t in tasks)
        assert (summary.prompt_tokens, summary.model_calls) == (
            local.prompt_tokens,
            local.model_calls,
        )
        assert stored(ray_store) == stored(store)
        engines = {r.provenance.engine for r in ray_store.rollouts()}
        assert engines == {"ray"}
        assert ray_store.status().rollouts == {"done": 12, "failed": 0, "pending": 0}
    for record in store.rollouts():
        assert record.trajectory is not None and record.trajectory.final_output is not None
        assert '"status": "placed"' in record.trajectory.final_output


async def test_ray_runs_only_the_rollouts_not_yet_stored(
    ray_cluster: None, shop_dir: Path, store: SynthesisStore
) -> None:
    ctx = context(shop_dir, ScriptedModel(shop_responder), workers=4)
    tasks = plan_tasks(queries(10, ctx.framework_hash), samples=1)
    await run_local(tasks[:4], ctx, store)
    before = {r.key: r for r in store.rollouts()}
    summary = await run_ray(tasks, ctx, store)
    assert (summary.planned, summary.already_done, summary.done) == (10, 4, 6)
    records = list(store.rollouts())
    assert len(records) == 10
    assert {r.key for r in records} == {t.key for t in tasks}
    for record in records:
        expected_engine = "local" if record.key in before else "ray"
        assert record.provenance.engine == expected_engine
        if record.key in before:
            assert record == before[record.key]
    again = await run_ray(tasks, ctx, store)
    assert (again.already_done, again.done, again.failed) == (10, 0, 0)


async def test_ray_workers_call_a_model_over_http_from_its_settings(
    ray_cluster: None, shop_dir: Path, store: SynthesisStore, tmp_path: Path
) -> None:
    with MockOpenAIServer(responder=shop_over_http, latency_s=0.05) as server:
        settings = ModelSettings(base_url=server.url, model="mock-model", api_key="k")
        ctx = context(shop_dir, settings, workers=6, seed=3)
        tasks = plan_tasks(queries(5, ctx.framework_hash), samples=1)
        summary = await run_ray(tasks, ctx, store)
        assert (summary.done, summary.failed) == (5, 0)
        assert server.stats["replies"] == 4 * 5  # lead -> orders -> create_order -> answers
        assert all(body["seed"] is not None for body in server.requests)
        with SynthesisStore(tmp_path / "local.sqlite") as local_store:
            await run_local(tasks, context(shop_dir, settings, workers=6, seed=3), local_store)
            assert stored(store) == stored(local_store)
    for record in store.rollouts():
        assert record.provenance.model == "mock-model"
        assert record.trajectory is not None and record.trajectory.final_output is not None
        assert '"status": "placed"' in record.trajectory.final_output


async def test_workers_share_one_served_model_process(
    ray_cluster: None, shop_dir: Path, store: SynthesisStore
) -> None:
    # serve-model proxying the mock stands in for the embedded model (no weights needed):
    # the workers reach the mock only through that one process, with its token.
    with MockOpenAIServer(responder=shop_over_http, api_key="upstream-key") as upstream:
        upstream_env = {"NEXFORGE_BASE_URL": upstream.url, "NEXFORGE_API_KEY": "upstream-key"}
        with serve_model_process("openai:mock-model", env=upstream_env) as served:
            assert served.settings.base_url != upstream.url
            assert served.settings.api_key not in (None, "upstream-key")
            ctx = context(shop_dir, served.settings, workers=4)
            summary = await run_ray(plan_tasks(queries(3, ctx.framework_hash), 1), ctx, store)
        assert summary.done == 3
        assert upstream.stats["replies"] == 4 * 3
    assert not served.log_file.exists()  # removed after a clean run


async def test_the_token_budget_stops_ray_cleanly_and_a_rerun_finishes(
    ray_cluster: None, shop_dir: Path, store: SynthesisStore
) -> None:
    probe = context(shop_dir, ScriptedModel(shop_responder))
    with SynthesisStore(shop_dir.parent / "probe.sqlite") as scratch:
        one = await run_local(plan_tasks(queries(1, probe.framework_hash), 1), probe, scratch)
    budget = int((one.prompt_tokens + one.completion_tokens) * 4.5)
    ctx = context(shop_dir, ScriptedModel(shop_responder), workers=2, token_budget=budget)
    tasks = plan_tasks(queries(12, ctx.framework_hash), 1)
    first = await run_ray(tasks, ctx, store)
    assert first.budget_spent
    assert 0 < first.done < 12
    assert first.pending == 12 - first.done
    assert store.status().rollouts["pending"] == first.pending
    rest = await run_ray(tasks, context(shop_dir, ScriptedModel(shop_responder)), store)
    assert rest.done == first.pending
    assert len(list(store.rollouts(status="done"))) == 12


async def test_a_worker_that_finds_another_framework_fails_the_run(
    ray_cluster: None, shop_dir: Path, store: SynthesisStore
) -> None:
    ctx = context(shop_dir, ScriptedModel(shop_responder))
    tasks = plan_tasks(queries(2, ctx.framework_hash), 1)
    (shop_dir / "policy.md").write_text("Changed after the driver hashed the framework.\n")
    with pytest.raises(Exception, match="every node needs the same framework folder"):
        await run_ray(tasks, ctx, store)
    assert store.status().rollouts["pending"] == 2


def test_without_ray_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RayUnavailableError, match=re.escape(INSTALL_HINT)):
        import_ray()


@pytest.mark.slow
async def test_the_embedded_model_is_served_once_instead_of_loaded_per_worker(
    ray_cluster: None, tmp_path: Path, store: SynthesisStore
) -> None:
    weights = installed_model_or_skip("tiny")
    agent = tmp_path / "greeter" / "greeter.yaml"
    agent.parent.mkdir()
    agent.write_text(
        "name: greeter\nsystem_prompt: Answer in one short sentence.\nlimits: {max_steps: 2}\n"
    )
    ctx = context(
        agent,
        ModelSettings(provider="local", model="tiny"),
        workers=2,
        sampling=SamplingOverrides(max_tokens=12),
    )
    worker_rss: list[int] = []
    texts = ["Say hello to Ada.", "Say hello to Grace."]
    tasks = plan_tasks([QueryRecord(text=t).keyed(ctx.framework_hash) for t in texts], 1)
    summary = await run_ray(tasks, ctx, store, on_result=lambda _: worker_rss.extend(_rss()))
    assert summary.done == 2
    assert worker_rss and max(worker_rss) < 400 * 2**20  # no 500 MB of weights in a worker
    for record in store.rollouts():
        assert record.provenance.model == weights.stem
        assert record.provenance.model_sha == file_sha256(weights)


def _rss() -> list[int]:
    """Resident bytes of this machine's Ray rollout workers (from /proc)."""
    sizes = []
    for proc in Path("/proc").iterdir():
        try:
            if b"RolloutWorker" not in (proc / "cmdline").read_bytes():
                continue
            status = (proc / "status").read_text()
        except OSError:
            continue
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
        sizes.append(int(kib) * 1024)
    return sizes
