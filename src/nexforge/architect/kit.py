"""Stage 6: the query kit — personas, the problem-type tree, probe queries.

Personas are de-duplicated (word-set similarity) and kept within the domain's user types.
The problem-type tree is domain -> category -> subtype -> leaf (depth 4), and every leaf
names the tools that solve it. For a built framework the tree follows from the domain
(``problem_tree``: a category per entity, look-ups and changes, a leaf per operation), and
each leaf's tools are those of one entity and the look-ups of what it references, the set
one agent below the lead holds in every archetype (see ``hierarchy``): every rollout goes
through a sub-agent. For a hand-written framework the model writes the tree, its leaves'
tools drawn from the framework's tools by construction (enum).
Probe queries are written against real seed rows so the probe rung asks about things that
exist.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from nexforge.architect.ask import AskSettings, StageProblems, StageUsage, ask
from nexforge.architect.schema_parts import array, closed_object, text
from nexforge.architect.similarity import word_similarity
from nexforge.architect.spec import (
    DomainProfile,
    DomainSpec,
    EntitySpec,
    Persona,
    ProbeQuery,
    ProblemType,
    QueryKit,
    Row,
    ToolPlan,
)
from nexforge.architect.toolplan import filter_fields, search_fields
from nexforge.models.base import Model

MIN_PERSONAS = 4
DUPLICATE_SIMILARITY = 0.8


# --- personas ---------------------------------------------------------------------------

PERSONA_SYSTEM = """You invent the people who bring requests to a system. Each position
gives a person's user type, age and situation; write a name, a one-sentence background
that fits all three (their circumstances, what they need from the system) and a
communication style. Make every person clearly different. Call submit_personas."""

PERSONA_SLOTS = 6
AGES = (
    "in their twenties",
    "in their thirties",
    "in their forties",
    "in their fifties",
    "in their sixties",
    "over seventy",
)
SITUATIONS = (
    "using the service for the first time",
    "a long-time regular",
    "in a hurry",
    "upset after something went wrong",
    "careful and detail-oriented",
    "writing in a second language",
)


@dataclass(frozen=True)
class PersonaSlot:
    """What a persona must be (sampled, so personas differ by construction)."""

    key: str
    user_type: str
    age: str
    situation: str


def persona_slots(domain: DomainProfile, seed: int = 0) -> list[PersonaSlot]:
    """User types in turn; ages and situations shuffled by ``seed``, never repeated."""
    rng = random.Random(f"personas:{seed}")
    ages, situations = rng.sample(AGES, len(AGES)), rng.sample(SITUATIONS, len(SITUATIONS))
    return [
        PersonaSlot(
            f"p{i + 1}",
            domain.user_types[i % len(domain.user_types)],
            ages[i % len(ages)],
            situations[i % len(situations)],
        )
        for i in range(PERSONA_SLOTS)
    ]


def persona_schema(slots: list[PersonaSlot]) -> dict[str, Any]:
    person = closed_object({"name": text(40), "background": text(160), "style": text(60)})
    return closed_object({slot.key: person for slot in slots})


def persona_prompt(domain: DomainProfile, slots: list[PersonaSlot]) -> str:
    wanted = "\n".join(f"- {s.key}: a {s.user_type}, {s.age}, {s.situation}" for s in slots)
    return (
        f"System: {domain.title}. {domain.purpose}\n"
        f"Typical tasks: {'; '.join(domain.tasks)}\nPeople:\n{wanted}"
    )


def normalize_personas(
    raw: dict[str, Any], slots: list[PersonaSlot], fixes: list[str]
) -> list[Persona]:
    """Personas that differ in who they are (background and style, as ``diversity``
    compares them), not only in name; the slot's facts are part of the background."""
    kept: list[Persona] = []
    for slot in slots:
        item = raw.get(slot.key)
        item = item if isinstance(item, dict) else {}
        name = " ".join(str(item.get("name") or "").split())
        written = " ".join(str(item.get("background") or "").split()).rstrip(".")
        if not name or not written:
            fixes.append(f"dropped persona {slot.key}: no name or background")
            continue
        # The slot's facts, unless the model already wrote them ("Upset after something
        # went wrong; ..., upset after something went wrong." said it twice).
        facts = [f for f in (slot.age, slot.situation) if not _said(f, written)]
        background = f"{written}; {', '.join(facts)}." if facts else f"{written}."
        style = " ".join(str(item.get("style") or "").split())
        twin = next(
            (
                p
                for p in kept
                if word_similarity(f"{background} {style}", f"{p.background} {p.style}")
                >= DUPLICATE_SIMILARITY
            ),
            None,
        )
        if twin is not None:
            fixes.append(f"dropped persona {name!r}: near-duplicate of {twin.name!r}")
            continue
        persona_id = f"p{len(kept) + 1}"
        kept.append(
            Persona(
                id=persona_id,
                name=name,
                user_type=slot.user_type,
                background=background,
                style=style,
            )
        )
    if len(kept) < MIN_PERSONAS:
        raise StageProblems(
            [f"only {len(kept)} distinct personas; write at least {MIN_PERSONAS} different people"]
        )
    return kept


