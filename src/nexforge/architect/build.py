"""``nexforge build``: one sentence -> K validated, runnable frameworks.

Stages (each saved in ``DIR/.build`` as it finishes, so a re-run resumes):
domain -> seed rows (one request per entity, in reference order) -> tools (derived, no
model) -> personas -> problem types -> probe queries -> per variant: hierarchy (its
archetype) -> one prompt per agent -> assembly -> validation ladder. The domain, its
environment and the query kit are shared by the variants; hierarchies and prompts differ.

A variant that fails a rung is repaired: the stage responsible is redone with the
failure as feedback (hierarchy for schema/load/smoke, prompts for the probe), at most
``max_repairs`` times; what could not be fixed is in its ``report.json``.
"""

from __future__ import annotations

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
from nexforge.architect.ask import AskSettings, StageProblems, StageUsage, ask
from nexforge.architect.assemble import write_agents, write_json, write_kit
from nexforge.architect.custom_stage import propose_custom_tools
from nexforge.architect.customtools import custom_plan
from nexforge.architect.envgen import (
    normalize_seed_rows,
    plan_tools,
    seed_order,
    seed_request_schema,
    write_environment,
)
from nexforge.architect.ladder import CheckReport, check_framework
from nexforge.architect.report import structure_stats
from nexforge.architect.spec import (
    AgentPlan,
    Archetype,
    CustomTool,
    DomainSpec,
    HierarchyPlan,
    QueryKit,
    SeedData,
    ToolPlan,
)
from nexforge.architect.store import StageStore
from nexforge.models.base import Model

Progress = Callable[[str], None]
MODEL_REPAIR_RUNGS = {
    "schema": "hierarchy",
    "load": "hierarchy",
    "smoke": "hierarchy",
    "probe": "prompts",
}


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
        self.progress(f"{name}: done in {time.perf_counter() - started:.1f}s")
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
    spec = await ask(
        run.model,
        stage="domain",
        system=domain_stage.DOMAIN_SYSTEM,
        prompt=domain_stage.domain_prompt(run.options.description),
        schema=domain_stage.domain_schema(),
        normalize=lambda raw: domain_stage.normalize_domain(raw, usage.fixes),
        settings=settings,
        usage=usage,
    )
    return spec.model_dump(mode="json")


async def _seed(run: _Build, settings: AskSettings, domain: DomainSpec) -> dict[str, Any]:
    usage = run.stage_usage("seed")
    rows: dict[str, list[dict[str, Any]]] = {}
    counts: dict[str, int] = {}
    for name in seed_order(domain):
        entity = domain.entity(name)

        def normalize(raw: dict[str, Any], entity_name: str = name) -> list[dict[str, Any]]:
            kept, problems = normalize_seed_rows(
                domain, domain.entity(entity_name), raw.get("rows") or [], counts
            )
            if problems:
                raise StageProblems(problems)
            return kept

        fields = ", ".join(
            f"{f.name} ({f.type}{', refers to ' + f.references if f.references else ''})"
            for f in entity.fields
        )
        prompt = (
            f"System: {domain.title}. {domain.purpose}\nTable {entity.name}: {entity.description}\n"
            f"Fields: {fields}\nWrite realistic, varied rows (ids are assigned 1, 2, 3, ... in order)."
        )
        rows[name] = await ask(
            run.model,
            stage=f"seed_{name}",
            system="You write realistic sample records for a database table. Call the submit tool.",
            prompt=prompt,
            schema=seed_request_schema(domain, entity, counts),
            normalize=normalize,
            settings=settings,
            usage=usage,
        )
        counts[name] = len(rows[name])
        run.progress(f"seed: {name} has {counts[name]} rows")
    return SeedData(rows=rows).model_dump(mode="json")


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
    )
    return kit.model_dump(mode="json")


@dataclass
class _Variant:
    """One variant's stages; ``feedback`` carries a failed rung into the redone stage."""

    run: _Build
    settings: AskSettings
    number: int
    domain: DomainSpec
    tools: list[ToolPlan]
    archetype: Archetype
    slots: list[hierarchy_stage.Slot]
    feedback: str = ""

    @property
    def key(self) -> str:
        return f"v{self.number}"

    async def plan(self) -> HierarchyPlan:
        saved = await self.run.cached(f"{self.key}/hierarchy", self._ask_plan)
        return HierarchyPlan.model_validate(saved)

    async def _ask_plan(self) -> dict[str, Any]:
        usage = self.run.stage_usage(f"{self.key}/hierarchy")
        prompt = hierarchy_stage.hierarchy_prompt(
            self.domain, self.slots, self.tools, self.archetype
        )
        plan = await ask(
            self.run.model,
            stage="hierarchy",
            system=hierarchy_stage.HIERARCHY_SYSTEM,
            prompt=prompt + self.feedback,
            schema=hierarchy_stage.hierarchy_schema(self.slots, self.tools),
            normalize=lambda raw: hierarchy_stage.normalize_hierarchy(
                raw, self.slots, self.archetype, self.tools, usage.fixes
            ),
            settings=self.settings,
            usage=usage,
        )
        return plan.model_dump(mode="json")

    async def prompt(self, plan: HierarchyPlan, agent: AgentPlan, order: list[str]) -> str:
        async def compute() -> str:
            usage = self.run.stage_usage(f"{self.key}/prompts")
            role, guidelines = await ask(
                self.run.model,
                stage="prompt",
                system=prompt_stage.PROMPT_SYSTEM,
                prompt=prompt_stage.prompt_request(self.domain, plan, agent, self.tools)
                + self.feedback,
                schema=prompt_stage.prompt_schema(),
                normalize=prompt_stage.normalize_prompt,
                settings=self.settings,
                usage=usage,
            )
            return prompt_stage.compose_prompt(
                self.domain,
                plan,
                agent,
                self.tools,
                role,
                guidelines,
                order=order if agent.name == plan.entry else None,
            )

        text = await self.run.cached(f"{self.key}/prompt_{agent.name}", compute)
        return str(text)


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
    rng = random.Random(f"layout:{run.options.seed}:{number}")
    slots = hierarchy_stage.layout(archetype, domain, tools, rng)
    variant = _Variant(run, settings, number, domain, tools, archetype, slots)
    repairs: list[dict[str, Any]] = []
    env_files = write_environment(domain, seed, tools, out, custom=custom)
    while True:
        plan = await variant.plan()
        names = {s.key: a.name for s, a in zip(slots, plan.agents, strict=True)}
        order = [names[s.key] for s in slots[1:]] if archetype == "pipeline" else []
        prompts = {a.name: await variant.prompt(plan, a, order) for a in plan.agents}
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
        stage = MODEL_REPAIR_RUNGS.get(failed.name) if failed is not None else None
        if failed is None or stage is None or len(repairs) >= run.options.max_repairs:
            break
        repairs.append({"rung": failed.name, "stage": stage, "reason": failed.reason})
        run.progress(f"{variant.key}: {failed.name} failed ({failed.reason}); redoing {stage}")
        variant.feedback = (
            f"\n\nAn earlier version failed validation at '{failed.name}': {failed.reason}. "
            "Avoid that."
        )
        run.store.forget(f"{variant.key}/prompt_")
        if stage == "hierarchy":
            run.store.forget(f"{variant.key}/hierarchy")
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
