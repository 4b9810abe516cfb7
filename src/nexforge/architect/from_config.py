"""``nexforge build --from-config DIR``: bring your own hierarchy, get a kit and a check.

The hand-written framework is loaded by the runtime's loader (so its errors are the
loader's, with file, line and key); the model describes its domain (a profile: title,
purpose, user types, tasks) from the agents and tools, then writes the query kit exactly
as for a generated framework, grounded in the environment's seed rows when there is one.
The kit goes to ``DIR/kit`` (or to a copy of DIR made at ``-o OUT``) and the ladder runs.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from nexforge.architect.ask import AskSettings, StageProblems, StageUsage, ask
from nexforge.architect.assemble import write_json, write_kit
from nexforge.architect.build import Progress, VariantResult
from nexforge.architect.kit import Teams, make_kit
from nexforge.architect.ladder import check_framework
from nexforge.architect.schema_parts import closed_object, text, texts
from nexforge.architect.spec import DomainProfile, QueryKit, ToolPlan
from nexforge.architect.store import BuildConflict, StageStore
from nexforge.core.errors import ConfigError
from nexforge.models.base import Model
from nexforge.runtime.agent import Agent
from nexforge.runtime.config.framework import Framework, load_framework

PROFILE_SYSTEM = """You describe the domain an existing team of AI agents serves, from
its agents and tools: a title, its purpose in one or two sentences, the types of users
who bring requests, and the tasks they bring. Call submit_profile."""


def profile_schema() -> dict[str, Any]:
    return closed_object(
        {
            "title": text(80),
            "purpose": text(300),
            "user_types": texts(60, 2, 4),
            "tasks": texts(120, 3, 6),
        }
    )


def framework_tools(entry: Agent) -> list[ToolPlan]:
    """Every tool the hierarchy's agents hold (not the sub-agents-as-tools), once."""
    seen: dict[str, ToolPlan] = {}
    pending, visited = [entry], set()
    while pending:
        agent = pending.pop(0)
        if id(agent) in visited:
            continue
        visited.add(id(agent))
        for tool in agent.tools:
            spec = tool.spec
            if spec.name not in seen:
                seen[spec.name] = ToolPlan(
                    name=spec.name,
                    kind="custom",
                    description=spec.description.split("\n")[0][:200] or spec.name,
                    read_only=spec.read_only,
                )
        pending.extend(agent.sub_agents)
    return list(seen.values())


def _agents(entry: Agent) -> list[Agent]:
    found: list[Agent] = []
    pending = [entry]
    while pending:
        agent = pending.pop(0)
        if agent.name not in {a.name for a in found}:
            found.append(agent)
            pending.extend(agent.sub_agents)
    return found


def seed_rows(framework: Framework, per_table: int = 3) -> dict[str, list[dict[str, Any]]]:
    """A few rows of each table of the environment's seed database (read-only)."""
    env = framework.environment
    if env is None or env.seed.database is None:
        return {}
    rows: dict[str, list[dict[str, Any]]] = {}
    conn = sqlite3.connect(f"file:{env.seed.database}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
                "ORDER BY name"
            )
        ]
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            found = conn.execute(f"SELECT * FROM {quoted} LIMIT ?", (per_table,)).fetchall()
            rows[table] = [{k: r[k] for k in r.keys() if k != "id"} for r in found]  # noqa: SIM118 (sqlite3.Row)
    finally:
        conn.close()
    return rows


def _prepare(source: Path, output: Path | None) -> Path:
    source = source.resolve()
    if source.is_file():
        source = source.parent
    if output is None:
        return source
    output = output.resolve()
    if output.exists() and any(output.iterdir()) and not (output / ".build").is_dir():
        raise BuildConflict(f"{output} exists and is not empty; choose a new -o folder")
    if not output.exists():
        shutil.copytree(source, output, ignore=shutil.ignore_patterns(".build", "__pycache__"))
    return output