def _said(fact: str, text: str) -> bool:
    """Whether ``text`` already says ``fact`` ("Long-time regular" says "a long-time regular")."""
    core = fact.casefold().removeprefix("a ").removeprefix("an ")
    return core in text.casefold()


# --- problem types ----------------------------------------------------------------------

PROBLEM_SYSTEM = """You organise the problems users bring to a system into a tree:
categories, each with subtypes, each with concrete leaf problem types. Every leaf must be
solvable with the system's tools: list the tools a leaf needs. Labels are short and
distinct. Call submit_problem_types."""


def problem_schema(tools: list[ToolPlan]) -> dict[str, Any]:
    leaf = closed_object(
        {
            "label": text(60),
            "description": text(140),
            "tools": array({"type": "string", "enum": sorted(t.name for t in tools)}, 1, 3),
        }
    )
    subtype = closed_object({"label": text(60), "leaves": array(leaf, 1, 2)})
    category = closed_object({"label": text(60), "subtypes": array(subtype, 1, 2)})
    return closed_object({"categories": array(category, 2, 3)})


def problem_prompt(domain: DomainProfile, tools: list[ToolPlan]) -> str:
    tool_lines = "\n".join(f"- {t.name}: {t.description}" for t in tools)
    return (
        f"System: {domain.title}. {domain.purpose}\nTasks users bring: {'; '.join(domain.tasks)}\n"
        f"Tools:\n{tool_lines}"
    )


@dataclass(frozen=True)
class Teams:
    """Who holds which tools in a hierarchy with sub-agents: a leaf must be solved by one
    agent below the entry, not by the entry alone."""

    entry: frozenset[str]
    members: tuple[frozenset[str], ...]

    def fit(self, tools: list[str]) -> list[str]:
        """The largest part of ``tools`` one member holds, not all held by the entry."""
        best: list[str] = []
        for held in self.members:
            part = [t for t in tools if t in held]
            if len(part) > len(best) and not set(part) <= self.entry:
                best = part
        return best


def normalize_problem_types(
    raw: dict[str, Any],
    domain: DomainProfile,
    tools: list[ToolPlan],
    fixes: list[str],
    teams: Teams | None = None,
) -> ProblemType:
    """The model's tree; with ``teams``, each leaf keeps the tools one sub-agent holds."""
    known = {t.name for t in tools}
    categories: list[ProblemType] = []
    leaf_labels: list[str] = []  # across the whole tree: a problem type is listed once
    for ci, cat in enumerate(raw.get("categories") or [], 1):
        subtypes: list[ProblemType] = []
        for si, sub in enumerate(cat.get("subtypes") or [], 1):
            leaves: list[ProblemType] = []
            for li, leaf in enumerate(sub.get("leaves") or [], 1):
                needed = [t for t in dict.fromkeys(leaf.get("tools") or []) if t in known]
                if teams is not None and teams.members and needed:
                    fitted = teams.fit(needed)
                    if fitted != needed:
                        fixes.append(f"leaf tools {needed} -> {fitted} (one sub-agent's)")
                    needed = fitted
                label = " ".join(str(leaf.get("label") or "").split())
                if not needed or not label:
                    fixes.append(f"dropped leaf {label or '?'!r}: no label or no known tool")
                    continue
                if any(word_similarity(label, seen) >= 1.0 for seen in leaf_labels):
                    fixes.append(f"dropped duplicate leaf {label!r}")
                    continue
                leaf_labels.append(label)
                leaves.append(
                    ProblemType(
                        id=f"{ci}.{si}.{li}",
                        label=label,
                        description=" ".join(str(leaf.get("description") or "").split()),
                        tools=needed,
                    )
                )
            if leaves:
                label = " ".join(str(sub.get("label") or "").split()) or leaves[0].label
                subtypes.append(ProblemType(id=f"{ci}.{si}", label=label, children=leaves))
        if subtypes:
            label = " ".join(str(cat.get("label") or "").split()) or subtypes[0].label
            categories.append(ProblemType(id=str(ci), label=label, children=subtypes))
    if len(categories) < 2:
        raise StageProblems(
            ["need at least 2 categories, each with a subtype and a leaf naming tools"]
        )
    return ProblemType(
        id="root", label=domain.title, description=domain.purpose, children=categories
    )


