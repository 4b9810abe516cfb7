"""Diversity statistics: how structurally different generated frameworks are.

``nexforge build --variants K`` promises K structurally different frameworks for one
domain; this measures whether they are, and names each defect when they are not: low
diversity is a finding to report, never smoothed over. Pure computation over the
folders' files: nothing runs.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nexforge.architect.similarity import near_duplicates
from nexforge.architect.spec import Persona, ProblemType
from nexforge.core.errors import ConfigError
from nexforge.runtime.agent import Agent
from nexforge.runtime.config.framework import load_framework

PERSONAS_FILE = Path("kit") / "personas.jsonl"
PROBLEM_TYPES_FILE = Path("kit") / "problem_types.json"
_REVIEWER = re.compile(r"review|critic|check|verif|audit")
W_TOPOLOGY, W_TOOLS, W_DEPTH, W_AGENTS = 0.4, 0.3, 0.15, 0.15
"""Weights of ``structural_distance``'s components (they sum to 1)."""


@dataclass(frozen=True)
class FrameworkStructure:
    """The shape of one framework folder, independent of its agents' names."""

    path: Path
    name: str
    archetype: str
    agents: int
    depth: int
    """Longest delegation chain; the entry agent alone is 1."""
    tools: int
    """Distinct tool names across agents (sub-agents, offered as tools, are not counted)."""
    edges: int
    tools_per_agent: tuple[int, ...]
    """Per agent, breadth-first from the entry agent; so is ``fan_out``."""
    fan_out: tuple[int, ...]
    topology: str
    """Canonical shape: a leaf is ``o``, a delegating agent ``o(child,...)`` with its
    children's signatures sorted (a pipeline's entry ``o[...]``, in call order), so equal
    strings mean isomorphic hierarchies."""
    subtrees: tuple[str, ...]
    """The signature of every agent's subtree (a shared sub-agent once per parent)."""
    layer_tools: tuple[tuple[int, str], ...]
    """One ``(layer, tool)`` per agent holding the tool; the entry agent is layer 1."""
    layer_widths: tuple[int, ...]
    personas: int = 0
    problem_type_nodes: int = 0
    problem_type_leaves: int = 0
    problem_type_depth: int = 0
    persona_texts: tuple[str, ...] = ()
    problem_type_labels: tuple[str, ...] = ()
    """Every node's label but the root's (the root names the domain)."""

    @property
    def shape(self) -> str:
        """Agents per layer, for people: ``entry -> 2 -> 4`` (not a unique key)."""
        if len(self.layer_widths) == 1:
            return "a single agent"
        return " -> ".join(["entry", *map(str, self.layer_widths[1:])])

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for internal in ("subtrees", "layer_tools", "persona_texts", "problem_type_labels"):
            del data[internal]
        return {**data, "path": str(self.path), "shape": self.shape}


def read_structure(path: Path) -> FrameworkStructure:
    """Load the framework at ``path`` (a ConfigError if it does not load) and its kit.

    The archetype is ``workflow.archetype`` when declared, else ``pipeline`` when
    ``workflow.order`` is set, else inferred from the shape: one agent ``single``; depth 2
    ``worker_reviewer`` when a sub-agent's name says it reviews (review, critic, check,
    verif, audit), else ``lead_specialists``; depth 3 ``three_layers``; deeper ``other``.
    A pipeline's topology lists the entry's children in ``workflow.order`` (``o[...]``): the
    same star of agents run as ordered stages is a different workflow. The kit files are
    optional.
    """
    framework = load_framework(path)
    entry, workflow = framework.entry, framework.workflow
    agents, layers = _breadth_first(entry)
    depth = _depth(entry, {})
    ordered = workflow is not None and bool(workflow.order)
    archetype = workflow.archetype if workflow is not None else ""
    archetype = archetype or _infer_archetype(entry, len(agents), depth, ordered)
    signatures: dict[int, str] = {}
    if workflow is not None and workflow.order:
        rank = {name: i for i, name in enumerate(workflow.order)}
        stages = sorted(entry.sub_agents, key=lambda child: rank.get(child.name, len(rank)))
        signatures[id(entry)] = f"o[{','.join(_signature(c, signatures) for c in stages)}]"
    personas, tree = _read_kit(framework.root)
    nodes = _nodes(tree) if tree is not None else []
    return FrameworkStructure(
        path=path,
        name=framework.name,
        archetype=archetype,
        agents=len(agents),
        depth=depth,
        tools=len({t.name for a in agents for t in a.tools}),
        edges=sum(len(a.sub_agents) for a in agents),
        tools_per_agent=tuple(len(a.tools) for a in agents),
        fan_out=tuple(len(a.sub_agents) for a in agents),
        topology=_signature(entry, signatures),
        subtrees=tuple(sorted(_subtrees(entry, signatures))),
        layer_tools=tuple(sorted((layers[id(a)], t.name) for a in agents for t in a.tools)),
        layer_widths=tuple(n for _, n in sorted(Counter(layers.values()).items())),
        personas=len(personas),
        problem_type_nodes=len(nodes),
        problem_type_leaves=len(tree.leaves()) if tree is not None else 0,
        problem_type_depth=tree.depth() if tree is not None else 0,
        persona_texts=tuple(_persona_text(p) for p in personas),
        problem_type_labels=tuple(n.label for n in nodes[1:]),
    )


