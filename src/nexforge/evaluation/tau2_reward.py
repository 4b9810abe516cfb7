"""tau2's reward for one simulation: its own evaluators, combined per the task's reward basis.

This is ``tau2.evaluator.evaluator.evaluate_simulation`` with ``EvaluationType.ALL`` (the
default of ``tau2 run`` and ``tau2 evaluate-trajs``), kept line for line. That module
cannot be imported without litellm (it imports ``tau2.registry``, which imports tau2's
LLM agent), so only the combination is restated here; every check runs in tau2's own
evaluator classes: the environment evaluator replays the trajectory's tool calls on a
fresh environment (verifying each recorded tool result), replays the gold actions on
another, and compares the database hashes and runs the env assertions; the action
evaluator matches gold actions to calls; the communicate evaluator looks for the required
facts in the agent's messages. NL assertions need an LLM judge and, as in tau2's default
evaluation, are not scored: no shipped task has them in its reward basis, and a task that
does is refused, as tau2 refuses it.

Import this module only after ``nexforge.evaluation.tau2.require_tau2()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tau2.data_model.simulation import RewardInfo, SimulationRun, TerminationReason
from tau2.data_model.tasks import RewardType, Task
from tau2.evaluator.evaluator_action import ActionEvaluator
from tau2.evaluator.evaluator_communicate import CommunicateEvaluator
from tau2.evaluator.evaluator_env import EnvironmentEvaluator

from nexforge.evaluation.results import EvalError

EnvironmentConstructor = Callable[..., Any]


def evaluate_simulation(
    simulation: SimulationRun, task: Task, make_env: EnvironmentConstructor
) -> RewardInfo:
    """The reward tau2 gives ``simulation`` of ``task`` (not in solo mode)."""
    if simulation.termination_reason not in {
        TerminationReason.AGENT_STOP,
        TerminationReason.USER_STOP,
    }:
        return RewardInfo(
            reward=0.0,
            reward_basis=None,
            info={
                "note": "Simulation terminated prematurely. Termination reason: "
                f"{TerminationReason(simulation.termination_reason).value}"
            },
        )
    criteria = task.evaluation_criteria
    if criteria is None:
        return RewardInfo(reward=1.0, reward_basis=None, info={"note": "No evaluation criteria"})
    basis = set(criteria.reward_basis)
    if RewardType.NL_ASSERTION in basis:
        raise EvalError(
            f"task {task.id}: NL assertions are part of the reward basis, but they are not "
            "being evaluated (they need tau2's LLM judge)"
        )
    env_info = EnvironmentEvaluator.calculate_reward(
        environment_constructor=make_env,
        task=task,
        full_trajectory=simulation.messages,
        solo_mode=False,
    )
    action_info = ActionEvaluator.calculate_reward(task=task, full_trajectory=simulation.messages)
    communicate_info = CommunicateEvaluator.calculate_reward(
        task=task, full_trajectory=simulation.messages
    )
    reward = 1.0
    breakdown: dict[Any, float] = {}
    for bases, info in (
        ({RewardType.DB, RewardType.ENV_ASSERTION}, env_info),
        ({RewardType.ACTION}, action_info),
        ({RewardType.COMMUNICATE}, communicate_info),
    ):
        if basis & bases:
            if info.reward_breakdown is not None:
                breakdown.update(info.reward_breakdown)
            reward *= info.reward
    return RewardInfo(
        reward=reward,
        db_check=env_info.db_check,
        env_assertions=env_info.env_assertions,
        action_checks=action_info.action_checks,
        nl_assertions=None,
        communicate_checks=communicate_info.communicate_checks,
        reward_basis=criteria.reward_basis,
        reward_breakdown=breakdown,
        info={
            "env": env_info.info,
            "nl": None,
            "communicate": communicate_info.info,
            "action": action_info.info,
        },
    )


def failure_reason(info: RewardInfo) -> str:
    """Why a reward is below 1, in the evaluators' terms (empty when it is 1)."""
    if info.reward >= 1.0:
        return ""
    parts: list[str] = []
    if info.reward_basis is None and info.info:
        parts.append(str(info.info.get("note", "")))
    if info.db_check is not None and not info.db_check.db_match and _counts(info, "DB"):
        parts.append("database differs from the gold end state")
    for check in info.env_assertions or []:
        if not check.met and _counts(info, "ENV_ASSERTION"):
            parts.append(f"env assertion not met: {check.env_assertion.func_name}")
    for action in info.action_checks or []:
        if not action.action_match and _counts(info, "ACTION"):
            parts.append(f"gold action missing: {action.action.name}")
    for communicate in info.communicate_checks or []:
        if not communicate.met and _counts(info, "COMMUNICATE"):
            parts.append(f"not communicated: {communicate.info!r}")
    return "; ".join(p for p in parts if p) or f"reward {info.reward:g}"


def _counts(info: RewardInfo, basis: str) -> bool:
    return any(RewardType(b).value == basis for b in info.reward_basis or [])
