"""The run as tau2's own ``Results`` JSON, for tau2's tools (``tau2 evaluate-trajs``, its
metrics and viewers) to load and re-score.

A case that failed to run is written as tau2 writes one under ``--skip-failed-samples``:
a skipped simulation with reward 0, so tau2's averages match ours.

Import this module only after ``nexforge.evaluation.tau2.require_tau2()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tau2.data_model.simulation import (
    AgentInfo,
    Info,
    Results,
    RewardInfo,
    SimulationRun,
    TerminationReason,
    UserInfo,
)
from tau2.utils.utils import get_now

from nexforge import __version__
from nexforge.evaluation.results import CaseResult
from nexforge.evaluation.tau2_episode import EpisodeLimits
from nexforge.evaluation.tau2_user import guidelines

if TYPE_CHECKING:
    from nexforge.evaluation.tau2 import Tau2Domain

AGENT_IMPLEMENTATION = "nexforge_agent"
# tau2's name for its user simulator: this one keeps its prompt and behaviour.
USER_IMPLEMENTATION = "user_simulator"


def simulation_of(case: CaseResult) -> Any:
    """The case's tau2 SimulationRun (a skipped one when the case failed to run)."""
    stored = case.detail.get("simulation")
    if stored is not None:
        return SimulationRun.model_validate(stored)
    now = get_now()
    return SimulationRun(
        id=f"{case.case_id}_{case.trial}_failed",
        task_id=case.case_id,
        start_time=now,
        end_time=now,
        duration=case.seconds,
        termination_reason=TerminationReason.AGENT_ERROR,
        messages=[],
        trial=case.trial,
        reward_info=RewardInfo(reward=0.0, info={"error": case.error}),
        skipped=True,
    )


def write_tau2_results(
    path: Path,
    domain: Tau2Domain,
    tasks: Sequence[Any],
    cases: Sequence[CaseResult],
    *,
    agent_model: str,
    user_model: str,
    trials: int,
    limits: EpisodeLimits,
) -> Path:
    """Write tau2's Results for ``cases`` (in task, then trial order) atomically."""
    order = {task.id: index for index, task in enumerate(tasks)}
    ordered = sorted(cases, key=lambda c: (c.trial, order.get(c.case_id, len(order))))
    sampling = {"temperature": limits.temperature, "max_tokens": limits.max_tokens}
    info = Info(
        git_commit=f"nexforge-{__version__}",
        num_trials=trials,
        max_steps=limits.max_turns,
        max_errors=limits.max_errors,
        user_info=UserInfo(
            implementation=USER_IMPLEMENTATION,
            llm=user_model,
            llm_args=sampling,
            global_simulation_guidelines=guidelines(use_tools=False),
        ),
        agent_info=AgentInfo(
            implementation=AGENT_IMPLEMENTATION,
            llm=agent_model,
            llm_args={**sampling, "max_steps_per_turn": limits.max_steps},
        ),
        environment_info=domain.make_env().get_info(),
    )
    results = Results(info=info, tasks=list(tasks), simulations=[simulation_of(c) for c in ordered])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(results.model_dump_json(indent=2), encoding="utf-8")
    partial.replace(path)
    return path
