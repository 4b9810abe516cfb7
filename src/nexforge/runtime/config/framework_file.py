"""``framework.yaml`` and the ``environment:`` it (or a standalone agent) declares.

An environment is declared once per hierarchy: in ``framework.yaml`` at the root, or at
the top of the entry agent's YAML when there is no ``framework.yaml``. Agents then pick
its tools with ``- env: TOOL`` or ``- env: "*"``; every agent of a run shares the run's
one copy of the state.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from nexforge.core.errors import ConfigError
from nexforge.runtime.config.paths import FRAMEWORK_FILE, PathEscapeError, resolve_inside
from nexforge.runtime.config.python_refs import (
    PythonRefError,
    env_allowed_packages,
    import_module_ref,
    package_name_problem,
)
from nexforge.runtime.config.schema import (
    ALLOW_PACKAGES_DESCRIPTION,
    NAME_PATTERN,
    PACKAGE_PATTERN,
    EnvironmentSpec,
    EnvToolEntry,
)
from nexforge.runtime.config.validation import validate_document
from nexforge.runtime.config.yaml_lines import Loc, YamlDocument, load_yaml
from nexforge.tools.base import Tool
from nexforge.tools.environment import Environment, SeedError, env_tools_in


class WorkflowEdge(BaseModel):
    """``from`` may delegate to ``to`` (agent names)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from", pattern=NAME_PATTERN)
    target: str = Field(alias="to", pattern=NAME_PATTERN)


class Workflow(BaseModel):
    """Who may delegate to whom: documents the hierarchy (``nexforge check`` compares it
    with the agents' ``sub_agents``). ``order`` lists a pipeline's stages in call order."""

    model_config = ConfigDict(extra="forbid")

    archetype: str = ""
    edges: list[WorkflowEdge] = Field(default_factory=list)
    order: list[str] = Field(default_factory=list)


class FrameworkFile(BaseModel):
    """``framework.yaml``: the framework's identity, entry agent and environment."""

    model_config = ConfigDict(extra="forbid", title="NexForge framework")

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    domain: str = Field(default="", description="The one-sentence description it was built from.")
    entry_agent: str | None = Field(default=None, description="Path of the entry agent's YAML.")
    environment: EnvironmentSpec | None = None
    workflow: Workflow | None = None
    allow_packages: list[Annotated[str, Field(pattern=PACKAGE_PATTERN)]] = Field(
        default_factory=list, description=ALLOW_PACKAGES_DESCRIPTION
    )


def read_framework_file(root: Path) -> tuple[YamlDocument, FrameworkFile] | None:
    """The root's ``framework.yaml``, validated; ``None`` when the root has none."""
    path = root / FRAMEWORK_FILE
    if not path.is_file():
        return None
    doc = load_yaml(path)
    return doc, validate_document(doc, FrameworkFile)


def allowed_packages(
    doc: YamlDocument, names: list[str], inherited: frozenset[str]
) -> frozenset[str]:
    """``inherited`` plus the ``allow_packages:`` of ``doc``; a bad name is a ConfigError."""
    for i, name in enumerate(names):
        problem = package_name_problem(name)
        if problem is not None:
            raise doc.error(("allow_packages", i), problem)
    return inherited | frozenset(names)


def root_allowed_packages(root: Path) -> frozenset[str]:
    """What every agent under ``root`` may import: ``NEXFORGE_ALLOW_PACKAGES`` (set by
    ``nexforge --allow-package``) plus the root's ``framework.yaml`` ``allow_packages:``."""
    try:
        from_env = env_allowed_packages()
    except PythonRefError as exc:
        raise ConfigError(str(exc)) from None
    found = read_framework_file(root)
    if found is None:
        return from_env
    doc, spec = found
    return allowed_packages(doc, spec.allow_packages, from_env)


def framework_environment(root: Path, module_cache: dict[Path, ModuleType]) -> Environment | None:
    """The environment ``framework.yaml`` declares, if any."""
    found = read_framework_file(root)
    if found is None or found[1].environment is None:
        return None
    doc, spec = found
    assert spec.environment is not None
    return build_environment(spec.environment, doc, root, module_cache, default_name=spec.name)