def structural_distance(a: FrameworkStructure, b: FrameworkStructure) -> float:
    """How different two structures are, in [0, 1]; 0 when they are identical.

    ``0.4 * topology + 0.3 * tools + 0.15 * depth + 0.15 * agents``, each in [0, 1]:

    - topology: weighted Jaccard distance between the multisets of subtree signatures
      (every agent's canonical subtree). It is 0 iff the hierarchies are isomorphic (each
      multiset holds its root's signature) and grows with the share of subtrees that
      differ. Chosen over tree edit distance because our trees have a handful of agents:
      it is a few lines, a metric, and needs no matching of agents across frameworks.
    - tools: weighted Jaccard distance between the multisets of ``(layer, tool)``: where
      the tools sit, and how many agents of a layer share them.
    - depth, agents: ``|x - y| / max(x, y)``.

    Topology weighs most: it is what "structurally different" promises. Tool placement
    next: same-shaped hierarchies that split tools differently behave differently. Depth
    and size summarise the shape coarsely, so they weigh least.
    """
    topology = _multiset_distance(Counter(a.subtrees), Counter(b.subtrees))
    tools = _multiset_distance(Counter(a.layer_tools), Counter(b.layer_tools))
    depth = _ratio_distance(a.depth, b.depth)
    agents = _ratio_distance(a.agents, b.agents)
    return min(1.0, W_TOPOLOGY * topology + W_TOOLS * tools + W_DEPTH * depth + W_AGENTS * agents)


@dataclass(frozen=True)
class NearDuplicate:
    """Two near-identical kit entries, in one framework (``first == second``) or two."""

    kind: str
    """``persona`` or ``problem type``."""
    first: str
    first_text: str
    second: str
    second_text: str
    similarity: float


@dataclass
class DiversityReport:
    frameworks: list[FrameworkStructure]
    labels: list[str]
    """What findings call each framework: its folder's name (its path if names clash)."""
    distances: list[list[float]]
    min_distance: float
    """Pairs closer than this are a finding."""
    mean_pairwise: float | None
    closest: tuple[str, str, float] | None
    distinct_topologies: int
    distinct_archetypes: int
    duplicates: list[NearDuplicate]
    findings: list[str]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["frameworks"] = [s.to_dict() for s in self.frameworks]
        data["near_duplicates"] = data.pop("duplicates")
        return data


