"""Stage 5, judge: a scripted judge model scores rollouts through a forced schema."""

from __future__ import annotations

import asyncio

import pytest
from quality_builders import (
    FRAMEWORK_HASH,
    GOOD_OUTCOME,
    asks,
    episode,
    good_messages,
    good_trajectory,
    result,
    says,
    store_rollouts,
    tool_call,
    trajectory,
)

from nexforge.core.errors import ModelHTTPError
from nexforge.core.messages import Message
from nexforge.models.base import ModelRequest, NamedToolChoice
from nexforge.quality.cascade import VerifyOptions, verify_store
from nexforge.quality.policy import JUDGE
from nexforge.synthesis.records import Evidence, QueryRecord, Verdict
from nexforge.synthesis.store import SynthesisStore
from nexforge.testing import ScriptedModel, call

GOOD = {"completeness": 1.0, "correctness": 0.8, "tool_use": 0.6}


def submits(scores: dict[str, float], reason: str = "Cancelled as asked.") -> Message:
    return call("submit_judge", **scores, reason=reason)


def judge_of(store: SynthesisStore, key: str) -> Verdict | None:
    return next((v for v in store.verdicts(key) if v.stage == JUDGE), None)


def options(judge: ScriptedModel, **more: object) -> VerifyOptions:
    return VerifyOptions(judge=judge, judge_backoff_s=0.0, **more)  # type: ignore[arg-type]


async def test_scores_are_stored_with_their_mean_the_model_and_the_reason(
    store: SynthesisStore,
) -> None:
    (record,) = store_rollouts(store, good_trajectory(), expected=GOOD_OUTCOME)
    judge = ScriptedModel([submits(GOOD)], name="judge-model")
    summary = await verify_store(store, options(judge))
    verdict = judge_of(store, record.key)
    assert verdict is not None
    assert (verdict.passed, verdict.score, verdict.reason) == (True, 0.8, "Cancelled as asked.")
    assert verdict.detail == {"scores": GOOD, "model": "judge-model", "threshold": 0.6}
    assert (summary.stages[JUDGE].passed, summary.stages[JUDGE].failed) == (1, 0)
    judge.assert_done()


async def test_a_score_under_the_threshold_fails_and_the_threshold_is_an_option(
    store: SynthesisStore,
) -> None:
    (record,) = store_rollouts(store, good_trajectory(), expected=GOOD_OUTCOME)
    weak = {"completeness": 0.5, "correctness": 0.5, "tool_use": 0.5}
    await verify_store(store, options(ScriptedModel([submits(weak, "Vague answer.")])))
    verdict = judge_of(store, record.key)
    assert verdict is not None
    assert (verdict.passed, verdict.score) == (False, 0.5)
    assert verdict.detail["problems"] == ["score below threshold"]

    lenient = options(ScriptedModel([submits(weak)]), judge_threshold=0.4, redo=True)
    await verify_store(store, lenient)
    verdict = judge_of(store, record.key)
    assert verdict is not None and verdict.passed


async def test_the_judge_sees_the_query_its_evidence_and_every_call_and_must_submit(
    store: SynthesisStore,
) -> None:
    query = QueryRecord(
        text="Please cancel my order 1003, it was a mistake.",
        evidence=[Evidence(tool="get_order", arguments={"order_id": 1003}, result={"total": 4250})],
        expected=GOOD_OUTCOME,
    ).keyed(FRAMEWORK_HASH)
    store.add_query(query)
    store_rollouts(store, good_trajectory())
    judge = ScriptedModel([submits(GOOD)])
    await verify_store(store, options(judge))
    (request,) = judge.requests
    assert request.tool_choice == NamedToolChoice(name="submit_judge")
    prompt = request.messages[-1].content or ""
    assert "Please cancel my order 1003" in prompt
    assert 'get_order({"order_id": 1003}) -> {"total": 4250}' in prompt
    assert '[desk] called cancel_order({"order_id": 1003, "reason": "customer asked"})' in prompt
    assert "Order 1003 is cancelled" in prompt