def agent_environment(
    doc: YamlDocument,
    spec: EnvironmentSpec,
    root: Path,
    module_cache: dict[Path, ModuleType],
    *,
    agent_name: str,
    is_entry: bool,
) -> Environment:
    """The environment declared at the top of an agent file (entry agents only)."""
    if (root / FRAMEWORK_FILE).is_file():
        raise doc.error(
            ("environment",), f"this agent belongs to {root / FRAMEWORK_FILE}; declare it there"
        )
    if not is_entry:
        raise doc.error(("environment",), "only the entry agent may declare an environment")
    return build_environment(spec, doc, root, module_cache, default_name=agent_name)


def build_environment(
    spec: EnvironmentSpec,
    doc: YamlDocument,
    root: Path,
    module_cache: dict[Path, ModuleType],
    *,
    default_name: str,
) -> Environment:
    """Resolve the declaration's paths (from ``doc``'s folder, inside ``root``), import its
    tool files and build the Environment; every problem is a ConfigError at its key."""
    loc: Loc = ("environment",)
    seed = _resolve(doc, root, (*loc, "seed"), spec.seed) if spec.seed is not None else None
    files = _resolve(doc, root, (*loc, "files"), spec.files) if spec.files is not None else None
    tool_files = [spec.tools] if isinstance(spec.tools, str) else spec.tools
    functions = []
    for i, value in enumerate(tool_files):
        key: Loc = (*loc, "tools") if isinstance(spec.tools, str) else (*loc, "tools", i)
        module = _import_tools(doc, root, key, value, module_cache)
        found = env_tools_in(module)
        if not found:
            raise doc.error(key, f"{value} defines no @env_tool functions")
        functions.extend(found)
    try:
        return Environment(
            spec.name or default_name,
            functions,
            seed=seed,
            files=files,
            clock_start=spec.clock.start,
            clock_step=timedelta(seconds=spec.clock.step_s),
        )
    except SeedError as exc:
        raise doc.error((*loc, exc.part), str(exc)) from exc
    except (TypeError, ValueError) as exc:
        raise doc.error((*loc, "tools"), str(exc)) from exc


def env_tools(
    entry: EnvToolEntry, loc: Loc, doc: YamlDocument, env: Environment | None
) -> list[Tool]:
    """The tools an ``- env:`` entry names."""
    if env is None:
        raise doc.error(
            (*loc, "env"),
            f"no environment is declared (add `environment:` to {FRAMEWORK_FILE}, "
            "or to the entry agent when there is no framework.yaml)",
        )
    if entry.env == "*":
        return env.tools
    try:
        return [env.tool(entry.env)]
    except KeyError:
        names = ", ".join(t.name for t in env.tools)
        raise doc.error(
            (*loc, "env"), f"unknown environment tool {entry.env!r} ({env.name} has: {names})"
        ) from None


def _resolve(doc: YamlDocument, root: Path, loc: Loc, value: str) -> Path:
    try:
        path = resolve_inside(root, doc.file.parent, value)
    except PathEscapeError as exc:
        raise doc.error(loc, str(exc)) from exc
    if not path.exists():
        raise doc.error(loc, f"not found: {value} (looked at {path})")
    return path


def _import_tools(
    doc: YamlDocument, root: Path, loc: Loc, value: str, module_cache: dict[Path, ModuleType]
) -> ModuleType:
    path = _resolve(doc, root, loc, value)
    parts = path.relative_to(root).with_suffix("").parts
    if path.suffix != ".py" or not all(p.isidentifier() for p in parts):
        raise doc.error(loc, f"expected a Python file with an importable path, got {value!r}")
    # The python-ref machinery imports root files by location under a unique name (never
    # the standard library) and shares its cache with `python:` entries of this load.
    try:
        return import_module_ref(".".join(parts), root, module_cache)
    except PythonRefError as exc:
        raise doc.error(loc, str(exc)) from exc
