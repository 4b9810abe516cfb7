"""The validation ladder behind ``nexforge check DIR``.

Rungs, in order; the first failure skips the rest:

1. ``schema``: framework.yaml, every agents/*.yaml, the kit files and the workflow graph
   are well-formed (nothing is imported or built).
2. ``load``: the framework loads; its delegation edges are the declared workflow's; every
   agent file is reached from the entry agent; every problem type's tools exist.
3. ``tool_tests``: the generated ``tools/test_*.py`` pass, run by pytest in the sandbox
   (model-written code never runs in this process for this rung).
4. ``smoke``: a scripted run reaches every agent and every tool (see ``smoke``).
5. ``quality``: the content is worth generating data from: prompts about the job, an entity
   per named thing, references, domain actions with rules, realistic seed rows, a lead that
   delegates (see ``quality_rung``).
6. ``probe``: the real model runs a few of the kit's probe queries without an error stop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexforge.architect.framework_files import (
    PROBE_QUERIES_FILE,
    FrameworkFiles,
    agent_files,
    read_framework_files,
)
from nexforge.architect.quality_rung import CHECKS, check_content, read_content, summarize
from nexforge.architect.smoke import agents_by_name, smoke_run
from nexforge.architect.spec import ProbeQuery
from nexforge.architect.tool_tests import run_tool_tests
from nexforge.core.errors import ConfigError, ModelNotConfiguredError, NexForgeError, describe_error
from nexforge.models.base import Model
from nexforge.models.resolve import ModelResolver
from nexforge.runtime.agent import Agent
from nexforge.runtime.config.framework import Framework, load_framework
from nexforge.runtime.config.paths import FRAMEWORK_FILE

RUNGS = ("schema", "load", "tool_tests", "smoke", "quality", "probe")
TOOL_TESTS_TIMEOUT_S = 300.0
SMOKE_TIMEOUT_S = 120.0
PROBE_TIMEOUT_S = 300.0
PREVIEW_CHARS = 300


@dataclass
class RungResult:
    name: str
    passed: bool | None
    """``None``: skipped."""
    reason: str
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckReport:
    path: Path
    rungs: list[RungResult]

    @property
    def passed(self) -> bool:
        """No rung failed (skipped rungs, e.g. a probe without a model, do not count)."""
        return all(r.passed is not False for r in self.rungs)

    @property
    def reached(self) -> str | None:
        """The last rung that passed."""
        return next((r.name for r in reversed(self.rungs) if r.passed), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "passed": self.passed,
            "reached": self.reached,
            "rungs": [dataclasses.asdict(r) for r in self.rungs],
        }


class RungFailed(Exception):
    def __init__(self, reason: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason, self.details = reason, details or {}


class RungSkipped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Verdict = tuple[str, dict[str, Any]]


@dataclass
class _Check:
    """The options, and what earlier rungs found for later ones."""

    root: Path
    model: Model | None
    probe: bool
    max_probe_queries: int
    probe_timeout_s: float
    tool_tests_timeout_s: float
    smoke_timeout_s: float
    files: FrameworkFiles | None = None
    framework: Framework | None = None

    def declared(self) -> FrameworkFiles:
        assert self.files is not None, "the schema rung runs first"
        return self.files

    def loaded(self) -> Framework:
        assert self.framework is not None, "the load rung runs first"
        return self.framework


async def check_framework(
    path: Path,
    *,
    model: Model | None = None,
    probe: bool = True,
    max_probe_queries: int = 3,
    stop_at: str | None = None,
    probe_timeout_s: float = PROBE_TIMEOUT_S,
    tool_tests_timeout_s: float = TOOL_TESTS_TIMEOUT_S,
    smoke_timeout_s: float = SMOKE_TIMEOUT_S,
) -> CheckReport:
    """Climb the ladder for the framework folder ``path`` (or its framework.yaml).

    ``model`` is the probe's model; ``None`` resolves it as ``nexforge run`` does (the
    probe is skipped when none is configured). ``stop_at`` names the last rung to run.
    """
    if stop_at is not None and stop_at not in RUNGS:
        raise ValueError(f"unknown rung {stop_at!r}; expected one of: {', '.join(RUNGS)}")
    root = await asyncio.to_thread(_framework_root, Path(path))
    check = _Check(
        root=root,
        model=model,
        probe=probe,
        max_probe_queries=max_probe_queries,
        probe_timeout_s=probe_timeout_s,
        tool_tests_timeout_s=tool_tests_timeout_s,
        smoke_timeout_s=smoke_timeout_s,
    )
    rungs: list[tuple[str, Callable[[_Check], Awaitable[Verdict]]]] = [
        ("schema", _schema),
        ("load", _load),
        ("tool_tests", _tool_tests),
        ("smoke", _smoke),
        ("quality", _quality),
        ("probe", _probe),
    ]
    results: list[RungResult] = []
    halt: str | None = None
    for name, rung in rungs:
        if halt is not None:
            results.append(RungResult(name, None, halt, 0.0))
            continue
        start = time.perf_counter()
        passed: bool | None = True
        try:
            reason, details = await rung(check)
        except RungFailed as exc:
            passed, reason, details = False, exc.reason, exc.details
            halt = f"skipped: {name} failed"
        except RungSkipped as exc:
            passed, reason, details = None, exc.reason, {}
        results.append(RungResult(name, passed, reason, time.perf_counter() - start, details))
        if name == stop_at and halt is None:
            halt = f"skipped: stopped after {stop_at}"
    return CheckReport(root, results)


def _framework_root(path: Path) -> Path:
    root = path.resolve()
    return root.parent if root.is_file() else root


def render_check(report: CheckReport) -> list[str]:
    """One line per rung: ``PASS schema     0.01s  framework.yaml, 3 agents, kit ok``."""
    status = {True: "PASS", False: "FAIL", None: "SKIP"}
    return [f"{status[r.passed]} {r.name:<10} {r.seconds:5.2f}s  {r.reason}" for r in report.rungs]


# -- rung 1: schema ---------------------------------------------------------------------


async def _schema(check: _Check) -> Verdict:
    try:
        files = await asyncio.to_thread(read_framework_files, check.root)
    except ConfigError as exc:
        raise RungFailed(_config_reason(exc, check.root)) from exc
    check.files = files
    parts = [FRAMEWORK_FILE, f"{len(files.agents)} agents", "kit ok" if files.has_kit else "no kit"]
    if files.spec.workflow is not None:
        parts.append(f"workflow of {len(files.spec.workflow.edges)} edges")
    details = {
        "agents": sorted(files.agents),
        "personas": len(files.personas),
        "problem_type_leaves": len(files.problem_types.leaves()) if files.problem_types else 0,
        "probe_queries": len(files.probe_queries),
    }
    return ", ".join(parts), details


def _config_reason(exc: ConfigError, root: Path) -> str:
    """The ConfigError's one line, with the file relative to the framework folder."""
    if exc.file is not None and Path(exc.file).is_relative_to(root):
        exc = ConfigError(
            exc.message, file=Path(exc.file).relative_to(root), line=exc.line, key=exc.key
        )
    return str(exc)


