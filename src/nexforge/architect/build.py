"""``nexforge build``: one sentence -> K validated, runnable frameworks.

Stages (each saved in ``DIR/.build`` as it finishes, so a re-run resumes):
domain (a sketch from the sentence, one short question per entity) -> seed rows (drawn
values, and one request per entity for the text only a model can write) -> tools
(derived, no model) -> custom tools -> personas -> problem types (derived) -> probe
queries -> per variant: hierarchy (its archetype, derived) -> one prompt per agent ->
assembly -> validation ladder. Independent requests of a stage are sent together, so the
local model's parallel slots serve them at once. The domain, its environment and the query
kit are shared by the variants; hierarchies and prompts differ.

The stages check their own output with the quality rung's checks and send the reasons
back to the model (``ask``'s repairs). A variant that still fails a rung the prompts can
fix (the probe, or the quality rung on prompts alone) has its prompts redone with the
failure as feedback, at most ``max_repairs`` times; what could not be fixed is in its
``report.json``, with every stage's wall time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexforge.architect import domain as domain_stage
from nexforge.architect import hierarchy as hierarchy_stage
from nexforge.architect import kit as kit_stage
from nexforge.architect import prompts as prompt_stage
from nexforge.architect.ask import AskSettings, StageFailed, StageProblems, StageUsage, ask
from nexforge.architect.assemble import write_agents, write_json, write_kit
from nexforge.architect.custom_stage import propose_custom_tools
from nexforge.architect.customtools import custom_plan
from nexforge.architect.envgen import plan_tools, seed_request_schema, write_environment
from nexforge.architect.ladder import CheckReport, RungResult, check_framework
from nexforge.architect.quality_rung import (
    entity_problems,
    reference_problems,
    spec_content,
)
from nexforge.architect.report import structure_stats
from nexforge.architect.seed_values import draw_rows, relate_amounts
from nexforge.architect.seedgen import (
    SEED_ROWS,
    TEXT_SYSTEM,
    model_part,
    normalize_text_rows,
    realism_problems,
    seeded_domain,
    text_prompt,
    unfillable,
)
from nexforge.architect.spec import (
    AgentPlan,
    Archetype,
    CustomTool,
    DomainSpec,
    EntitySpec,
    HierarchyPlan,
    QueryKit,
    Row,
    SeedData,
    ToolPlan,
)
from nexforge.architect.store import StageStore
from nexforge.models.base import Model

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildOptions:
    description: str
    out: Path
    variants: int = 1
    seed: int = 0
    max_repairs: int = 2
    probe: bool = True
    max_probe_queries: int = 3
    custom_tools: int = 1
    """Model-written tools to propose (each kept only if its tests pass in the sandbox)."""
    ask: AskSettings = field(default_factory=AskSettings)


@dataclass
class VariantResult:
    path: Path
    archetype: str
    check: CheckReport
    report: dict[str, Any]


@dataclass
class _Build:
    options: BuildOptions
    model: Model
    store: StageStore
    progress: Progress
    usage: dict[str, StageUsage] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage (a stage's model calls may overlap)."""
    resumed: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    custom_rejected: list[dict[str, str]] = field(default_factory=list)

    def stage_usage(self, name: str) -> StageUsage:
        return self.usage.setdefault(name, StageUsage())

    async def cached(self, name: str, compute: Callable[[], Any]) -> Any:
        saved = self.store.load(name)
        if saved is not None:
            self.resumed.append(name)
            self.progress(f"{name}: resumed from {self.store.root / name}.json")
            return saved
        started = time.perf_counter()
        value = await compute()
        self.store.save(name, value)
        self.timings[name] = round(time.perf_counter() - started, 3)
        self.progress(f"{name}: done in {self.timings[name]:.1f}s")
        return value