def problem_tree(domain: DomainSpec, tools: list[ToolPlan]) -> ProblemType:
    """The tree a built framework's tools imply: per entity, look-ups and changes, a leaf
    per operation, each solved by that entity's tools and the look-ups it needs."""
    categories: list[ProblemType] = []
    staff = domain.user_types[1:]  # the first user type is the one served
    for entity in domain.entities:
        mine = [t for t in tools if t.entity == entity.name]
        reads = [leaf for t in mine if t.read_only for leaf in _read_leaves(domain, entity, t)]
        changes = [_change_leaf(entity, t, tools) for t in mine if not t.read_only]
        if staff:
            reads = [
                _staff_only(leaf, staff) if entity.kind == "person" else leaf for leaf in reads
            ]
            changes = [
                _staff_only(leaf, staff) if _staff_change(entity, t) else leaf
                for leaf, t in zip(changes, [t for t in mine if not t.read_only], strict=True)
            ]
        groups = [("Look-ups", reads), ("Changes", changes)]
        kept = [(label, leaves) for label, leaves in groups if leaves]
        if not kept:
            continue
        ci = len(categories) + 1
        subtypes = [
            ProblemType(
                id=f"{ci}.{si}",
                label=f"{entity.name.replace('_', ' ').capitalize()}: {label.lower()}",
                children=[
                    leaf.model_copy(update={"id": f"{ci}.{si}.{li}"})
                    for li, leaf in enumerate(leaves, 1)
                ],
            )
            for si, (label, leaves) in enumerate(kept, 1)
        ]
        categories.append(
            ProblemType(
                id=str(ci),
                label=entity.name.replace("_", " ").capitalize(),
                description=entity.description,
                children=subtypes,
            )
        )
    return ProblemType(
        id="root", label=domain.title, description=domain.purpose, children=categories
    )


STAFF_VERBS = frozenset({"approve", "reject", "restock", "ship", "deliver", "assign", "close"})
"""Actions that take the organisation's judgement or work, not a request from the person
served (a customer asks for a refund; the staff approve it)."""


def _staff_change(entity: EntitySpec, tool: ToolPlan) -> bool:
    """A change only staff make: the catalog (what is sold, lent or booked), corrections of
    records (an order's total), and actions that are the organisation's to take."""
    if tool.kind in ("create", "update") and entity.kind == "thing":
        return True
    if tool.kind == "update" and entity.kind == "record":
        return True
    return tool.kind == "action" and tool.name.split("_")[0] in STAFF_VERBS


def _staff_only(leaf: ProblemType, staff: list[str]) -> ProblemType:
    """Another person's details (a customer's phone) and the staff's own work are asked
    for by staff."""
    return leaf.model_copy(update={"asked_by": list(staff)})


def _lookup(entity: str, tools: list[ToolPlan]) -> list[str]:
    """The ``get`` tool of ``entity`` (none when it has none)."""
    return [t.name for t in tools if t.entity == entity and t.kind == "get"][:1]


def _read_leaves(domain: DomainSpec, entity: EntitySpec, tool: ToolPlan) -> list[ProblemType]:
    one, many = _words(entity.singular), _words(entity.name)
    if tool.kind == "get":
        return [
            _leaf(
                f"Look up {_a(one)}",
                f"Find one {one} by its id and report its details.",
                [tool.name],
            )
        ]
    if tool.kind == "search":
        fields = " or ".join(_words(f.name) for f in search_fields(entity))
        return [_leaf(f"Find {_a(one)} by {fields}", tool.description, [tool.name])]
    if tool.kind != "list":
        label = tool.description.split(".")[0][:60] or tool.name
        return [_leaf(label, tool.description, [tool.name])]
    leaves = [
        _leaf(f"Browse {many}", f"List {many} and pick out the ones asked about.", [tool.name])
    ]
    for f in filter_fields(entity):
        if f.references is not None:
            other = _words(domain.entity(f.references).singular)
            label, text = f"{many.capitalize()} of {_a(other)}", f"List the {many} of one {other}."
        elif f.values:
            shown = ", ".join(f.values[:4])
            label = f"{many.capitalize()} by {_words(f.name)}"
            text = f"List the {many} with a given {_words(f.name)} ({shown})."
        else:
            continue
        leaves.append(_leaf(label, text, [tool.name]))
    return leaves[:3]


def _change_leaf(entity: EntitySpec, tool: ToolPlan, tools: list[ToolPlan]) -> ProblemType:
    """A change, with the look-ups it needs first: the record it changes, or for a new
    record the rows it references."""
    one = _words(entity.singular)
    if tool.kind == "create":
        looked = [n for f in entity.fields if f.references for n in _lookup(f.references, tools)]
        return _leaf(
            f"Record a new {one}", f"Add a new {one} with checked details.", [tool.name, *looked]
        )
    first = _lookup(entity.name, tools)
    if tool.kind == "update":
        return _leaf(f"Correct {_a(one)}'s details", tool.description, [*first, tool.name])
    label = tool.action.description.rstrip(".") if tool.action else _words(tool.name)
    return _leaf(label[:60], tool.description, [*first, tool.name])


