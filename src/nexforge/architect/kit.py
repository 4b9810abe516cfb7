"""Stage 6: the query kit — personas, the problem-type tree, probe queries.

Personas are de-duplicated (word-set similarity) and kept within the domain's user types.
The problem-type tree is domain -> category -> subtype -> leaf (depth 4), and every leaf
names the tools that solve it, drawn from the framework's tools by construction (enum).
Probe queries are written against real seed rows so the probe rung asks about things that
exist.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from nexforge.architect.ask import StageProblems
from nexforge.architect.schema_parts import array, closed_object, text
from nexforge.architect.spec import DomainProfile, Persona, ProbeQuery, ProblemType, Row, ToolPlan

MIN_PERSONAS = 4
DUPLICATE_SIMILARITY = 0.8
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    # Accents folded, so "López" and "Lopez" are the same word.
    folded = unicodedata.normalize("NFKD", text.lower())
    return set(_WORD.findall("".join(c for c in folded if not unicodedata.combining(c))))


def word_similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' word sets (1.0 for the same words)."""
    wa, wb = _words(a), _words(b)
    if not wa and not wb:
        return 1.0
    return len(wa & wb) / len(wa | wb)


# --- personas ---------------------------------------------------------------------------

PERSONA_SYSTEM = """You invent the people who bring requests to a system: varied ages,
situations, needs and ways of writing. Each persona has a name, one of the system's user
types, a one-sentence background, and a communication style. Call submit_personas."""


def persona_schema(domain: DomainProfile) -> dict[str, Any]:
    persona = closed_object(
        {
            "name": text(40),
            "user_type": {"type": "string", "enum": domain.user_types},
            "background": text(160),
            "style": text(60),
        }
    )
    return closed_object({"personas": array(persona, 6, 8)})


def persona_prompt(domain: DomainProfile) -> str:
    return (
        f"System: {domain.title}. {domain.purpose}\nUser types: {', '.join(domain.user_types)}\n"
        f"Typical tasks: {'; '.join(domain.tasks)}"
    )


def normalize_personas(
    raw: dict[str, Any], domain: DomainProfile, fixes: list[str]
) -> list[Persona]:
    kept: list[Persona] = []
    for item in raw.get("personas") or []:
        if not isinstance(item, dict):
            continue
        name = " ".join(str(item.get("name") or "").split())
        background = " ".join(str(item.get("background") or "").split())
        user_type = str(item.get("user_type") or "")
        if not name or not background or user_type not in domain.user_types:
            fixes.append(f"dropped persona {name or '?'!r}: empty, or not one of the user types")
            continue
        text = f"{name} {background}"
        twin = next(
            (
                p
                for p in kept
                if word_similarity(text, f"{p.name} {p.background}") >= DUPLICATE_SIMILARITY
            ),
            None,
        )
        if twin is not None or any(p.name.lower() == name.lower() for p in kept):
            fixes.append(
                f"dropped persona {name!r}: near-duplicate of {twin.name if twin else name!r}"
            )
            continue
        kept.append(
            Persona(
                id=f"p{len(kept) + 1}",
                name=name,
                user_type=user_type,
                background=background,
                style=" ".join(str(item.get("style") or "").split()),
            )
        )
    if len(kept) < MIN_PERSONAS:
        raise StageProblems(
            [f"only {len(kept)} distinct personas; write at least {MIN_PERSONAS} different people"]
        )
    return kept


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


def normalize_problem_types(
    raw: dict[str, Any], domain: DomainProfile, tools: list[ToolPlan], fixes: list[str]
) -> ProblemType:
    known = {t.name for t in tools}
    categories: list[ProblemType] = []
    for ci, cat in enumerate(raw.get("categories") or [], 1):
        subtypes: list[ProblemType] = []
        for si, sub in enumerate(cat.get("subtypes") or [], 1):
            leaves: list[ProblemType] = []
            for li, leaf in enumerate(sub.get("leaves") or [], 1):
                needed = [t for t in dict.fromkeys(leaf.get("tools") or []) if t in known]
                label = " ".join(str(leaf.get("label") or "").split())
                if not needed or not label:
                    fixes.append(f"dropped leaf {label or '?'!r}: no label or no known tool")
                    continue
                if any(word_similarity(label, x.label) >= 1.0 for x in leaves):
                    fixes.append(f"dropped duplicate leaf {label!r}")
                    continue
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
