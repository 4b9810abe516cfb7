"""``nexforge pipeline``: one sentence -> framework -> checked -> queries -> rollouts ->
verified -> exported training data.

Every stage is resumable on its own (the architect's stage store, the synthesis store's
keys, verdicts kept per stage), so the pipeline is too: run the same command again after
any interruption and it redoes only what is missing. Layout of OUT: ``framework/`` (the
built framework, its ``.build`` stage store and ``report.json``), ``store.sqlite``
(queries, rollouts, verdicts), ``queries.jsonl`` (the query set, for reading) and
``data/<format>.jsonl`` (the training data, rewritten whole on every run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nexforge.core.errors import NexForgeError
from nexforge.models.base import Model
from nexforge.models.settings import ModelSettings

if TYPE_CHECKING:
    from nexforge.synthesis.store import SynthesisStore

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PipelineOptions:
    description: str
    out: Path
    queries: int = 3
    seed: int = 0
    samples: int = 1
    workers: int = 8
    probe: bool = False
    custom_tools: int = 1
    fuzzify: bool = False
    user_sim: bool = False
    timeout_s: float = 900.0
    export_format: str = "trl"
    judge: bool = False
    """Also run the LLM judge (with the pipeline's model) before exporting."""


@dataclass
class PipelineResult:
    framework: Path
    store: Path
    queries_file: Path
    data: Path | None = None
    stages: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "framework": str(self.framework),
            "store": str(self.store),
            "queries_file": str(self.queries_file),
            "data": None if self.data is None else str(self.data),
            "stages": self.stages,
        }


class PipelineStopped(NexForgeError):
    """A stage did not produce what the next one needs (the reason says which)."""


async def run_pipeline(
    options: PipelineOptions,
    model: Model,
    *,
    rollout_model: ModelSettings | Model | None = None,
    progress: Progress = lambda line: None,
) -> PipelineResult:
    """Build, check, write queries, roll them out, verify and export; each stage resumes
    where it stopped.

    ``model`` writes the framework and the queries (and judges, with ``judge``);
    ``rollout_model`` (default: ``model``) runs the framework's agents.
    """
    from nexforge.architect.build import BuildOptions, build
    from nexforge.export import ExportOptions, export_store
    from nexforge.quality.cascade import VerifyOptions, verify_store
    from nexforge.runtime.config.framework import load_framework
    from nexforge.synthesis.engine_local import run_local
    from nexforge.synthesis.fingerprint import framework_hash
    from nexforge.synthesis.queries import generate_queries
    from nexforge.synthesis.query_files import write_queries
    from nexforge.synthesis.query_options import QueryOptions
    from nexforge.synthesis.rollout import RolloutContext, RolloutOptions, plan_tasks
    from nexforge.synthesis.store import SynthesisStore

    out = options.out
    result = PipelineResult(out / "framework", out / "store.sqlite", out / "queries.jsonl")
    progress("build: framework (resumes finished stages)")
    built = await build(
        BuildOptions(
            description=options.description,
            out=result.framework,
            variants=1,
            seed=options.seed,
            probe=options.probe,
            custom_tools=options.custom_tools,
        ),
        model,
        progress,
    )
    variant = built[0]
    result.stages["build"] = {"path": str(variant.path), "archetype": variant.archetype}
    result.stages["check"] = variant.check.to_dict()
    if not variant.check.passed:
        raise PipelineStopped(
            f"the framework at {variant.path} failed its check; see `nexforge check {variant.path}`"
        )
    result.framework = variant.path
    framework = load_framework(variant.path)
    fh = framework_hash(framework)
    with SynthesisStore(result.store) as store:
        progress(f"queries: {options.queries} (seed {options.seed})")
        summary = await generate_queries(
            variant.path,
            n=options.queries,
            store=store,
            seed=options.seed,
            model=model,
            options=QueryOptions(fuzzify=options.fuzzify),
        )
        result.stages["queries"] = summary.to_dict()
        queries = store.queries(fh, seed=options.seed)
        write_queries(result.queries_file, queries)
        if not queries:
            raise PipelineStopped("no query was accepted; see `nexforge status --store ...`")
        progress(f"rollouts: {len(queries)} queries x {options.samples} samples")
        ctx = RolloutContext(
            framework,
            fh,
            RolloutOptions(
                workers=options.workers,
                samples=options.samples,
                seed=options.seed,
                timeout_s=options.timeout_s,
                user_sim=options.user_sim,
            ),
            model=rollout_model if rollout_model is not None else model,
            user_model=model,
        )
        rollouts = await run_local(plan_tasks(queries, options.samples), ctx, store)
        result.stages["rollout"] = rollouts.to_dict()
        progress("verify: quality cascade" + (" with the judge" if options.judge else ""))
        verified = await verify_store(store, VerifyOptions(judge=model if options.judge else None))
        result.stages["verify"] = verified.to_dict()
        result.data = out / "data" / f"{options.export_format}.jsonl"
        progress(f"export: {options.export_format} -> {result.data}")
        exported = export_store(
            store, ExportOptions(format=options.export_format, output=result.data)
        )
        result.stages["export"] = exported.to_dict()
        result.stages["sample"] = kept_sample(store)
    return result


def kept_sample(store: SynthesisStore) -> dict[str, Any] | None:
    """One rollout the default export keeps, as a reader looks at it: the query, every
    call (with the agent that made it) and the final answer; None when none is kept."""
    from nexforge.quality.policy import decide

    verdicts = store.all_verdicts()
    for rollout in store.rollouts():
        if rollout.trajectory is None or not decide(verdicts.get(rollout.key, [])).keep:
            continue
        trajectory = rollout.trajectory
        calls = [
            {"agent": episode.agent, "tool": call.name, "arguments": call.arguments}
            for episode in trajectory.episodes
            for message in episode.messages
            for call in message.tool_calls
        ]
        return {
            "rollout": rollout.key,
            "query": trajectory.query,
            "calls": calls,
            "answer": trajectory.final_output,
        }
    return None
