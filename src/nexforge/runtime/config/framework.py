"""``load_framework``: a framework folder (or a standalone agent file) as one loaded unit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nexforge.core.errors import ConfigError
from nexforge.runtime.agent import Agent
from nexforge.runtime.config.framework_file import (
    Workflow,
    framework_environment,
    read_framework_file,
)
from nexforge.runtime.config.loader import load_agent
from nexforge.runtime.config.paths import FRAMEWORK_FILE, PathEscapeError, find_root, resolve_inside
from nexforge.tools.environment import Environment


@dataclass(frozen=True)
class Framework:
    """A loaded hierarchy: its entry agent and the one environment all its agents share."""

    name: str
    description: str
    root: Path
    entry: Agent
    environment: Environment | None
    source: Path
    """The file it was loaded from: ``framework.yaml`` or the standalone agent's YAML."""
    domain: str = ""
    workflow: Workflow | None = None


def load_framework(path: str | Path) -> Framework:
    """Load a framework folder, its ``framework.yaml``, or a standalone agent YAML.

    ``framework.yaml`` must name its ``entry_agent``. A standalone agent (no
    ``framework.yaml`` above it) may declare ``environment:`` at its top; its name and
    description then name the framework, and ``environment`` is the one its agents use
    (``None`` if none of them uses an environment tool). Every problem is a ConfigError.
    """
    target = Path(path).resolve()
    if target.is_dir():
        target = target / FRAMEWORK_FILE
    if not target.is_file():
        raise ConfigError("framework file not found", file=target)
    if target.name != FRAMEWORK_FILE:
        return _standalone(target)
    root = target.parent
    found = read_framework_file(root)
    assert found is not None
    doc, spec = found
    if spec.entry_agent is None:
        raise doc.error(("entry_agent",), "required to load the framework: the entry agent's YAML")
    try:
        entry_path = resolve_inside(root, root, spec.entry_agent)
    except PathEscapeError as exc:
        raise doc.error(("entry_agent",), str(exc)) from exc
    if not entry_path.is_file():
        raise doc.error(("entry_agent",), f"file not found: {spec.entry_agent}")
    entry = load_agent(entry_path, root=root)
    environment = environment_of(entry)
    if environment is None and spec.environment is not None:
        environment = framework_environment(root, {})  # declared, though no agent uses it
    return Framework(
        spec.name,
        spec.description,
        root,
        entry,
        environment,
        target,
        domain=spec.domain,
        workflow=spec.workflow,
    )


def _standalone(config: Path) -> Framework:
    root = find_root(config)
    if (root / FRAMEWORK_FILE).is_file():
        raise ConfigError(
            f"this agent belongs to {root / FRAMEWORK_FILE}; load that framework instead",
            file=config,
        )
    entry = load_agent(config, root=root)
    return Framework(entry.name, entry.description, root, entry, environment_of(entry), config)


def environment_of(agent: Agent) -> Environment | None:
    """The environment whose tools ``agent``'s hierarchy uses (a loaded hierarchy has one)."""
    seen: set[int] = set()
    pending = [agent]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for tool in current.tools:
            for resource in tool.resources.values():
                if isinstance(resource, Environment):
                    return resource
        pending.extend(current.sub_agents)
    return None
