"""The cascade over a store: every stage recorded, incremental, redo, crash-safe."""

from __future__ import annotations

import pytest
from quality_builders import (
    GOOD_OUTCOME,
    asks,
    episode,
    good_messages,
    good_trajectory,
    result,
    store_rollouts,
    tool_call,
    trajectory,
)

from nexforge.core.messages import Message
from nexforge.core.trajectory import Trajectory
from nexforge.models.base import ModelRequest
from nexforge.quality.cascade import VerifyOptions, verify_store
from nexforge.quality.policy import (
    ANSWER,
    BEHAVIOUR,
    DEDUP,
    GROUNDED,
    JUDGE,
    QUERY,
    REQUIRED_STAGES,
    STAGES,
    STRUCTURE,
    TOOL_VALIDITY,
    decide,
    rollout_level,
)
from nexforge.synthesis.records import Verdict, judged
from nexforge.synthesis.store import SynthesisStore
from nexforge.testing import ScriptedModel, call

SCORES = {"completeness": 1.0, "correctness": 1.0, "tool_use": 1.0, "reason": "Good."}


CANCEL_REASONS = (
    "it was a mistake",
    "I no longer need it",
    "I found it cheaper elsewhere",
    "I ordered it twice",
    "the delivery date is too late",
)
QUERY_WITH_TYPO = "Could you cancel order 1003 for me? I do not need it any more."


def recovered_trajectory(query: str = QUERY_WITH_TYPO) -> Trajectory:
    messages = good_messages(query)
    messages[1:1] = [
        asks(tool_call("c0", "get_order", order_id="1003")),
        result("c0", "get_order", "'1003' is not of type 'integer'", error=True),
    ]
    return trajectory(episode(*messages), query=query)


def test_the_default_stages_leave_out_the_judge_unless_a_judge_model_is_given() -> None:
    assert VerifyOptions().stages == (
        STRUCTURE,
        TOOL_VALIDITY,
        BEHAVIOUR,
        QUERY,
        ANSWER,
        GROUNDED,
        DEDUP,
    )
    assert VerifyOptions(judge=ScriptedModel([])).stages == STAGES
    assert VerifyOptions(stages=(DEDUP, STRUCTURE)).stages == (STRUCTURE, DEDUP)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"stages": ("structure", "vibes")}, "unknown stage 'vibes'; expected one of: structure"),
        ({"stages": ("judge",)}, "the judge stage needs a judge model (--judge MODEL)"),
        ({"dedup_threshold": 0.0}, "dedup threshold must be in (0, 1], got 0.0"),
        ({"judge_threshold": 1.5}, "judge threshold must be in (0, 1], got 1.5"),
        ({"workers": 0}, "workers and judge attempts must be at least 1"),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        VerifyOptions(**options)  # type: ignore[arg-type]


async def test_every_rollout_gets_every_required_stage_and_export_can_decide(
    store: SynthesisStore,
) -> None:
    good, recovered, broken, missing = store_rollouts(
        store,
        good_trajectory(),
        recovered_trajectory(),
        trajectory(
            episode(Message.user("q"), asks(tool_call("c1", "get_order", order_id=1))),
            query="cut off",
            final=None,
            stop_reason="timeout",
        ),
        None,  # the rollout failed without a trajectory
        expected=GOOD_OUTCOME,
    )
    progress: list[tuple[int, int]] = []
    summary = await verify_store(
        store, VerifyOptions(), progress=lambda d, t: progress.append((d, t))
    )
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    for record in (good, recovered, broken):
        assert set(REQUIRED_STAGES) <= set(rollout_level(store.verdicts(record.key)))
    assert decide(store.verdicts(good.key)).keep
    assert decide(store.verdicts(recovered.key)).keep
    assert decide(store.verdicts(broken.key)).reason == (
        "behaviour: stopped: timeout; truncated: no final answer; truncated: the last turn "
        "of episode e1 (desk) called get_order and got no result"
    )
    assert not decide(store.verdicts(missing.key)).keep
    assert summary.stages[TOOL_VALIDITY].recovered_turns == 1
    assert summary.stages[BEHAVIOUR].recovered_turns == 1
    assert summary.stages[STRUCTURE].reasons == {"no trajectory": 1}
    assert summary.to_dict()["stages"][BEHAVIOUR]["top_reasons"] == {
        "stopped: timeout": 1,
        "truncated": 1,
        "rollout failed": 1,
        "no trajectory": 1,
    }
    # "cut off" and the failed rollout's "Refund my last order." are no requests
    assert summary.stages[QUERY].reasons == {"a fragment, not a request": 2}
    assert (summary.stages[ANSWER].passed, summary.stages[ANSWER].reasons) == (
        2,
        {"no answer": 1, "no trajectory": 1},
    )
    grounded = summary.stages[GROUNDED]
    assert (grounded.passed, grounded.reasons) == (2, {"missing facts": 1, "no trajectory": 1})
    assert grounded.not_checked == {}