# -- rung 2: load -----------------------------------------------------------------------


async def _load(check: _Check) -> Verdict:
    return await asyncio.to_thread(_load_and_compare, check)


def _load_and_compare(check: _Check) -> Verdict:
    files = check.declared()
    try:
        framework = check.framework = load_framework(check.root)
    except ConfigError as exc:
        raise RungFailed(_config_reason(exc, check.root)) from exc
    agents = list(agents_by_name(framework.entry).values())
    edges = {(a.name, c.name) for a in agents for c in a.sub_agents}
    if framework.workflow is not None:
        declared = {(e.source, e.target) for e in framework.workflow.edges}
        problems = [f"workflow edge {s} -> {t} is not in sub_agents" for s, t in declared - edges]
        problems += [
            f"sub_agents edge {s} -> {t} is not in the workflow" for s, t in edges - declared
        ]
        if problems:
            raise RungFailed("; ".join(sorted(problems)))
    reached = {Path(a.source).resolve() for a in agents if a.source is not None}
    unreached = [f for f in agent_files(check.root) if f.resolve() not in reached]
    if unreached:
        names = ", ".join(str(f.relative_to(check.root)) for f in unreached)
        raise RungFailed(f"not reached from the entry agent: {names}")
    tools = {t.name for a in agents for t in a.tools}
    for leaf in files.problem_types.leaves() if files.problem_types else []:
        missing = [t for t in leaf.tools if t not in tools]
        if missing:
            raise RungFailed(
                f"problem type {leaf.id!r} lists tools no agent has: {', '.join(missing)}"
            )
    details = {"agents": [a.name for a in agents], "tools": sorted(tools), "edges": sorted(edges)}
    return f"{len(agents)} agents, {len(tools)} tools, {len(edges)} delegation edges", details


