"""The ladder's schema rung: a framework folder's files are well-formed.

Nothing is imported or built here: framework.yaml and every ``agents/*.yaml`` are
validated against their schemas, the kit files are parsed into the ``spec`` models, and
the declared workflow graph is checked (names are agents', no cycles). Every problem is
a ConfigError naming the file, and the line when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from nexforge.architect.spec import Persona, ProbeQuery, ProblemType
from nexforge.core.errors import ConfigError
from nexforge.runtime.config.framework_file import FrameworkFile, read_framework_file
from nexforge.runtime.config.paths import FRAMEWORK_FILE
from nexforge.runtime.config.schema import AgentFile
from nexforge.runtime.config.validation import validate_document
from nexforge.runtime.config.yaml_lines import YamlDocument, load_yaml

AGENTS_DIR = "agents"
PERSONAS_FILE = Path("kit") / "personas.jsonl"
PROBLEM_TYPES_FILE = Path("kit") / "problem_types.json"
PROBE_QUERIES_FILE = Path("kit") / "probe_queries.jsonl"
MIN_PROBLEM_DEPTH = 3
"""Root, categories, leaves: the least a problem-type tree needs to be a tree."""

M = TypeVar("M", bound=BaseModel)


@dataclass
class FrameworkFiles:
    """What a well-formed framework folder declares."""

    spec: FrameworkFile
    agents: dict[str, Path]
    """Agent name -> its file under ``agents/``."""
    personas: list[Persona] = field(default_factory=list)
    problem_types: ProblemType | None = None
    probe_queries: list[ProbeQuery] = field(default_factory=list)

    @property
    def has_kit(self) -> bool:
        return bool(self.personas or self.problem_types or self.probe_queries)


def agent_files(root: Path) -> list[Path]:
    """The framework's agent configs: ``agents/*.yaml``."""
    return sorted((root / AGENTS_DIR).glob("*.yaml"))


def read_framework_files(root: Path) -> FrameworkFiles:
    """Validate the folder's files; the first problem is raised as a ConfigError."""
    found = read_framework_file(root)
    if found is None:
        raise ConfigError(f"{FRAMEWORK_FILE} not found", file=root)
    doc, spec = found
    agents: dict[str, Path] = {}
    for file in agent_files(root):
        agent_doc = load_yaml(file)
        name = validate_document(agent_doc, AgentFile).name
        if name in agents:
            other = agents[name].relative_to(root)
            raise agent_doc.error(("name",), f"agent name {name!r} is already used by {other}")
        agents[name] = file
    files = FrameworkFiles(spec, agents)
    _read_kit(root, files)
    _check_workflow(doc, spec, agents)
    return files


def _read_kit(root: Path, files: FrameworkFiles) -> None:
    personas = _read_jsonl(root / PERSONAS_FILE, Persona)
    _unique([p.id for _, p in personas], root / PERSONAS_FILE, "persona id")
    files.personas = [p for _, p in personas]
    tree_file = root / PROBLEM_TYPES_FILE
    if tree_file.is_file():
        try:
            tree = ProblemType.model_validate_json(tree_file.read_text(encoding="utf-8"))
        except ValidationError as exc:
            raise ConfigError(_first_error(exc), file=tree_file) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read file: {exc}", file=tree_file) from exc
        _check_tree(tree, tree_file)
        files.problem_types = tree
    leaves = {leaf.id for leaf in files.problem_types.leaves()} if files.problem_types else set()
    persona_ids = {p.id for p in files.personas}
    query_file = root / PROBE_QUERIES_FILE
    for number, query in _read_jsonl(query_file, ProbeQuery):
        if query.problem_type not in leaves:
            known = "is not a leaf of" if files.problem_types is not None else "needs"
            raise ConfigError(
                f"problem_type {query.problem_type!r} {known} {PROBLEM_TYPES_FILE}",
                file=query_file,
                line=number,
            )
        if query.persona is not None and persona_ids and query.persona not in persona_ids:
            raise ConfigError(
                f"persona {query.persona!r} is not in {PERSONAS_FILE}", file=query_file, line=number
            )
        files.probe_queries.append(query)


def _read_jsonl(file: Path, model: type[M]) -> list[tuple[int, M]]:
    """``(line number, item)`` for each non-blank line; a missing file has none."""
    if not file.is_file():
        return []
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read file: {exc}", file=file) from exc
    items = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                items.append((number, model.model_validate_json(line)))
            except ValidationError as exc:
                raise ConfigError(_first_error(exc), file=file, line=number) from exc
    return items


def _unique(ids: list[str], file: Path, what: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ConfigError(f"duplicate {what} {item!r}", file=file)
        seen.add(item)


def _check_tree(tree: ProblemType, file: Path) -> None:
    if tree.depth() < MIN_PROBLEM_DEPTH:
        raise ConfigError(
            f"the problem-type tree has depth {tree.depth()}; at least {MIN_PROBLEM_DEPTH} "
            "levels are required (root, categories, leaves)",
            file=file,
        )
    nodes = [tree]
    for node in nodes:  # grows while iterating: breadth first over the whole tree
        nodes.extend(node.children)
    _unique([n.id for n in nodes], file, "problem type id")
    for leaf in tree.leaves():
        if not leaf.tools:
            raise ConfigError(f"problem type {leaf.id!r} (a leaf) lists no tools", file=file)


def _check_workflow(doc: YamlDocument, spec: FrameworkFile, agents: dict[str, Path]) -> None:
    """Every workflow name is an agent's, and the graph is acyclic (the cycle is named)."""
    if spec.workflow is None:
        return
    edges = spec.workflow.edges
    for i, edge in enumerate(edges):
        for key, name in (("from", edge.source), ("to", edge.target)):
            if name not in agents:
                raise doc.error(("workflow", "edges", i, key), f"unknown agent {name!r}")
    for i, name in enumerate(spec.workflow.order):
        if name not in agents:
            raise doc.error(("workflow", "order", i), f"unknown agent {name!r}")
    graph: dict[str, list[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, []).append(edge.target)
    done: set[str] = set()

    def visit(path: list[str]) -> None:
        for target in graph.get(path[-1], []):
            if target in path:
                cycle = " -> ".join([*path[path.index(target) :], target])
                raise doc.error(("workflow", "edges"), f"cycle: {cycle}")
            if target not in done:
                visit([*path, target])
        done.add(path[-1])

    for source in list(graph):
        if source not in done:
            visit([source])


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