async def test_a_rollout_without_a_trajectory_gets_every_required_stage_and_says_why(
    store: SynthesisStore,
) -> None:
    (missing,) = store_rollouts(store, None, expected=GOOD_OUTCOME)
    await verify_store(store, VerifyOptions())
    assert set(REQUIRED_STAGES) <= set(rollout_level(store.verdicts(missing.key)))
    assert decide(store.verdicts(missing.key)).reason == (
        "structure: no trajectory (rollout failed: model unreachable)"
    )


async def test_a_second_run_verifies_only_what_is_new(store: SynthesisStore) -> None:
    store_rollouts(store, good_trajectory(), expected=GOOD_OUTCOME)
    first = await verify_store(store, VerifyOptions())
    assert first.stages[STRUCTURE].passed == 1
    store_rollouts(
        store,
        good_trajectory(query="I placed order 1003 by mistake, could you cancel it please?"),
        expected=GOOD_OUTCOME,
    )
    second = await verify_store(store, VerifyOptions())
    for stage in (STRUCTURE, TOOL_VALIDITY, BEHAVIOUR, QUERY, ANSWER, GROUNDED):
        counts = second.stages[stage]
        assert (counts.passed, counts.failed, counts.skipped) == (1, 0, 1)
    assert second.stages[DEDUP].checked == 2


async def test_a_not_checked_grounded_verdict_is_retried_by_every_run(
    store: SynthesisStore,
) -> None:
    (record,) = store_rollouts(store, good_trajectory())  # its query expects nothing
    why = "not checked: the query has no expected outcome the cascade can check (none)"
    first = await verify_store(store, VerifyOptions())
    second = await verify_store(store, VerifyOptions())
    for summary in (first, second):
        counts = summary.stages[GROUNDED]
        assert (counts.checked, counts.skipped, counts.not_checked) == (0, 0, {why: 1})
    assert second.stages[STRUCTURE].skipped == 1
    verdicts = rollout_level(store.verdicts(record.key))
    assert all(verdicts[stage].passed for stage in (STRUCTURE, QUERY, ANSWER))
    assert decide(list(verdicts.values())).reason == f"grounded: {why}"


async def test_a_retried_rollout_loses_its_verdicts_and_is_verified_again(
    store: SynthesisStore,
) -> None:
    (record,) = store_rollouts(
        store, recovered_trajectory(), status="failed", expected=GOOD_OUTCOME
    )
    await verify_store(store, VerifyOptions())
    turn_level = [(v.stage, v.turn) for v in store.verdicts(record.key) if v.turn is not None]
    assert turn_level == [(TOOL_VALIDITY, 0), (BEHAVIOUR, 0)]
    # A retry replaced the failed rollout: the verdicts judged another run.
    retried = record.model_copy(
        update={"status": "done", "trajectory": good_trajectory(QUERY_WITH_TYPO)}
    )
    assert store.put_rollout(retried)
    assert store.verdicts(record.key) == []

    again = await verify_store(store, VerifyOptions())
    assert (again.stages[STRUCTURE].passed, again.stages[STRUCTURE].skipped) == (1, 0)
    verdicts = store.verdicts(record.key)
    assert [v for v in verdicts if v.turn is not None] == []
    assert sorted(rollout_level(verdicts)) == sorted(REQUIRED_STAGES)
    assert {v.rollout_hash for v in verdicts} == {retried.content_hash()}


