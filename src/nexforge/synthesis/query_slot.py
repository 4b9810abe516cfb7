"""One attempt at one slot: ground, write, check the expected outcome, review.

The attempt ends with a keyed ``QueryRecord`` or a ``Rejection`` saying why (no
evidence could be read, a model stage still failed after its repairs, or the model's
answer was unusable, e.g. cut at max_tokens). Other model errors (timeouts, HTTP
errors: the provider already retried them) propagate and stop the run; it resumes.
"""

from __future__ import annotations

from dataclasses import dataclass

from nexforge.architect.ask import StageFailed, StageUsage
from nexforge.core.errors import ModelResponseError
from nexforge.models.base import Model
from nexforge.synthesis.evidence import anchors
from nexforge.synthesis.expectations import expected_outcome
from nexforge.synthesis.grounding import read_evidence
from nexforge.synthesis.planner import SlotPlan
from nexforge.synthesis.query_options import QueryOptions
from nexforge.synthesis.records import QueryRecord
from nexforge.synthesis.review import check_fit, fuzzify
from nexforge.synthesis.sampler import slot_rng
from nexforge.synthesis.writer import QueryTopic, write_draft, write_tools
from nexforge.tools.base import ToolContext
from nexforge.tools.environment import Environment


@dataclass(frozen=True)
class Rejection:
    """Why an attempt produced no query; ``kind`` groups reasons in the summary."""

    kind: str
    detail: str
    text: str | None = None

    @property
    def reason(self) -> str:
        return f"{self.kind}: {self.detail}"


@dataclass
class SlotWork:
    """What every attempt of one run shares."""

    framework: str
    framework_hash: str
    seed: int
    environment: Environment
    grounding: ToolContext
    """The run's read-only copy of the environment (opened once, for evidence)."""
    model: Model
    options: QueryOptions
    usage: StageUsage


async def attempt_slot(work: SlotWork, plan: SlotPlan) -> QueryRecord | Rejection:
    rng = slot_rng(work.seed, plan.slot, plan.attempt, "ground")
    env = work.environment
    evidence = await read_evidence(
        work.grounding, env, plan.tools, rng, max_reads=work.options.max_reads
    )
    named = anchors(evidence)
    if not named:
        tools = ", ".join(plan.tools) or "none"
        return Rejection("no_evidence", f"no record could be read for {plan.path[-1]} ({tools})")
    topic = QueryTopic(
        plan.persona, plan.path_labels, plan.description, plan.difficulty, plan.tools
    )
    settings, usage = work.options.ask, StageUsage()
    notes = list(plan.notes)
    try:
        draft = await write_draft(
            work.model, topic, env, evidence, named, settings=settings, usage=usage
        )
        expected = await expected_outcome(
            env,
            facts=draft.facts,
            calls=draft.calls,
            evidence=evidence,
            writes=bool(write_tools(env, plan.tools)),
            notes=notes,
        )
        text, precise = draft.text, None
        if work.options.fit_check:
            verdict = await check_fit(
                work.model, topic, text, named, settings=settings, usage=usage
            )
            if verdict.fits:
                notes.append(f"fit check: fits ({verdict.reason})")
            else:
                assert verdict.rewritten is not None
                notes.append(f"fit check: rewritten ({verdict.reason}); was: {text}")
                text = verdict.rewritten
        if work.options.fuzzify:
            precise, text = (
                text,
                await fuzzify(work.model, topic, text, named, settings=settings, usage=usage),
            )
            notes.append("fuzzified: the precise request is in precise_text")
    except StageFailed as exc:
        return Rejection("stage_failed", str(exc))
    except ModelResponseError as exc:  # unusable even after the provider's retries
        return Rejection("model_response", str(exc))
    finally:
        work.usage.add(usage)
    notes.extend(f"repair: {r}" for r in usage.repairs)
    record = QueryRecord(
        text=text,
        framework=work.framework,
        precise_text=precise,
        persona=plan.persona.model_dump(),
        path=list(plan.path),
        path_labels=list(plan.path_labels),
        difficulty=plan.difficulty,
        evidence=evidence,
        expected=expected,
        user=draft.user,
        seed=work.seed,
        slot=plan.slot,
        model=work.model.name,
        notes=notes,
    )
    return record.keyed(work.framework_hash)
