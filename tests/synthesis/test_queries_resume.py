"""Query sets are seeded, resumable and idempotent; near-duplicates are retried, not kept;
grown problem types are stored and sampled."""

from __future__ import annotations

import asyncio
import itertools
import zlib
from pathlib import Path
from typing import Any

import pytest
from query_model import KNOWS, STAGES, WANTS, generate, prompt_of, query_model, write_request

from nexforge.core.errors import ModelError
from nexforge.core.messages import Message
from nexforge.models.base import ModelRequest
from nexforge.runtime.config.framework import load_framework
from nexforge.synthesis.dedup import jaccard, shingles
from nexforge.synthesis.fingerprint import framework_hash
from nexforge.synthesis.problem_tree import GrownType, grown_from_store
from nexforge.synthesis.records import QueryRecord
from nexforge.synthesis.store import SynthesisStore
from nexforge.testing import ScriptedModel, call


def fingerprint(queries: list[QueryRecord]) -> list[tuple[Any, ...]]:
    return [
        (q.slot, q.text, q.path, q.difficulty, q.persona, q.evidence, q.expected, q.user)
        for q in queries
    ]


def slow_model() -> ScriptedModel:
    """The scripted answers, each after a delay that depends on its prompt: completion
    order differs from slot order."""

    async def respond(request: ModelRequest) -> Message:
        await asyncio.sleep(zlib.crc32(prompt_of(request).encode()) % 7 * 0.003)
        tool = request.tools[0].name
        return call(tool, **STAGES[tool](request))

    return ScriptedModel(respond, name="scripted-queries")


def template(request: ModelRequest) -> dict[str, Any]:
    """A writer with little imagination: the same words about the same record."""
    answer = write_request(request)
    knows = KNOWS.findall(prompt_of(request))[-1]
    wants = WANTS.findall(prompt_of(request))[-1]
    details = " ".join(f"The {k}: {v}." for k, v in answer.items() if k != "request")
    text = f"Please look into {knows} for me today, thanks: I would like {wants}. {details}"
    return {**answer, "request": text.strip()}


async def test_the_same_seed_gives_the_same_set_whatever_the_order_calls_complete_in(
    shop_dir: Path, store: SynthesisStore, tmp_path: Path
) -> None:
    first = await generate(shop_dir, store, n=10, seed=0, concurrency=1)
    with SynthesisStore(tmp_path / "other.sqlite") as other:
        again = await generate(shop_dir, other, n=10, seed=0, concurrency=6, model=slow_model())
    with SynthesisStore(tmp_path / "third.sqlite") as third:
        different = await generate(shop_dir, third, n=10, seed=1)

    assert fingerprint(again.queries) == fingerprint(first.queries)
    texts = {q.text for q in first.queries}
    assert len(texts) == 10
    assert len(texts - {q.text for q in different.queries}) >= 8


async def test_a_killed_run_resumes_to_exactly_the_uninterrupted_set(
    shop_dir: Path, store: SynthesisStore, tmp_path: Path
) -> None:
    calls = itertools.count()

    def fails_on_the_sixth_query(request: ModelRequest) -> dict[str, Any]:
        if next(calls) == 5:
            raise ModelError("endpoint went away")
        return write_request(request)

    broken = query_model({"submit_request": fails_on_the_sixth_query})
    with pytest.raises(ModelError, match="went away"):
        await generate(shop_dir, store, n=9, concurrency=3, model=broken)
    fh = framework_hash(load_framework(shop_dir))
    stored = store.queries(fh, seed=0)
    assert 0 < len(stored) < 9
    assert [q.slot for q in stored] == list(range(len(stored)))  # accepted in slot order

    resumed = await generate(shop_dir, store, n=9, concurrency=3)
    assert resumed.accepted == 9 and resumed.new == 9 - len(stored)
    final = store.queries(fh, seed=0)
    assert sorted(q.slot for q in final) == list(range(9))
    assert len({q.key for q in final}) == 9
    assert sum(store.path_counts(fh).values()) == 9
    with SynthesisStore(tmp_path / "clean.sqlite") as clean:
        uninterrupted = await generate(shop_dir, clean, n=9)
    assert fingerprint(resumed.queries) == fingerprint(uninterrupted.queries)

    idle = query_model()
    again = await generate(shop_dir, store, n=9, model=idle)
    assert again.new == 0 and again.model_calls == 0 and idle.requests == []
    assert fingerprint(again.queries) == fingerprint(resumed.queries)