async def build(
    options: BuildOptions, model: Model, progress: Progress = lambda _: None
) -> list[VariantResult]:
    """Build ``options.variants`` frameworks for ``options.description`` into ``options.out``."""
    if options.variants < 1:
        raise ValueError("variants must be at least 1")
    store = StageStore(options.out)
    store.claim({"description": options.description, "seed": options.seed})
    run = _Build(options, model, store, progress)
    settings = _seeded(options.ask, options.seed, options.max_repairs)
    domain = DomainSpec.model_validate(await run.cached("domain", lambda: _domain(run, settings)))
    seed = SeedData.model_validate(await run.cached("seed", lambda: _seed(run, settings, domain)))
    domain = seeded_domain(domain, seed)  # without the columns the model could not fill
    derived = plan_tools(domain)
    custom_saved = await run.cached(
        "custom_tools",
        lambda: propose_custom_tools(
            model,
            settings,
            domain,
            seed,
            {t.name for t in derived},
            options.custom_tools,
            run.stage_usage("custom_tools"),
        ),
    )
    custom = [CustomTool.model_validate(c) for c in custom_saved["accepted"]]
    run.custom_rejected = list(custom_saved["rejected"])
    tools = derived + [custom_plan(c) for c in custom]
    kit = QueryKit.model_validate(
        await run.cached("kit", lambda: _kit(run, settings, domain, tools, seed))
    )
    results = []
    for variant in range(1, options.variants + 1):
        out = options.out if options.variants == 1 else options.out / f"v{variant}"
        results.append(
            await _variant(run, settings, variant, out, domain, tools, seed, kit, custom)
        )
    return results


def _seeded(settings: AskSettings, seed: int, max_repairs: int) -> AskSettings:
    """The build's seed and repair bound apply to every stage's requests."""
    sampling = settings.sampling.model_copy(update={"seed": seed})
    return dataclasses.replace(settings, sampling=sampling, max_repairs=max_repairs)


async def _domain(run: _Build, settings: AskSettings) -> dict[str, Any]:
    usage = run.stage_usage("domain")
    found = domain_stage.sketch(run.options.description)
    once = dataclasses.replace(settings, max_repairs=0)  # a poor answer costs a column, no more

    async def fields(draft: domain_stage.Draft) -> list[Any]:
        try:
            return await ask(
                run.model,
                stage="fields",
                system=domain_stage.FIELDS_SYSTEM,
                prompt=domain_stage.fields_prompt(found, draft),
                schema=domain_stage.fields_schema(),
                normalize=lambda raw: domain_stage.normalize_fields(raw, found, draft, usage.fixes),
                settings=once,
                usage=usage,
            )
        except StageFailed as exc:
            usage.fixes.append(f"{draft.name}: kept its core columns ({exc})")
            return []

    answers = await asyncio.gather(*(fields(d) for d in found.drafts))
    spec = domain_stage.compose_domain(
        found, {d.name: a for d, a in zip(found.drafts, answers, strict=True)}
    )
    content = spec_content(run.options.description, spec, None, plan_tools(spec))
    problems = [*entity_problems(content), *reference_problems(content)]
    if problems:  # the sketch makes these by construction: a failure here is a bug
        raise StageFailed("domain", [str(p) for p in problems])
    return spec.model_dump(mode="json")


async def _seed(run: _Build, settings: AskSettings, domain: DomainSpec) -> dict[str, Any]:
    usage = run.stage_usage("seed")
    counts = {e.name: SEED_ROWS for e in domain.entities}

    async def rows_of(entity: EntitySpec) -> list[Row]:
        rng = random.Random(f"seed:{run.options.seed}:{entity.name}")
        rows = draw_rows(entity, SEED_ROWS, counts, rng)
        part = model_part(entity)
        if part is not None:
            written = await _text_rows(run, settings, domain, part, counts, usage)
            for row, text in zip(rows, written, strict=True):
                row.update(text)
        run.progress(f"seed: {entity.name} has {len(rows)} rows")
        return [{f.name: row[f.name] for f in entity.fields if f.name in row} for row in rows]

    tables = await asyncio.gather(*(rows_of(e) for e in domain.entities))
    rows = {e.name: t for e, t in zip(domain.entities, tables, strict=True)}
    relate_amounts(domain, rows, random.Random(f"amounts:{run.options.seed}"))
    return SeedData(rows=rows).model_dump(mode="json")