# -- rung 3: tool tests -----------------------------------------------------------------


async def _tool_tests(check: _Check) -> Verdict:
    try:
        outcome = await run_tool_tests(check.root, timeout_s=check.tool_tests_timeout_s)
    except OSError as exc:  # copying the folder or starting pytest, not the tests
        raise RungFailed(f"cannot run the tool tests: {describe_error(exc)}") from exc
    problem = outcome.problem(check.tool_tests_timeout_s)
    if problem is not None:
        raise RungFailed(problem, outcome.details())
    return outcome.summary(), outcome.details()


# -- rung 4: smoke ----------------------------------------------------------------------


async def _smoke(check: _Check) -> Verdict:
    framework = check.loaded()
    outcome = await smoke_run(
        framework.entry, timeout_s=check.smoke_timeout_s, framework=framework.name
    )
    details = outcome.details()
    problem = outcome.problem()
    if problem is not None:
        raise RungFailed(problem, details)
    pairs = outcome.tools_reached
    tools = {pair.split("/", 1)[1] for pair in pairs}
    reason = (
        f"{len(outcome.agents_reached)} agents, {len(tools)} tools reached "
        f"({len(pairs)} agent/tool pairs)"
    )
    if outcome.tool_errors:
        refused = len(outcome.tool_errors)
        reason += f"; {refused} refused call{'s' if refused > 1 else ''}"
    return reason, details


# -- rung 5: quality --------------------------------------------------------------------


async def _quality(check: _Check) -> Verdict:
    content = await asyncio.to_thread(read_content, check.loaded(), check.declared())
    problems = check_content(content)
    details: dict[str, Any] = {
        "problems": {c: [str(p) for p in problems if p.check == c] for c in CHECKS},
        "tables": len(content.tables),
        "references": sum(c.references is not None for t in content.tables for c in t.columns),
        "agents": len(content.agents),
    }
    if problems:
        raise RungFailed(summarize(problems), details)
    reason = (
        f"{len(content.agents)} prompts, {details['tables']} tables, "
        f"{details['references']} references: no problems"
    )
    return reason, details


# -- rung 6: probe ----------------------------------------------------------------------


async def _probe(check: _Check) -> Verdict:
    if not check.probe:
        raise RungSkipped("probe disabled")
    queries = check.declared().probe_queries[: check.max_probe_queries]
    if not queries:
        raise RungSkipped(f"no probe queries ({PROBE_QUERIES_FILE} is missing or empty)")
    framework = check.loaded()
    entry = framework.entry
    if check.model is None:
        # As `nexforge run` without --model: resolve the entry agent's model up front.
        try:
            await asyncio.to_thread(ModelResolver().resolve, entry.name, entry.model, None)
        except ModelNotConfiguredError as exc:
            raise RungSkipped(f"no model: {exc}") from exc
    runs = [await _probe_one(entry, query, check, framework.name) for query in queries]
    failed = [r for r in runs if r["stop_reason"] == "error"]
    details = {"model": check.model.name if check.model else "default", "runs": runs}
    if failed:
        first = failed[0]
        why = f": {first['error']}" if first.get("error") else ""
        raise RungFailed(
            f"{len(failed)} of {len(runs)} probe runs ended in error; {first['query'][:60]!r}{why}",
            details,
        )
    stops = ", ".join(r["stop_reason"] for r in runs)
    return f"{len(runs)} probe queries ran ({stops})", details


async def _probe_one(entry: Agent, query: ProbeQuery, check: _Check, name: str) -> dict[str, Any]:
    run: dict[str, Any] = {"query": query.text, "problem_type": query.problem_type}
    try:
        async with asyncio.timeout(check.probe_timeout_s):
            result = await entry.arun(query.text, model=check.model, framework=name)
    except TimeoutError:
        return {**run, "stop_reason": "timeout", "error": f"over {check.probe_timeout_s:g}s"}
    except NexForgeError as exc:
        return {**run, "stop_reason": "error", "error": describe_error(exc)}
    output = result.final_output or ""
    return {
        **run,
        "stop_reason": result.stop_reason,
        "steps": result.steps,
        "tool_calls": result.usage.tool_calls,
        "final_output": output[:PREVIEW_CHARS] + ("..." if len(output) > PREVIEW_CHARS else ""),
        "error": result.error,
    }
