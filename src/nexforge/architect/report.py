"""Structure statistics recorded in a build's ``report.json``."""

from __future__ import annotations

from typing import Any

from nexforge.architect.hierarchy import depth
from nexforge.architect.spec import DomainSpec, HierarchyPlan, QueryKit, SeedData, ToolPlan


def structure_stats(
    domain: DomainSpec,
    tools: list[ToolPlan],
    plan: HierarchyPlan,
    kit: QueryKit,
    seed: SeedData | None = None,
) -> dict[str, Any]:
    tree = kit.problem_types
    stats: dict[str, Any] = {
        "archetype": plan.archetype,
        "agents": len(plan.agents),
        "depth": depth(plan),
        "edges": len(plan.edges),
        "tools": len(tools),
        "tools_by_kind": {
            k: sum(t.kind == k for t in tools) for k in sorted({t.kind for t in tools})
        },
        "entities": len(domain.entities),
        "actions": len(domain.actions),
        "personas": len(kit.personas),
        "problem_types": {
            "nodes": _count(tree),
            "leaves": len(tree.leaves()),
            "depth": tree.depth(),
        },
        "probe_queries": len(kit.probe_queries),
    }
    if seed is not None:
        stats["seed_rows"] = {name: len(rows) for name, rows in seed.rows.items()}
    return stats


def _count(node: Any) -> int:
    return 1 + sum(_count(c) for c in node.children)