async def _text_rows(
    run: _Build,
    settings: AskSettings,
    domain: DomainSpec,
    part: EntitySpec,
    counts: dict[str, int],
    usage: StageUsage,
) -> list[Row]:
    """The model's text columns of one entity, sent back while they look like placeholders.
    After the last repair a column still failing is dropped (a name or a reason is kept,
    and the quality rung will say so): a poor answer costs a column, not the build."""
    attempts = 0

    def normalize(raw: dict[str, Any]) -> list[Row]:
        nonlocal attempts
        attempts += 1
        rows, problems = normalize_text_rows(part, raw.get("rows") or [], SEED_ROWS)
        if problems:
            raise StageProblems(problems)
        unreal = realism_problems(part, rows)
        if unreal and attempts <= settings.max_repairs:
            raise StageProblems(list(unreal.values()))
        for column in unfillable(unreal):
            usage.fixes.append(f"{part.name}: dropped column {column!r} ({unreal[column]})")
            for row in rows:
                row.pop(column, None)
        kept = set(unreal) - set(unfillable(unreal))
        if kept:
            usage.fixes.append(
                f"{part.name}: kept after repairs: {'; '.join(unreal[c] for c in kept)}"
            )
        return rows

    rows: list[Row] = await ask(
        run.model,
        stage="rows",
        system=TEXT_SYSTEM,
        prompt=text_prompt(domain, part, SEED_ROWS),
        schema=seed_request_schema(domain, part, counts, min_rows=SEED_ROWS, max_rows=SEED_ROWS),
        normalize=normalize,
        settings=settings,
        usage=usage,
    )
    return rows


async def _kit(
    run: _Build, settings: AskSettings, domain: DomainSpec, tools: list[ToolPlan], seed: SeedData
) -> dict[str, Any]:
    kit = await kit_stage.make_kit(
        run.model,
        settings,
        domain.profile(),
        tools,
        seed.rows,
        run.stage_usage("kit"),
        run.options.max_probe_queries,
        tree=kit_stage.problem_tree(domain, tools),
    )
    return kit.model_dump(mode="json")


@dataclass
class _Variant:
    """One variant's stages; ``feedback`` carries a failed rung into the redone prompts."""

    run: _Build
    settings: AskSettings
    number: int
    domain: DomainSpec
    tools: list[ToolPlan]
    archetype: Archetype
    feedback: str = ""

    @property
    def key(self) -> str:
        return f"v{self.number}"

    async def plan(self) -> HierarchyPlan:
        async def compute() -> dict[str, Any]:
            rng = random.Random(f"layout:{self.run.options.seed}:{self.number}")
            plan = hierarchy_stage.plan_hierarchy(self.archetype, self.domain, self.tools, rng)
            return plan.model_dump(mode="json")

        saved = await self.run.cached(f"{self.key}/hierarchy", compute)
        return HierarchyPlan.model_validate(saved)

    async def prompts(self, plan: HierarchyPlan, order: list[str]) -> dict[str, str]:
        texts = await asyncio.gather(*(self.prompt(plan, a, order) for a in plan.agents))
        return {a.name: t for a, t in zip(plan.agents, texts, strict=True)}

    async def prompt(self, plan: HierarchyPlan, agent: AgentPlan, order: list[str]) -> str:
        content = prompt_stage.prompt_content(self.domain, self.tools)
        steps = order if agent.name == plan.entry else None

        def compose(role: str, habits: list[str]) -> str:
            return prompt_stage.compose_prompt(
                self.domain, plan, agent, self.tools, role, habits, order=steps
            )

        async def compute() -> str:
            usage = self.run.stage_usage(f"{self.key}/prompts")

            request = prompt_stage.prompt_request(self.domain, plan, agent)
            echoes = [request, agent.role, *agent.responsibilities]

            def normalize(raw: dict[str, Any]) -> str:
                role, habits = prompt_stage.normalize_prompt(raw)
                problems = prompt_stage.prompt_problems(compose(role, []), agent, content)
                if any(prompt_stage.copies(role, e) for e in echoes):
                    problems.append(
                        "the role repeats the request; say in your own words what you do"
                    )
                if problems:
                    raise StageProblems(problems)
                kept = [
                    h
                    for h in habits
                    if not prompt_stage.prompt_problems(compose(role, [h]), agent, content)
                    and not any(
                        prompt_stage.copies(h, e)
                        for e in [*echoes, role, *prompt_stage.EXAMPLE_HABITS]
                    )
                ]
                if len(kept) < len(habits):
                    dropped = len(habits) - len(kept)
                    usage.fixes.append(
                        f"{agent.name}: dropped {dropped} habit(s) the checks refused"
                    )
                return compose(role, kept)

            try:
                text: str = await ask(
                    self.run.model,
                    stage="prompt",
                    system=prompt_stage.PROMPT_SYSTEM,
                    prompt=request + self.feedback,
                    schema=prompt_stage.prompt_schema(),
                    normalize=normalize,
                    settings=self.settings,
                    usage=usage,
                )
            except StageFailed as exc:
                usage.fixes.append(f"{agent.name}: role written from the structure ({exc})")
                text = compose(prompt_stage.fallback_role(self.domain, plan, agent), [])
            return text

        text = await self.run.cached(f"{self.key}/prompt_{agent.name}", compute)
        return str(text)


