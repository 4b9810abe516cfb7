"""``nexforge stats``: what a store holds, by the cascade's verdicts and the export policy.

For the whole store, per framework and per difficulty: pass rates and top failure kinds
per stage, how many rollouts ``policy.decide`` keeps under the default and strict filters
(and the first reason for the rest), and distributions of what the trajectories contain.

Relevance and the hierarchy are measured too: how much of its problem type's tools each
run used (and how many calls went to other tools), and which agents worked in sub-agent
episodes. A framework whose specialists never appear in its data is a finding: its
hierarchy is decoration, and the data teaches nothing about delegating.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from nexforge.architect.smoke import agents_by_name
from nexforge.core.errors import NexForgeError
from nexforge.core.trajectory import Trajectory
from nexforge.quality.findings import failure_kinds
from nexforge.quality.observations import Observations
from nexforge.quality.policy import (
    JUDGE,
    STAGES,
    FilterName,
    decide,
    recovered_turns,
    rollout_level,
)
from nexforge.quality.turns import turns
from nexforge.runtime.config.framework import load_framework
from nexforge.synthesis.records import QueryRecord, RolloutRecord, Verdict
from nexforge.synthesis.store import SynthesisStore

log = logging.getLogger(__name__)

TOP = 5
STATS_FILTERS: tuple[FilterName, ...] = ("default", "strict")


@dataclass
class Distribution:
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    def to_dict(self) -> dict[str, float | int | None]:
        if not self.values:
            return {"n": 0, "min": None, "mean": None, "p50": None, "p90": None, "max": None}
        ordered = sorted(self.values)
        return {
            "n": len(ordered),
            "min": ordered[0],
            "mean": round(statistics.fmean(ordered), 3),
            "p50": _percentile(ordered, 0.5),
            "p90": _percentile(ordered, 0.9),
            "max": ordered[-1],
        }


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class StageRate:
    passed: int = 0
    failed: int = 0
    not_run: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        checked = self.passed + self.failed
        return {
            "passed": self.passed,
            "failed": self.failed,
            "not_run": self.not_run,
            "pass_rate": round(self.passed / checked, 4) if checked else None,
            "top_reasons": dict(self.reasons.most_common(TOP)),
        }


@dataclass
class GroupStats:
    """Counts and distributions over one group of rollouts."""

    rollouts: int = 0
    status: Counter[str] = field(default_factory=Counter)
    stages: dict[str, StageRate] = field(default_factory=lambda: {s: StageRate() for s in STAGES})
    kept: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATS_FILTERS, 0))
    dropped: dict[str, Counter[str]] = field(
        default_factory=lambda: {f: Counter() for f in STATS_FILTERS}
    )
    turns: Distribution = field(default_factory=Distribution)
    tool_calls: Distribution = field(default_factory=Distribution)
    sub_agent_episodes: Distribution = field(default_factory=Distribution)
    tokens: Distribution = field(default_factory=Distribution)
    messages_per_episode: Distribution = field(default_factory=Distribution)
    characters_per_episode: Distribution = field(default_factory=Distribution)
    judge_scores: Distribution = field(default_factory=Distribution)
    type_tool_coverage: Distribution = field(default_factory=Distribution)
    """Per rollout with a known problem type: the share of its type's tools it called."""
    off_type_calls: Distribution = field(default_factory=Distribution)
    """Per rollout with a known problem type: calls to tools outside its type's tools."""
    tool_usage: Counter[str] = field(default_factory=Counter)
    agent_episodes: Counter[str] = field(default_factory=Counter)
    """Sub-agent episodes per agent (the root agent's episodes are not counted)."""
    rollouts_with_sub_agents: int = 0
    stop_reasons: Counter[str] = field(default_factory=Counter)
    recovered_turns: int = 0
    rollouts_with_recovered_turns: int = 0

    def add(
        self, rollout: RolloutRecord, verdicts: list[Verdict], query: QueryRecord | None = None
    ) -> None:
        self.rollouts += 1
        self.status[rollout.status] += 1
        by_stage = rollout_level(verdicts)
        for stage, rate in self.stages.items():
            verdict = by_stage.get(stage)
            if verdict is None:
                rate.not_run += 1
            elif verdict.passed:
                rate.passed += 1
            else:
                rate.failed += 1
                rate.reasons.update(failure_kinds(verdict))
        for name in STATS_FILTERS:
            decision = decide(verdicts, name)
            if decision.keep:
                self.kept[name] += 1
            else:
                self.dropped[name][_reason_kind(decision.reason or "")] += 1
        judge = by_stage.get(JUDGE)
        if judge is not None and judge.score is not None:
            self.judge_scores.add(judge.score)
        recovered = recovered_turns(verdicts)
        self.recovered_turns += len(recovered)
        self.rollouts_with_recovered_turns += bool(recovered)
        self.tokens.add(rollout.usage.total_tokens)
        if rollout.trajectory is not None:
            self._add_trajectory(rollout.trajectory)
            if query is not None and query.type_tools:
                self._add_relevance(rollout.trajectory, query.type_tools)

    def _add_relevance(self, trajectory: Trajectory, type_tools: list[str]) -> None:
        called = Observations.of(trajectory).tools_called
        used = [t for t in type_tools if t in called]
        self.type_tool_coverage.add(round(len(used) / len(type_tools), 3))
        self.off_type_calls.add(sum(t not in type_tools for t in called))

    def _add_trajectory(self, trajectory: Trajectory) -> None:
        self.stop_reasons[trajectory.stop_reason or "none"] += 1
        self.turns.add(len(turns(trajectory)))
        calls = [c for e in trajectory.episodes for m in e.messages for c in m.tool_calls]
        self.tool_calls.add(len(calls))
        self.tool_usage.update(c.name for c in calls)
        children = [e.agent for e in trajectory.episodes if e.parent_episode_id is not None]
        self.sub_agent_episodes.add(len(children))
        self.agent_episodes.update(children)
        self.rollouts_with_sub_agents += bool(children)
        for episode in trajectory.episodes:
            self.messages_per_episode.add(len(episode.messages))
            self.characters_per_episode.add(
                sum(len(m.content or "") + len(m.reasoning or "") for m in episode.messages)
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rollouts": self.rollouts,
            "status": dict(self.status),
            "stages": {stage: rate.to_dict() for stage, rate in self.stages.items()},
            "decisions": {
                name: {
                    "kept": self.kept[name],
                    "dropped": sum(self.dropped[name].values()),
                    "top_reasons": dict(self.dropped[name].most_common(TOP)),
                }
                for name in STATS_FILTERS
            },
            "distributions": {
                "turns_per_rollout": self.turns.to_dict(),
                "tool_calls_per_rollout": self.tool_calls.to_dict(),
                "sub_agent_episodes_per_rollout": self.sub_agent_episodes.to_dict(),
                "tokens_per_rollout": self.tokens.to_dict(),
                "messages_per_episode": self.messages_per_episode.to_dict(),
                "characters_per_episode": self.characters_per_episode.to_dict(),
                "judge_scores": self.judge_scores.to_dict(),
                "type_tool_coverage": self.type_tool_coverage.to_dict(),
                "off_type_calls_per_rollout": self.off_type_calls.to_dict(),
            },
            "tool_usage": dict(self.tool_usage.most_common()),
            "sub_agent_episodes_by_agent": dict(self.agent_episodes.most_common()),
            "rollouts_with_sub_agents": self.rollouts_with_sub_agents,
            "stop_reasons": dict(self.stop_reasons.most_common()),
            "recovered_turns": self.recovered_turns,
            "rollouts_with_recovered_turns": self.rollouts_with_recovered_turns,
        }