def _leaf(label: str, description: str, tools: list[str]) -> ProblemType:
    return ProblemType(
        id="", label=label, description=description, tools=list(dict.fromkeys(tools))
    )


def _words(name: str) -> str:
    return name.replace("_", " ")


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


# --- probe queries ----------------------------------------------------------------------

PROBE_SYSTEM = """You write realistic requests users send to a system, each about real
records shown to you (use their actual ids, names and values). One request per listed
problem type, written by the listed persona, in their own words. Call submit_probe_queries."""


def probe_schema(leaves: list[ProblemType], personas: list[Persona]) -> dict[str, Any]:
    query = closed_object(
        {
            "text": text(300),
            "problem_type": {"type": "string", "enum": [leaf.id for leaf in leaves]},
            "persona": {"type": "string", "enum": [p.id for p in personas]},
        }
    )
    return closed_object({"queries": array(query, len(leaves), len(leaves))})


def probe_prompt(
    domain: DomainProfile,
    leaves: list[ProblemType],
    personas: list[Persona],
    rows: dict[str, list[Row]],
) -> str:
    samples = "\n".join(
        f"{entity}: " + json.dumps([{"id": i + 1, **r} for i, r in enumerate(entity_rows[:3])])
        for entity, entity_rows in rows.items()
    )
    wanted = "\n".join(
        f"- problem type {leaf.id} ({leaf.label}) by persona {personas[i % len(personas)].id} "
        f"({personas[i % len(personas)].name}, {personas[i % len(personas)].user_type})"
        for i, leaf in enumerate(leaves)
    )
    return f"System: {domain.title}. {domain.purpose}\nRecords:\n{samples}\n\nWrite:\n{wanted}"


def probe_leaves(tree: ProblemType, count: int) -> list[ProblemType]:
    """``count`` leaves spread over the categories (first leaf of each, then the next)."""
    per_category = [c.leaves() for c in tree.children]
    picked: list[ProblemType] = []
    for rank in range(max((len(x) for x in per_category), default=0)):
        for leaves in per_category:
            if rank < len(leaves) and len(picked) < count:
                picked.append(leaves[rank])
    return picked


def normalize_probes(
    raw: dict[str, Any], leaves: list[ProblemType], fixes: list[str]
) -> list[ProbeQuery]:
    ids = {leaf.id for leaf in leaves}
    queries: list[ProbeQuery] = []
    for item in raw.get("queries") or []:
        text = " ".join(str(item.get("text") or "").split())
        if not text or item.get("problem_type") not in ids:
            fixes.append("dropped an empty probe query or one with an unknown problem type")
            continue
        if any(word_similarity(text, q.text) >= DUPLICATE_SIMILARITY for q in queries):
            fixes.append(f"dropped near-duplicate probe query {text[:40]!r}")
            continue
        queries.append(
            ProbeQuery(text=text, problem_type=item["problem_type"], persona=item.get("persona"))
        )
    if not queries:
        raise StageProblems(["no usable probe query: write one request per problem type"])
    return queries


async def make_kit(
    model: Model,
    settings: AskSettings,
    profile: Any,
    tools: list[ToolPlan],
    rows: dict[str, list[dict[str, Any]]],
    usage: StageUsage,
    probe_count: int,
    tree: ProblemType | None = None,
    teams: Teams | None = None,
) -> QueryKit:
    """Personas, the problem-type tree (``tree``, or written by the model) and probe
    queries (also for ``--from-config``)."""
    slots = persona_slots(profile, settings.sampling.seed or 0)
    personas: list[Persona] = await ask(
        model,
        stage="personas",
        system=PERSONA_SYSTEM,
        prompt=persona_prompt(profile, slots),
        schema=persona_schema(slots),
        normalize=lambda raw: normalize_personas(raw, slots, usage.fixes),
        settings=settings,
        usage=usage,
    )
    if tree is None:
        tree = await ask(
            model,
            stage="problem_types",
            system=PROBLEM_SYSTEM,
            prompt=problem_prompt(profile, tools),
            schema=problem_schema(tools),
            normalize=lambda raw: normalize_problem_types(raw, profile, tools, usage.fixes, teams),
            settings=settings,
            usage=usage,
        )
    leaves = probe_leaves(tree, probe_count)
    probes: list[ProbeQuery] = await ask(
        model,
        stage="probe_queries",
        system=PROBE_SYSTEM,
        prompt=probe_prompt(profile, leaves, personas, rows),
        schema=probe_schema(leaves, personas),
        normalize=lambda raw: normalize_probes(raw, leaves, usage.fixes),
        settings=settings,
        usage=usage,
    )
    return QueryKit(personas=personas, problem_types=tree, probe_queries=probes)