async def test_verdicts_on_a_rollout_stored_again_while_it_was_verified_are_not_kept(
    store: SynthesisStore,
) -> None:
    (good,) = store_rollouts(store, good_trajectory(), expected=GOOD_OUTCOME)
    (failed,) = store_rollouts(store, recovered_trajectory(), status="failed")
    retried = failed.model_copy(
        update={"status": "done", "trajectory": good_trajectory(QUERY_WITH_TYPO)}
    )

    def judge_while_a_retry_lands(request: ModelRequest) -> Message:
        # Another process's retry stores the failed rollout again while the cascade has
        # read it but not yet written its verdicts (workers=1: it is next in line).
        with SynthesisStore(store.path) as other:
            assert other.put_rollout(retried)
        return call("submit_judge", **SCORES)

    judge = ScriptedModel(judge_while_a_retry_lands)
    await verify_store(store, VerifyOptions(judge=judge, workers=1))
    assert len(judge.requests) == 1
    assert store.verdicts(failed.key) == []  # the verdicts judged the failed run
    assert {v.rollout_hash for v in store.verdicts(good.key)} == {good.content_hash()}

    again = await verify_store(store, VerifyOptions())
    assert (again.stages[STRUCTURE].passed, again.stages[STRUCTURE].skipped) == (1, 1)
    assert {v.rollout_hash for v in store.verdicts(failed.key)} == {retried.content_hash()}


async def test_redo_replaces_a_stage_verdicts_as_a_set(store: SynthesisStore) -> None:
    (record,) = store_rollouts(store, good_trajectory(), expected=GOOD_OUTCOME)
    await verify_store(store, VerifyOptions())
    # e.g. from an earlier version of the stage: a turn verdict this run will not repeat
    earlier = Verdict(rollout_key=record.key, stage=TOOL_VALIDITY, passed=False, turn=3)
    assert store.put_verdicts(judged([earlier], record.content_hash())) == 1
    await verify_store(store, VerifyOptions())
    assert [v.turn for v in store.verdicts(record.key) if v.turn is not None] == [3]

    await verify_store(store, VerifyOptions(redo=True))
    verdicts = store.verdicts(record.key)
    assert [v for v in verdicts if v.turn is not None] == []
    assert sorted(rollout_level(verdicts)) == sorted(REQUIRED_STAGES)


async def test_a_crash_mid_run_keeps_what_was_verified_and_the_rerun_finishes(
    store: SynthesisStore,
) -> None:
    records = store_rollouts(
        store,
        *(good_trajectory(f"Please cancel my order 1003, {why}.") for why in CANCEL_REASONS),
        expected=GOOD_OUTCOME,
    )
    judged: list[str] = []

    def crashes_on_the_fourth(request: ModelRequest) -> Message:
        if len(judged) == 3:
            raise RuntimeError("judge process died")
        judged.append(request.messages[-1].content or "")
        return call("submit_judge", **SCORES)

    crashing = VerifyOptions(judge=ScriptedModel(crashes_on_the_fourth), workers=1)
    with pytest.raises(RuntimeError, match="judge process died"):
        await verify_store(store, crashing)
    held = [JUDGE in rollout_level(store.verdicts(r.key)) for r in records]
    assert held == [True, True, True, False, False]
    assert all(STRUCTURE in rollout_level(store.verdicts(r.key)) for r in records[:4])

    healthy = ScriptedModel([call("submit_judge", **SCORES)] * 2)
    summary = await verify_store(store, VerifyOptions(judge=healthy))
    healthy.assert_done()
    assert (summary.stages[JUDGE].passed, summary.stages[JUDGE].skipped) == (2, 3)
    assert summary.stages[STRUCTURE].skipped == 4
    assert all(JUDGE in rollout_level(store.verdicts(r.key)) for r in records)


async def test_only_the_named_stages_run(store: SynthesisStore) -> None:
    (record,) = store_rollouts(store, good_trajectory())
    summary = await verify_store(store, VerifyOptions(stages=(STRUCTURE,)))
    assert list(summary.stages) == [STRUCTURE]
    assert list(rollout_level(store.verdicts(record.key))) == [STRUCTURE]
    only_dedup = await verify_store(store, VerifyOptions(stages=(DEDUP,)))
    assert only_dedup.stages[DEDUP].not_checked == {"earlier stages have not run": 1}
    assert summary.to_dict()["stages"][STRUCTURE]["passed"] == 1


async def test_an_empty_store_verifies_nothing(store: SynthesisStore) -> None:
    summary = await verify_store(store, VerifyOptions())
    assert summary.rollouts == 0
    assert all(s.checked == 0 for s in summary.stages.values())