async def build_from_config(
    config: Path,
    model: Model,
    *,
    output: Path | None = None,
    ask_settings: AskSettings | None = None,
    seed: int = 0,
    probe: bool = True,
    max_probe_queries: int = 3,
    progress: Progress = lambda _: None,
) -> VariantResult:
    started = time.perf_counter()
    target = _prepare(config, output)
    framework = load_framework(target)
    if framework.source.name != "framework.yaml":
        raise ConfigError(
            "--from-config needs a framework folder with framework.yaml", file=framework.source
        )
    settings = ask_settings or AskSettings()
    settings = AskSettings(
        sampling=settings.sampling.model_copy(update={"seed": seed}),
        max_repairs=settings.max_repairs,
        timeout_s=settings.timeout_s,
        max_tokens=settings.max_tokens,
    )
    store = StageStore(target)
    store.claim({"from_config": framework.name, "seed": seed})
    tools = framework_tools(framework.entry)
    if not tools:
        raise ConfigError("the hierarchy has no tools: a kit needs tools", file=framework.source)
    agents = _agents(framework.entry)
    usage: dict[str, StageUsage] = {"profile": StageUsage(), "kit": StageUsage()}
    resumed: list[str] = []

    saved = store.load("profile")
    if saved is None:
        agent_lines = "\n".join(f"- {a.name}: {a.description}" for a in agents)
        tool_lines = "\n".join(f"- {t.name}: {t.description}" for t in tools)
        profile = await ask(
            model,
            stage="profile",
            system=PROFILE_SYSTEM,
            prompt=f"Framework: {framework.name}. {framework.description}\nAgents:\n{agent_lines}"
            f"\nTools:\n{tool_lines}",
            schema=profile_schema(),
            normalize=_profile,
            settings=settings,
            usage=usage["profile"],
        )
        store.save("profile", profile.model_dump(mode="json"))
        progress("profile: done")
    else:
        profile = DomainProfile.model_validate(saved)
        resumed.append("profile")
    saved = store.load("kit")
    if saved is None:
        teams = Teams(
            entry=frozenset(t.spec.name for t in framework.entry.tools),
            members=tuple(
                frozenset(t.spec.name for t in a.tools) for a in agents if a is not framework.entry
            ),
        )
        kit = await make_kit(
            model,
            settings,
            profile,
            tools,
            seed_rows(framework),
            usage["kit"],
            max_probe_queries,
            teams=teams,
        )
        store.save("kit", kit.model_dump(mode="json"))
        progress("kit: done")
    else:
        kit = QueryKit.model_validate(saved)
        resumed.append("kit")
    write_kit(target, kit)
    progress(f"checking {target}")
    check = await check_framework(
        target, model=model, probe=probe, max_probe_queries=max_probe_queries
    )
    archetype = framework.workflow.archetype if framework.workflow else "hand-written"
    report = {
        "from_config": str(config),
        "model": model.name,
        "seed": seed,
        "archetype": archetype,
        "passed": check.passed,
        "reached": check.reached,
        "rungs": check.to_dict()["rungs"],
        "unfixed": [f"{r.name}: {r.reason}" for r in check.rungs if r.passed is False],
        "stages": {name: u.to_dict() for name, u in usage.items()},
        "resumed": resumed,
        "model_calls": sum(u.model_calls for u in usage.values()),
        "build_seconds": round(time.perf_counter() - started, 3),
        "structure": {
            "agents": len(agents),
            "tools": len(tools),
            "personas": len(kit.personas),
            "problem_types": {
                "leaves": len(kit.problem_types.leaves()),
                "depth": kit.problem_types.depth(),
            },
            "probe_queries": len(kit.probe_queries),
        },
    }
    write_json(target / "report.json", report)
    return VariantResult(target, archetype, check, report)


def _profile(raw: dict[str, Any]) -> DomainProfile:
    def texts(key: str) -> list[str]:
        values = [" ".join(str(v).split()) for v in raw.get(key) or []]
        return [v for v in dict.fromkeys(values) if v]

    title = " ".join(str(raw.get("title") or "").split())
    purpose = " ".join(str(raw.get("purpose") or "").split())
    problems = [f"{k} is empty" for k, v in (("title", title), ("purpose", purpose)) if not v]
    problems += [f"{k} is empty" for k in ("user_types", "tasks") if not texts(k)]
    if problems:
        raise StageProblems(problems)
    return DomainProfile(
        title=title, purpose=purpose, user_types=texts("user_types"), tasks=texts("tasks")
    )