def _reason_kind(reason: str) -> str:
    """``behaviour: loop: ...`` -> ``behaviour``: drop reasons grouped by what decided."""
    head, sep, _ = reason.partition(":")
    return head if sep else reason


@dataclass
class StoreStats:
    overall: GroupStats = field(default_factory=GroupStats)
    by_framework: dict[str, GroupStats] = field(default_factory=dict)
    by_difficulty: dict[str, GroupStats] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    """What a reader should act on (specialists whose data never uses them...)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": self.findings,
            "overall": self.overall.to_dict(),
            "by_framework": {k: g.to_dict() for k, g in sorted(self.by_framework.items())},
            "by_difficulty": {k: g.to_dict() for k, g in sorted(self.by_difficulty.items())},
        }


def compute_stats(store: SynthesisStore) -> StoreStats:
    """Stats over every stored rollout (one pass; verdicts and queries read once)."""
    verdicts = store.all_verdicts()
    queries: dict[str, QueryRecord] = {q.key: q for q in store.queries()}
    names = {fh: name for fh, (name, _) in store.frameworks().items() if name}
    stats = StoreStats()
    for rollout in store.rollouts():
        held = verdicts.get(rollout.key, [])
        query = queries.get(rollout.query_key)
        framework = (
            (query.framework if query else None)
            or (rollout.trajectory.framework if rollout.trajectory else None)
            or names.get(rollout.provenance.framework_hash)
            or rollout.provenance.framework_hash
        )
        difficulty = (query.difficulty if query else None) or "-"
        stats.overall.add(rollout, held, query)
        stats.by_framework.setdefault(framework, GroupStats()).add(rollout, held, query)
        stats.by_difficulty.setdefault(difficulty, GroupStats()).add(rollout, held, query)
    stats.findings = _unused_specialists(store, stats.by_framework)
    return stats


def _unused_specialists(store: SynthesisStore, groups: dict[str, GroupStats]) -> list[str]:
    """Frameworks (still loadable from their folder) with sub-agents no rollout used."""
    findings: list[str] = []
    for name, path in {name: path for name, path in store.frameworks().values() if name}.items():
        group = groups.get(name)
        if group is None or not group.rollouts or not path.exists():
            continue
        try:
            framework = load_framework(path)
        except (NexForgeError, OSError, ValueError) as exc:
            log.debug("stats: framework %s does not load", path, exc_info=exc)
            continue
        specialists = [a for a in agents_by_name(framework.entry) if a != framework.entry.name]
        unused = [a for a in specialists if not group.agent_episodes.get(a)]
        if unused:
            findings.append(
                f"framework {name}: {len(unused)} of {len(specialists)} specialists never "
                f"work in its {group.rollouts} rollouts ({', '.join(unused)})"
            )
    return findings