async def test_near_duplicates_are_rejected_retried_and_never_silently_dropped(
    shop_dir: Path, store: SynthesisStore
) -> None:
    model = query_model({"submit_request": template})
    first = await generate(shop_dir, store, n=6, seed=0, model=model, max_attempts=3)
    second = await generate(shop_dir, store, n=6, seed=1, model=model, max_attempts=3)

    assert first.rejected.get("near_duplicate", 0) >= 1
    assert second.rejected.get("near_duplicate", 0) >= 1
    accepted = [*first.queries, *second.queries]
    for a, b in itertools.combinations(accepted, 2):  # across seeds: the store counts too
        assert jaccard(shingles(a.text), shingles(b.text)) < 0.8, (a.text, b.text)
    for summary in (first, second):
        rows = store.rejections(summary.framework_hash, summary.seed)
        near = [r for r in rows if r["reason"].startswith("near_duplicate")]
        assert len(near) == summary.rejected["near_duplicate"]
        assert all(r["text"] and "estimated Jaccard" in r["reason"] for r in near)
        done = {q.slot for q in summary.queries}
        given_up = {r["slot"] for r in rows if r["reason"].startswith("gave_up")}
        assert len(given_up) == summary.given_up
        assert {r["slot"] for r in rows} <= done | given_up
        retried = [q for q in summary.queries if q.slot in {r["slot"] for r in near}]
        assert all(q.slot not in given_up for q in retried)


def grown_types(store: SynthesisStore, fh: str) -> list[GrownType]:
    found = [grown_from_store(parent, node) for parent, node in store.grown_types(fh)]
    assert all(found)
    return [g for g in found if g is not None]


async def test_grown_problem_types_are_stored_reused_and_sampled_by_later_runs(
    shop_dir: Path, store: SynthesisStore, tmp_path: Path
) -> None:
    model = query_model()
    grown_run = await generate(shop_dir, store, n=4, seed=0, model=model, grow_p=1.0)

    fh = grown_run.framework_hash
    environment = load_framework(shop_dir).environment
    assert environment is not None
    grown = grown_types(store, fh)
    assert len(grown) == grown_run.grown == 4
    for item in grown:
        assert item.seed == 0 and item.slot is not None
        assert set(item.node.tools) <= {t.name for t in environment.tools}
    by_slot = {g.slot: g.node.id for g in grown}
    for query in grown_run.queries:  # each slot is about the type it grew
        assert query.path[-1] == by_slot[query.slot]
        assert f"grew problem type {query.path[-1]} (Warranty claim" in " ".join(query.notes)
    growth = [r for r in model.requests if r.tools[0].name == "submit_problem_type"]
    enum = growth[0].tools[0].parameters["properties"]["tools"]["items"]["enum"]
    assert enum == [t.name for t in environment.tools]  # real tools only

    more = query_model()
    resumed = await generate(shop_dir, store, n=6, seed=0, model=more, grow_p=1.0)
    growth = [r for r in more.requests if r.tools[0].name == "submit_problem_type"]
    assert resumed.new == 2 and resumed.grown == len(growth) == 2  # slots 0-3 re-use theirs
    with SynthesisStore(tmp_path / "clean.sqlite") as clean:
        uninterrupted = await generate(shop_dir, clean, n=6, seed=0, grow_p=1.0)
    assert fingerprint(resumed.queries) == fingerprint(uninterrupted.queries)

    # Once the kit's paths are covered as often as the grown ones, those are drawn too.
    later = await generate(shop_dir, store, n=40, seed=1)
    grown_ids = {g.node.id for g in grown_types(store, fh)}
    assert len({q.path[-1] for q in later.queries} & grown_ids) >= 2
