"""The labelled set as a store: each case's query (with its expected outcome computed the
way the query writer computes it) and its rollout, then ``nexforge verify``'s cascade over
all of them, and each rollout's default-filter decision."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cases import CASES, GOOD, HIERARCHIES, Case
from library_framework import write_library
from run_builder import RunBuilder

from nexforge.quality.cascade import VerifyOptions, verify_store
from nexforge.quality.policy import Decision, decide
from nexforge.runtime.config.framework import Framework, load_framework
from nexforge.synthesis.fingerprint import framework_hash
from nexforge.synthesis.grounding import environment_run
from nexforge.synthesis.records import (
    ExpectedOutcome,
    QueryRecord,
    ReferenceCall,
    RolloutProvenance,
    RolloutRecord,
    rollout_key,
)
from nexforge.synthesis.store import SynthesisStore

SHOP = Path(__file__).resolve().parents[3] / "examples" / "shop"


@dataclass(frozen=True)
class Outcome:
    case: Case
    decision: Decision

    @property
    def junk_kept(self) -> bool:
        return self.case.label != GOOD and self.decision.keep


async def labelled_outcomes(workdir: Path, cases: Sequence[Case] = CASES) -> list[Outcome]:
    """Build, store and verify the cases; the default filter's decision on each (the
    store stays at ``workdir / "labelled.sqlite"``)."""
    frameworks = {"shop": load_framework(SHOP), "library": load_framework(write_library(workdir))}
    store = SynthesisStore(workdir / "labelled.sqlite")
    keys: dict[str, Case] = {}
    try:
        for framework_name, framework in frameworks.items():
            fh = framework_hash(framework)
            store.remember_framework(fh, framework.name, framework.source)
            for case in (c for c in cases if c.framework == framework_name):
                query = await _query(case, framework, fh)
                store.add_query(query)
                rollout = await _rollout(case, framework, query)
                store.put_rollout(rollout)
                keys[rollout.key] = case
        await verify_store(store, VerifyOptions(workers=4))
        verdicts = store.all_verdicts()
        return [Outcome(case, decide(verdicts.get(key, []))) for key, case in keys.items()]
    finally:
        store.close()


async def _query(case: Case, framework: Framework, fh: str) -> QueryRecord:
    environment = framework.environment
    assert environment is not None
    expected: ExpectedOutcome | None = None
    if not case.no_expectation:
        expected = ExpectedOutcome(facts=list(case.facts))
        if case.calls is not None:
            expected.calls = [ReferenceCall(tool=c.tool, arguments=c.arguments) for c in case.calls]
            if case.hash_from_calls:
                expected.state_hash = await environment.replay_calls(
                    [(c.tool, c.arguments) for c in case.calls]
                )
    return QueryRecord(
        text=case.query,
        framework=framework.name,
        difficulty=case.difficulty,
        type_tools=list(case.type_tools),
        expected=expected,
    ).keyed(fh)


async def _rollout(case: Case, framework: Framework, query: QueryRecord) -> RolloutRecord:
    environment = framework.environment
    assert environment is not None
    async with environment_run(environment, "labelled") as ctx:
        builder = RunBuilder(environment, ctx, HIERARCHIES[case.framework])
        trajectory = await builder.run(case.query, case.steps, stop_reason=case.stop_reason)  # type: ignore[arg-type]
    return RolloutRecord(
        key=rollout_key(query.key, 0),
        query_key=query.key,
        sample=0,
        status="done",
        trajectory=trajectory,
        started_at=1.0,
        seconds=1.0,
        provenance=RolloutProvenance(
            framework_hash=query.framework_hash, package_version="test", seed=0
        ),
    )


def per_kind(outcomes: list[Outcome]) -> dict[str, tuple[int, int]]:
    """Per label: (rollouts, kept by the default filter)."""
    total: Counter[str] = Counter(o.case.label for o in outcomes)
    kept: Counter[str] = Counter(o.case.label for o in outcomes if o.decision.keep)
    return {label: (total[label], kept[label]) for label in sorted(total)}