async def test_rollouts_that_failed_an_earlier_stage_are_not_judged(
    store: SynthesisStore,
) -> None:
    broken = trajectory(
        episode(Message.user("q"), result("c9", "get_order", "{}"), says("ok")), query="broken"
    )
    store_rollouts(store, good_trajectory(), broken, expected=GOOD_OUTCOME)
    store_rollouts(store, good_trajectory(query="Cancel 1003."), expected=GOOD_OUTCOME)
    invented = "Order 1003 is cancelled (refund 77); 99 EUR will be back on your card."
    store_rollouts(
        store,
        good_trajectory("I want to cancel order 1003, could you do that for me?", invented),
        expected=GOOD_OUTCOME,
    )
    store_rollouts(
        store, good_trajectory(query="Please cancel my order 1003 now, I do not need it.")
    )
    judge = ScriptedModel([submits(GOOD)])
    summary = await verify_store(store, options(judge))
    assert len(judge.requests) == 1
    assert "Please cancel my order 1003, it was a mistake." in (
        judge.requests[0].messages[-1].content or ""
    )
    # broken fails structure (and its query), "Cancel 1003." fails query, the invented
    # 99 EUR fails answer, the last query expects nothing (grounded: not checked)
    assert summary.stages["query"].failed == 2
    assert summary.stages["answer"].reasons["unobserved values"] == 1
    assert summary.stages[JUDGE].not_checked == {"failed an earlier stage": 4}


async def test_a_failing_judge_call_leaves_no_verdict_is_counted_and_is_retried_next_run(
    store: SynthesisStore,
) -> None:
    records = store_rollouts(
        store,
        good_trajectory(),
        good_trajectory(query="Please cancel my order 1004, it was a mistake."),
        expected=GOOD_OUTCOME,
    )
    asked: list[str] = []

    def flaky(request: ModelRequest) -> Message:
        prompt = request.messages[-1].content or ""
        asked.append(prompt)
        if "1004" in prompt:
            raise ModelHTTPError(503, "overloaded")
        return submits(GOOD)

    summary = await verify_store(store, options(ScriptedModel(flaky)))
    assert judge_of(store, records[0].key) is not None
    assert judge_of(store, records[1].key) is None
    assert summary.stages[JUDGE].not_checked == {"judge call failed: HTTP 503: overloaded": 1}
    assert sum("1004" in p for p in asked) == 2  # two attempts

    healthy = ScriptedModel([submits(GOOD)])
    again = await verify_store(store, options(healthy))
    assert (again.stages[JUDGE].passed, again.stages[JUDGE].skipped) == (1, 1)
    assert judge_of(store, records[1].key) is not None


async def test_an_unusable_answer_is_sent_back_and_the_repaired_one_counts(
    store: SynthesisStore,
) -> None:
    (record,) = store_rollouts(store, good_trajectory(), expected=GOOD_OUTCOME)
    judge = ScriptedModel([submits(GOOD, reason="  "), submits(GOOD, reason="Fine.")])
    await verify_store(store, options(judge))
    verdict = judge_of(store, record.key)
    assert verdict is not None and verdict.reason == "Fine."
    repair = judge.requests[1].messages[-1]
    assert repair.role == "tool" and "reason must say in one line why" in (repair.content or "")


@pytest.mark.parametrize("workers", [1, 4])
async def test_judge_calls_run_concurrently_up_to_the_worker_count(
    store: SynthesisStore, workers: int
) -> None:
    store_rollouts(
        store,
        *(
            good_trajectory(f"Please cancel my order 1003, this is request number {i}.")
            for i in range(8)
        ),
        expected=GOOD_OUTCOME,
    )
    in_flight = 0
    most = 0

    async def slow(request: ModelRequest) -> Message:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return submits(GOOD)

    summary = await verify_store(store, options(ScriptedModel(slow), workers=workers))
    assert summary.stages[JUDGE].passed == 8
    assert most == workers


async def test_a_recovered_rollout_is_judged_like_any_other(store: SynthesisStore) -> None:
    messages = good_messages()
    messages[1:1] = [
        asks(tool_call("c0", "get_order", order_id="1003")),
        result("c0", "get_order", "not an integer", error=True),
    ]
    (record,) = store_rollouts(store, trajectory(episode(*messages)), expected=GOOD_OUTCOME)
    await verify_store(store, options(ScriptedModel([submits(GOOD)])))
    assert judge_of(store, record.key) is not None
