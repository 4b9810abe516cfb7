"""One attempt at one slot: ground, plan, word, execute, review.

Records are read from the environment (``grounding``); the task is planned from them
(``blueprint``: what the person knows, what they want to find out or change); the model
words the request (``writer``); a change is executed on a fresh copy for its end state.
The attempt ends with a keyed ``QueryRecord`` or a ``Rejection`` saying why (no
evidence could be read, no task could be planned, the environment refused the planned
change, a model stage still failed after its repairs, or the model's answer was
unusable, e.g. cut at max_tokens). Other model errors (timeouts, HTTP
errors: the provider already retried them) propagate and stop the run; it resumes.
"""

from __future__ import annotations

from dataclasses import dataclass

from nexforge.architect.ask import StageFailed, StageUsage
from nexforge.core.errors import ModelResponseError
from nexforge.models.base import Model
from nexforge.synthesis.blueprint import (
    Blueprint,
    NoBlueprint,
    choose_blueprint,
    execute_blueprint,
    plan_task,
)
from nexforge.synthesis.facts import states
from nexforge.synthesis.grounding import read_evidence
from nexforge.synthesis.planner import SlotPlan
from nexforge.synthesis.query_options import QueryOptions
from nexforge.synthesis.records import ExpectedOutcome, QueryRecord, UserSide
from nexforge.synthesis.review import check_fit, fuzzify
from nexforge.synthesis.sampler import slot_rng
from nexforge.synthesis.writer import QueryTopic, WrittenRequest, write_request
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
    env = work.environment
    evidence = await read_evidence(
        work.grounding,
        env,
        plan.tools,
        slot_rng(work.seed, plan.slot, plan.attempt, "ground"),
        max_reads=work.options.max_reads,
    )
    # Any successful read: a record without a name or a long id ("order 4") is still one a
    # person can name; the blueprint decides whether the rows can carry a task.
    if not evidence:
        tools = ", ".join(plan.tools) or "none"
        return Rejection("no_evidence", f"no record could be read for {plan.path[-1]} ({tools})")
    candidates = plan_task(
        env,
        evidence,
        plan.tools,
        plan.difficulty,
        slot_rng(work.seed, plan.slot, plan.attempt, "blueprint"),
    )
    if isinstance(candidates, NoBlueprint):
        return Rejection("no_blueprint", candidates.reason)
    blueprint = await choose_blueprint(env, candidates, plan.difficulty)
    if isinstance(blueprint, NoBlueprint):
        return Rejection("no_blueprint", blueprint.reason)
    topic = QueryTopic(
        plan.persona, plan.path_labels, plan.description, plan.difficulty, plan.tools
    )
    settings, usage = work.options.ask, StageUsage()
    notes = list(plan.notes)
    notes.append(f"blueprint: {blueprint.kind}: {blueprint.wants()}")
    try:
        written = await write_request(work.model, topic, blueprint, settings=settings, usage=usage)
        text, precise = written.text, None
        expected = await _expected(env, blueprint, written, plan.difficulty)
        if isinstance(expected, Rejection):
            return expected
        blueprint, outcome = expected
        if work.options.fit_check:
            text = await _fit(work, topic, text, blueprint, written, notes, usage)
        if work.options.fuzzify:
            try:
                fuzzy = await fuzzify(
                    work.model,
                    topic,
                    text,
                    blueprint,
                    written.details,
                    settings=settings,
                    usage=usage,
                )
            except StageFailed as exc:
                notes.append(f"not fuzzified: {exc}")
            else:
                precise, text = text, fuzzy
                notes.append("fuzzified: the precise request is in precise_text")
    except StageFailed as exc:
        return Rejection("stage_failed", str(exc))
    except ModelResponseError as exc:  # unusable even after the provider's retries
        return Rejection("model_response", str(exc))
    finally:
        work.usage.add(usage)
    notes.extend(f"repair: {r}" for r in usage.repairs)
    told = [f for f in outcome.facts if states(text, f)]
    if told:
        outcome.facts = [f for f in outcome.facts if f not in told]
        notes.append(f"dropped facts the request states: {', '.join(told)}")
    if not outcome.facts and outcome.state_hash is None:
        return Rejection("no_expectation", "nothing left for the cascade to check", text)
    known = [k.text for k in blueprint.known] + list(written.details.values())
    record = QueryRecord(
        text=text,
        framework=work.framework,
        precise_text=precise,
        persona=plan.persona.model_dump(),
        path=list(plan.path),
        path_labels=list(plan.path_labels),
        difficulty=plan.difficulty,
        type_tools=list(plan.tools),
        evidence=evidence,
        expected=outcome,
        user=UserSide(goal=f"{plan.persona.name} wants {blueprint.wants()}", facts=known),
        seed=work.seed,
        slot=plan.slot,
        model=work.model.name,
        notes=notes,
    )
    return record.keyed(work.framework_hash)


async def _expected(
    env: Environment, blueprint: Blueprint, written: WrittenRequest, difficulty: str
) -> tuple[Blueprint, ExpectedOutcome] | Rejection:
    """The expected outcome, from execution: a read's facts are values the environment
    returned; a write's end state is what its call reaches on a fresh copy."""
    if blueprint.kind == "read":
        return blueprint, ExpectedOutcome(facts=list(blueprint.facts))
    assert blueprint.call is not None
    blueprint.call.arguments.update(written.details)
    executed = await execute_blueprint(env, blueprint, difficulty)
    if isinstance(executed, NoBlueprint):
        return Rejection("refused", executed.reason, written.text)
    done, state_hash = executed
    return done, ExpectedOutcome(
        facts=list(done.facts), calls=done.reference_calls(), state_hash=state_hash
    )


async def _fit(
    work: SlotWork,
    topic: QueryTopic,
    text: str,
    blueprint: Blueprint,
    written: WrittenRequest,
    notes: list[str],
    usage: StageUsage,
) -> str:
    """The fit check's rewrite when it has one that still does the request's job."""
    try:
        verdict = await check_fit(
            work.model,
            topic,
            text,
            blueprint,
            written.details,
            settings=work.options.ask,
            usage=usage,
        )
    except StageFailed as exc:
        notes.append(f"fit check: no usable rewrite ({exc}); kept the request")
        return text
    if verdict.fits:
        notes.append(f"fit check: fits ({verdict.reason})")
        return text
    assert verdict.rewritten is not None
    notes.append(f"fit check: rewritten ({verdict.reason}); was: {text}")
    return verdict.rewritten