def repairable(rung: RungResult) -> bool:
    """A failure redone prompts can fix: the probe, or the quality rung on prompts alone
    (the domain, seed rows and hierarchy are shared or derived: redoing them changes
    nothing)."""
    if rung.name == "probe":
        return True
    if rung.name != "quality":
        return False
    found = rung.details.get("problems") or {}
    return bool(found.get("prompts")) and not any(v for k, v in found.items() if k != "prompts")


async def _variant(
    run: _Build,
    settings: AskSettings,
    number: int,
    out: Path,
    domain: DomainSpec,
    tools: list[ToolPlan],
    seed: SeedData,
    kit: QueryKit,
    custom: list[CustomTool],
) -> VariantResult:
    started = time.perf_counter()
    archetype = hierarchy_stage.variant_archetype(run.options.seed, number)
    variant = _Variant(run, settings, number, domain, tools, archetype)
    repairs: list[dict[str, Any]] = []
    env_files = write_environment(domain, seed, tools, out, custom=custom)
    while True:
        plan = await variant.plan()
        order = plan.agent(plan.entry).delegates if archetype == "pipeline" else []
        prompts = await variant.prompts(plan, order)
        write_agents(
            out,
            domain,
            run.options.description,
            plan,
            prompts,
            database=env_files.database,
            tools_module=env_files.tools_module,
            order=order,
        )
        write_kit(out, kit)
        run.progress(f"{variant.key}: checking {out}")
        check = await check_framework(
            out,
            model=run.model,
            probe=run.options.probe,
            max_probe_queries=run.options.max_probe_queries,
        )
        failed = next((r for r in check.rungs if r.passed is False), None)
        if failed is None or not repairable(failed) or len(repairs) >= run.options.max_repairs:
            break
        repairs.append({"rung": failed.name, "stage": "prompts", "reason": failed.reason})
        run.progress(f"{variant.key}: {failed.name} failed ({failed.reason}); redoing prompts")
        variant.feedback = (
            f"\n\nAn earlier version failed validation at '{failed.name}': {failed.reason}. "
            "Avoid that."
        )
        run.store.forget(f"{variant.key}/prompt_")
    key = variant.key
    stages = {n: u for n, u in run.usage.items() if _shared(n) or n.startswith(f"{key}/")}
    report = {
        "description": run.options.description,
        "variant": number,
        "archetype": archetype,
        "model": run.model.name,
        "seed": run.options.seed,
        "passed": check.passed,
        "reached": check.reached,
        "rungs": check.to_dict()["rungs"],
        "repairs": repairs,
        "custom_tools": {
            "accepted": [c.name for c in custom],
            "rejected": run.custom_rejected,
        },
        "unfixed": [f"{r.name}: {r.reason}" for r in check.rungs if r.passed is False],
        "stages": {name: u.to_dict() for name, u in stages.items()},
        "stage_seconds": {
            n: t for n, t in run.timings.items() if _shared(n) or n.startswith(f"{key}/")
        },
        "resumed": [s for s in run.resumed if _shared(s) or s.startswith(f"{key}/")],
        "model_calls": sum(u.model_calls for u in stages.values()),
        "prompt_tokens": sum(u.prompt_tokens for u in stages.values()),
        "completion_tokens": sum(u.completion_tokens for u in stages.values()),
        "variant_seconds": round(time.perf_counter() - started, 3),
        "build_seconds": round(time.perf_counter() - run.started, 3),
        "structure": structure_stats(domain, tools, plan, kit, seed),
    }
    write_json(out / "report.json", report)
    return VariantResult(out, archetype, check, report)


def _shared(stage: str) -> bool:
    """Stages every variant shares (domain, seed, kit) versus ``vN/...`` ones."""
    return "/" not in stage
