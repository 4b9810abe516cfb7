"""Growing the problem-type tree: a new leaf under an inner node, proposed by the model.

The new type may only list tools the framework really has (its agents' environment
tools, offered as an enum), so the framework can still solve queries about it, and its
label must differ from its siblings'. Grown types live in the store, never in the kit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nexforge.architect.ask import AskSettings, StageProblems, StageUsage, ask
from nexforge.architect.schema_parts import array, closed_object, text
from nexforge.architect.similarity import word_similarity
from nexforge.architect.spec import ProblemType
from nexforge.models.base import Model
from nexforge.synthesis.problem_tree import ProblemTree, TypePath
from nexforge.tools.base import Tool

GROWTH_STAGE = "problem_type"
SIBLING_SIMILARITY = 0.8
MAX_TOOLS = 4

GROWTH_SYSTEM = """You extend a tree of the problem types users bring to a system. Propose
one new, concrete problem type under the given node: different from the types already
there, realistic for the system's users, and solvable with the listed tools alone. List
the tools a solution needs (only from the list). Call submit_problem_type."""


def grown_id(parent_id: str, seed: int, slot: int) -> str:
    """The id of the type grown for ``slot`` of ``seed``: unique, and the same on resume."""
    return f"{parent_id}.grown-{seed}-{slot}"


def growth_parent(tree: ProblemTree, path: TypePath) -> TypePath:
    """The inner node a sampled path grows under: its end, or the parent of a leaf."""
    return path if not tree.is_leaf(path[-1]) or len(path) == 1 else path[:-1]


def growth_schema(tools: Sequence[Tool]) -> dict[str, Any]:
    names = {"type": "string", "enum": [t.name for t in tools]}
    return closed_object(
        {"label": text(60), "description": text(160), "tools": array(names, 1, MAX_TOOLS)}
    )


def growth_prompt(tree: ProblemTree, parent: TypePath, tools: Sequence[Tool]) -> str:
    root = tree.root
    siblings = [f"- {c.label}: {c.description}".rstrip(": ") for c in tree.children(parent[-1])]
    tool_lines = [f"- {t.name}: {t.spec.description.strip().splitlines()[0]}" for t in tools]
    return (
        f"System: {root.label}. {root.description}\n"
        f"Under: {' > '.join(tree.labels(parent))}\n"
        f"Already there:\n{chr(10).join(siblings) or '- (nothing yet)'}\n"
        f"Tools:\n{chr(10).join(tool_lines)}"
    )


def normalize_grown(
    raw: dict[str, Any], node_id: str, siblings: Sequence[ProblemType], tools: Sequence[Tool]
) -> ProblemType:
    label = " ".join(str(raw.get("label") or "").split())
    known = {t.name for t in tools}
    chosen = [t for t in dict.fromkeys(raw.get("tools") or []) if t in known]
    problems = []
    if not label:
        problems.append("label is empty")
    twin = next(
        (s for s in siblings if label and word_similarity(label, s.label) >= SIBLING_SIMILARITY),
        None,
    )
    if twin is not None:
        problems.append(
            f"label {label!r} repeats the existing type {twin.label!r}: propose a new one"
        )
    if not chosen:
        problems.append(f"tools: list at least one of {sorted(known)}")
    if problems:
        raise StageProblems(problems)
    description = " ".join(str(raw.get("description") or "").split())
    return ProblemType(id=node_id, label=label, description=description, tools=chosen)


async def grow_type(
    model: Model,
    tree: ProblemTree,
    parent: TypePath,
    tools: Sequence[Tool],
    *,
    node_id: str,
    settings: AskSettings,
    usage: StageUsage,
) -> ProblemType:
    """A new leaf for ``parent``; StageFailed when no repair made the answer usable."""
    siblings = tree.children(parent[-1])
    node: ProblemType = await ask(
        model,
        stage=GROWTH_STAGE,
        system=GROWTH_SYSTEM,
        prompt=growth_prompt(tree, parent, tools),
        schema=growth_schema(tools),
        normalize=lambda raw: normalize_grown(raw, node_id, siblings, tools),
        settings=settings,
        usage=usage,
    )
    return node