def diversity_report(
    structures: Sequence[FrameworkStructure],
    *,
    min_distance: float = 0.15,
    duplicate_threshold: float = 0.8,
) -> DiversityReport:
    """Compare ``structures`` pairwise; every diversity defect becomes a finding."""
    if not structures:
        raise ValueError("no frameworks to compare")
    names = [s.path.resolve().name or str(s.path) for s in structures]
    labels = [
        str(s.path) if names.count(name) > 1 else name
        for s, name in zip(structures, names, strict=True)
    ]
    n = len(structures)
    distances = [[structural_distance(a, b) for b in structures] for a in structures]
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    findings: list[str] = []
    by_topology: defaultdict[str, list[str]] = defaultdict(list)
    by_archetype: defaultdict[str, list[str]] = defaultdict(list)
    for label, s in zip(labels, structures, strict=True):
        by_topology[s.topology].append(label)
        by_archetype[s.archetype].append(label)
    for topology, members in by_topology.items():
        if len(members) > 1:
            same = [s for s in structures if s.topology == topology]
            kinds = sorted({s.archetype for s in same})
            note = f"; archetypes {', '.join(kinds)}" if len(kinds) > 1 else ""
            findings.append(f"{_join(members)} have the same topology ({same[0].shape}{note})")
    for i, j in pairs:
        if distances[i][j] < min_distance:
            pair = _pair(labels[i], labels[j])
            findings.append(f"pair {pair} distance {distances[i][j]:.3g} < {min_distance:g}")
    if len(by_archetype) < n:
        shared = ", ".join(f"{a}: {_join(m)}" for a, m in sorted(by_archetype.items()) if m[1:])
        count = _plural(len(by_archetype), "distinct archetype")
        findings.append(f"only {count} across {n} frameworks ({shared})")
    duplicates = _duplicates(structures, labels, duplicate_threshold)
    findings.extend(_shared_kit_findings(structures, labels))
    findings.extend(_duplicate_findings(duplicates))
    closest = min(((distances[i][j], i, j) for i, j in pairs), default=None)
    return DiversityReport(
        frameworks=list(structures),
        labels=labels,
        distances=distances,
        min_distance=min_distance,
        mean_pairwise=sum(distances[i][j] for i, j in pairs) / len(pairs) if pairs else None,
        closest=(labels[closest[1]], labels[closest[2]], closest[0]) if closest else None,
        distinct_topologies=len(by_topology),
        distinct_archetypes=len(by_archetype),
        duplicates=duplicates,
        findings=findings,
    )


def render_diversity(report: DiversityReport) -> list[str]:
    """A table (one row per framework), the distance summary, then the findings."""
    rows = [["framework", "archetype", "agents", "depth", "tools", "edges", "personas"]]
    rows[0].append("problem types (nodes/leaves/depth)")
    for label, s in zip(report.labels, report.frameworks, strict=True):
        kit = f"{s.problem_type_nodes}/{s.problem_type_leaves}/{s.problem_type_depth}"
        counts = map(str, [s.agents, s.depth, s.tools, s.edges, s.personas])
        rows.append([label, s.archetype, *counts, kit])
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    if report.closest is None or report.mean_pairwise is None:
        lines.append("one framework: no pairwise distances")
    else:
        first, second, closest = report.closest
        lines.append(
            f"distance: mean {report.mean_pairwise:.2f}, min {closest:.2f} ({_pair(first, second)}),"
            f" threshold {report.min_distance:g}"
        )
        width, cell = max(map(len, report.labels)), max(4, *map(len, report.labels))
        lines.append(" " * width + "".join(f"  {label:>{cell}}" for label in report.labels))
        for label, row in zip(report.labels, report.distances, strict=True):
            lines.append(label.ljust(width) + "".join(f"  {d:>{cell}.2f}" for d in row))
    topologies = _plural(report.distinct_topologies, "distinct topology", "distinct topologies")
    archetypes = _plural(report.distinct_archetypes, "distinct archetype")
    lines.append(f"{topologies}, {archetypes} across {len(report.frameworks)} frameworks")
    if not report.findings:
        return [*lines, "no diversity defects found"]
    return [*lines, "findings:", *(f"  - {finding}" for finding in report.findings)]


def _breadth_first(entry: Agent) -> tuple[list[Agent], dict[int, int]]:
    """Distinct agents, breadth-first, and each one's layer (shortest chain; entry 1)."""
    agents, layers = [entry], {id(entry): 1}
    for agent in agents:  # grows while we walk it
        for child in agent.sub_agents:
            if id(child) not in layers:
                layers[id(child)] = layers[id(agent)] + 1
                agents.append(child)
    return agents, layers


def _depth(agent: Agent, memo: dict[int, int]) -> int:
    if id(agent) not in memo:  # the loader rejects cycles; a shared sub-agent is memoised
        memo[id(agent)] = 1 + max((_depth(c, memo) for c in agent.sub_agents), default=0)
    return memo[id(agent)]


def _signature(agent: Agent, memo: dict[int, str]) -> str:
    if id(agent) not in memo:
        children = sorted(_signature(c, memo) for c in agent.sub_agents)
        memo[id(agent)] = f"o({','.join(children)})" if children else "o"
    return memo[id(agent)]


def _subtrees(agent: Agent, memo: dict[int, str]) -> list[str]:
    return [memo[id(agent)], *(s for child in agent.sub_agents for s in _subtrees(child, memo))]


def _infer_archetype(entry: Agent, agents: int, depth: int, ordered: bool) -> str:
    if ordered:
        return "pipeline"
    if agents == 1:
        return "single"
    if depth == 2:
        reviews = any(_REVIEWER.search(child.name) for child in entry.sub_agents)
        return "worker_reviewer" if reviews else "lead_specialists"
    return "three_layers" if depth == 3 else "other"


def _read_kit(root: Path) -> tuple[list[Persona], ProblemType | None]:
    personas: list[Persona] = []
    file = root / PERSONAS_FILE
    if file.is_file():
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            try:
                personas.extend([Persona.model_validate_json(line)] if line.strip() else [])
            except ValidationError as exc:
                raise ConfigError(_first_error(exc), file=file, line=number) from exc
    file = root / PROBLEM_TYPES_FILE
    if not file.is_file():
        return personas, None
    try:
        return personas, ProblemType.model_validate_json(file.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise ConfigError(_first_error(exc), file=file) from exc


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def _nodes(tree: ProblemType) -> list[ProblemType]:
    return [tree, *(node for child in tree.children for node in _nodes(child))]


def _persona_text(persona: Persona) -> str:
    # Who they are, not what they are called: real duplicates often differ only in name.
    return " ".join(part for part in (persona.background, persona.style) if part) or persona.name


def _multiset_distance(a: Counter[Hashable], b: Counter[Hashable]) -> float:
    keys = a.keys() | b.keys()
    union = sum(max(a[k], b[k]) for k in keys)
    return 1 - sum(min(a[k], b[k]) for k in keys) / union if union else 0.0


def _ratio_distance(x: int, y: int) -> float:
    return abs(x - y) / max(x, y) if max(x, y) else 0.0


def _kit_key(s: FrameworkStructure) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    return (s.persona_texts, s.problem_type_labels) if s.persona_texts else None


def _shared_kit_findings(structures: Sequence[FrameworkStructure], labels: list[str]) -> list[str]:
    """Variants of one build share its kit: one finding, not a pair per persona."""
    groups: defaultdict[Any, list[str]] = defaultdict(list)
    for label, s in zip(labels, structures, strict=True):
        if _kit_key(s) is not None:
            groups[_kit_key(s)].append(label)
    return [
        f"{', '.join(group)} share one query kit (personas and problem types)"
        for group in groups.values()
        if len(group) > 1
    ]


def _duplicates(
    structures: Sequence[FrameworkStructure], labels: list[str], threshold: float
) -> list[NearDuplicate]:
    found: list[NearDuplicate] = []
    # A shared kit is reported once (above); its copies are not compared with each other.
    first_of_kit: dict[Any, str] = {}
    owned = []
    for label, s in zip(labels, structures, strict=True):
        key = _kit_key(s)
        if key is None or first_of_kit.setdefault(key, label) == label:
            owned.append((label, s))
    persona = [(label, text) for label, s in owned for text in s.persona_texts]
    problem = [(label, text) for label, s in owned for text in s.problem_type_labels]
    for kind, entries in (("persona", persona), ("problem type", problem)):
        for i, j, similarity in near_duplicates([t for _, t in entries], threshold=threshold):
            found.append(NearDuplicate(kind, *entries[i], *entries[j], similarity))
    return found


def _duplicate_findings(duplicates: list[NearDuplicate]) -> list[str]:
    """One finding per kind and framework, and per kind across frameworks."""
    groups: defaultdict[tuple[str, str | None], list[NearDuplicate]] = defaultdict(list)
    for d in duplicates:
        groups[d.kind, d.first if d.first == d.second else None].append(d)
    findings = []
    for (kind, where), group in groups.items():
        group.sort(key=lambda d: -d.similarity)
        examples = "; ".join(_example(d, across=where is None) for d in group[:2])
        more = f"; and {len(group) - 2} more" if len(group) > 2 else ""
        scope = "across frameworks" if where is None else f"in {where}"
        findings.append(
            f"{_plural(len(group), f'near-duplicate {kind} pair')} {scope}: {examples}{more}"
        )
    return findings


def _example(d: NearDuplicate, *, across: bool) -> str:
    first = f"{d.first} {_quote(d.first_text)}" if across else _quote(d.first_text)
    second = f"{d.second} {_quote(d.second_text)}" if across else _quote(d.second_text)
    return f"{first} ~ {second} ({d.similarity:.2f})"


def _quote(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3].rstrip() + "...")


def _pair(first: str, second: str) -> str:
    return f"{first}/{second}" if "/" not in first + second else f"{first} and {second}"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural or singular + 's'}"
