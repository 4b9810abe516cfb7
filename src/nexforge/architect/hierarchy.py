"""Stage 3: the agent hierarchy, sampled from topology archetypes.

The shape comes from an archetype (so ``--variants K`` gives structurally different
frameworks for one domain); the model names the agents, writes their roles and
responsibilities and picks their tools from those the slot may use. Normalisation keeps
the shape: names become unique identifiers that clash with no tool, every tool ends up
with at least one agent, every agent that acts has tools. Delegation edges come from the
archetype, so the graph is acyclic by construction (and checked).

Archetypes:
- ``single``: one agent with every tool;
- ``lead_specialists``: a lead delegating to 2-3 specialists, each owning some entities;
- ``three_layers``: a lead, two managers (one per half of the entities), and under each a
  reader (look-ups) and a writer (changes);
- ``pipeline``: a lead calling stages in order: intake (look-ups), action (changes),
  verification (look-ups);
- ``worker_reviewer``: a lead calling a worker (every tool) and a reviewer (look-ups).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from nexforge.architect.ask import StageProblems
from nexforge.architect.spec import (
    ARCHETYPES,
    AgentPlan,
    Archetype,
    DomainSpec,
    HierarchyPlan,
    ToolPlan,
    to_identifier,
)


@dataclass
class Slot:
    """A position in an archetype: who it reports to, what it does, what it may use."""

    key: str
    layer: int
    parent: str | None
    duty: str
    default_tools: list[str]
    allowed_tools: list[str]
    children: list[str] = field(default_factory=list)


def archetype_order(seed: int) -> list[Archetype]:
    """The archetypes in a seed-dependent order: variant ``i`` takes the ``i``-th."""
    order = list(ARCHETYPES)
    random.Random(f"archetypes:{seed}").shuffle(order)
    return order


def variant_archetype(seed: int, variant: int) -> Archetype:
    """Variant ``1..K``; the first five variants are five different archetypes."""
    order = archetype_order(seed)
    return order[(variant - 1) % len(order)]


def layout(
    archetype: Archetype, domain: DomainSpec, tools: list[ToolPlan], rng: random.Random
) -> list[Slot]:
    """The slots of ``archetype`` for this domain, children listed in delegation order."""
    every = [t.name for t in tools]
    reads = [t.name for t in tools if t.read_only]
    writes = [t.name for t in tools if not t.read_only]

    def of(entities: list[str], *, read: bool | None = None) -> list[str]:
        return [
            t.name
            for t in tools
            if (t.entity in entities or t.entity is None) and (read is None or t.read_only == read)
        ]

    names = [e.name for e in domain.entities]
    if archetype == "single":
        return [Slot("assistant", 0, None, "does all the work itself", every, every)]
    if archetype == "lead_specialists":
        count = max(1, min(len(names), rng.choice([2, 3])))
        groups = [names[i::count] for i in range(count)]
        slots = [Slot("lead", 0, None, "talks to the user and delegates", [], reads)]
        for i, group in enumerate(groups, 1):
            duty = f"handles {', '.join(group)}"
            slots.append(Slot(f"specialist_{i}", 1, "lead", duty, of(group), every))
        return _link(slots)
    if archetype == "three_layers":
        halves = [names[0::2], names[1::2]] if len(names) > 1 else [names, names]
        slots = [Slot("lead", 0, None, "talks to the user and delegates to managers", [], reads)]
        for i, half in enumerate(halves, 1):
            manager = f"manager_{i}"
            slots.append(
                Slot(manager, 1, "lead", f"coordinates work on {', '.join(half)}", [], reads)
            )
            slots.append(
                Slot(
                    f"reader_{i}",
                    2,
                    manager,
                    f"looks up {', '.join(half)}",
                    of(half, read=True),
                    reads,
                )
            )
            if of(half, read=False):
                slots.append(
                    Slot(
                        f"writer_{i}",
                        2,
                        manager,
                        f"changes {', '.join(half)}",
                        of(half, read=False),
                        every,
                    )
                )
        return _link(slots)
    if archetype == "pipeline":
        slots = [
            Slot("lead", 0, None, "runs the stages in order and answers the user", [], []),
            Slot("intake", 1, "lead", "gathers the facts the request needs", reads, reads),
            Slot("action", 1, "lead", "makes the changes the request needs", writes, every),
            Slot("verify", 1, "lead", "checks the result against the records", reads, reads),
        ]
        return _link(slots)
    slots = [
        Slot("lead", 0, None, "talks to the user, delegates, and has work reviewed", [], reads),
        Slot("worker", 1, "lead", "does the work with every tool", every, every),
        Slot(
            "reviewer", 1, "lead", "reviews the worker's result against the records", reads, reads
        ),
    ]
    return _link(slots)


def _link(slots: list[Slot]) -> list[Slot]:
    by_key = {s.key: s for s in slots}
    for slot in slots:
        if slot.parent is not None:
            by_key[slot.parent].children.append(slot.key)
    return slots


def hierarchy_schema(slots: list[Slot], tools: list[ToolPlan]) -> dict[str, Any]:
    names = sorted(t.name for t in tools)
    agent = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{1,30}$"},
            "role": {"type": "string", "maxLength": 150},
            "responsibilities": {
                "type": "array",
                "items": {"type": "string", "maxLength": 120},
                "minItems": 1,
                "maxItems": 3,
            },
            "tools": {"type": "array", "items": {"type": "string", "enum": names}, "maxItems": 8},
        },
        "required": ["name", "role", "responsibilities", "tools"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {s.key: agent for s in slots},
        "required": [s.key for s in slots],
        "additionalProperties": False,
    }


HIERARCHY_SYSTEM = """You design a team of AI agents that serves the users of a system.
The team's shape is fixed: you are given its positions, who each reports to, what each
is for and the tools it may use. For every position give the agent a short snake_case
name, a one-line role, one to three responsibilities, and the tools it needs (from those
it may use; a position that only delegates may need none). Call submit_hierarchy."""


def hierarchy_prompt(
    domain: DomainSpec, slots: list[Slot], tools: list[ToolPlan], archetype: str
) -> str:
    tool_lines = "\n".join(f"- {t.name}: {t.description}" for t in tools)
    slot_lines = "\n".join(
        f"- {s.key} (reports to {s.parent or 'the user'}): {s.duty}; may use: "
        f"{', '.join(s.allowed_tools) or 'no tools'}"
        for s in slots
    )
    return (
        f"System: {domain.title}. {domain.purpose}\n"
        f"Users: {', '.join(domain.user_types)}\n\nTools:\n{tool_lines}\n\n"
        f"Team shape ({archetype}):\n{slot_lines}"
    )


def normalize_hierarchy(
    raw: dict[str, Any],
    slots: list[Slot],
    archetype: Archetype,
    tools: list[ToolPlan],
    fixes: list[str],
) -> HierarchyPlan:
    tool_names = {t.name for t in tools}
    taken: set[str] = set(tool_names)
    names: dict[str, str] = {}
    for slot in slots:
        answer = _answer(raw, slot.key)
        wanted = to_identifier(str(answer.get("name") or slot.key), fallback="agent")
        name = wanted
        for suffix in ("_agent", f"_{slot.key}"):
            if name not in taken:
                break
            name = to_identifier(f"{wanted}{suffix}")
        if name in taken:
            name = to_identifier(f"{slot.key}_agent")
        if name != wanted:
            fixes.append(f"{slot.key}: renamed {wanted!r} to {name!r} (name taken)")
        taken.add(name)
        names[slot.key] = name
    agents: list[AgentPlan] = []
    for slot in slots:
        answer = _answer(raw, slot.key)
        picked = [t for t in dict.fromkeys(answer.get("tools") or []) if t in slot.allowed_tools]
        dropped = [t for t in answer.get("tools") or [] if t not in slot.allowed_tools]
        if dropped:
            fixes.append(
                f"{slot.key}: removed tools it may not use: {', '.join(map(str, dropped))}"
            )
        agent_tools = picked if (picked or not slot.default_tools) else list(slot.default_tools)
        agents.append(
            AgentPlan(
                name=names[slot.key],
                role=" ".join(str(answer.get("role") or slot.duty).split()),
                responsibilities=[
                    " ".join(str(r).split()) for r in answer.get("responsibilities") or [slot.duty]
                ],
                layer=slot.layer,
                tools=agent_tools,
                delegates=[names[c] for c in slot.children],
            )
        )
    _cover_tools(agents, slots, tool_names, fixes)
    plan = HierarchyPlan(archetype=archetype, entry=names[slots[0].key], agents=agents)
    problems = graph_problems(plan)
    if problems:
        raise StageProblems(problems)
    return plan


def _answer(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


def _cover_tools(
    agents: list[AgentPlan], slots: list[Slot], tool_names: set[str], fixes: list[str]
) -> None:
    """Give every tool to at least one agent: the first slot that has it by default."""
    used = {t for a in agents for t in a.tools}
    for tool in sorted(tool_names - used):
        for agent, slot in zip(agents, slots, strict=True):
            if tool in slot.default_tools:
                agent.tools.append(tool)
                fixes.append(f"gave unassigned tool {tool!r} to {agent.name}")
                break


def graph_problems(plan: HierarchyPlan) -> list[str]:
    """Unknown delegates, cycles, agents the entry cannot reach."""
    known = {a.name for a in plan.agents}
    problems = [f"{a}: delegates to unknown agent {d!r}" for a, d in plan.edges if d not in known]
    reached: set[str] = set()
    stack: list[tuple[str, tuple[str, ...]]] = [(plan.entry, ())]
    while stack:
        name, path = stack.pop()
        if name in path:
            problems.append(f"delegation cycle: {' -> '.join((*path, name))}")
            continue
        reached.add(name)
        if name in known:
            stack.extend((d, (*path, name)) for d in plan.agent(name).delegates)
    problems += [
        f"{n}: not reachable from the entry agent {plan.entry}" for n in sorted(known - reached)
    ]
    return problems


def depth(plan: HierarchyPlan) -> int:
    """Agents on the longest delegation chain (a single agent: 1)."""

    def down(name: str) -> int:
        return 1 + max((down(d) for d in plan.agent(name).delegates), default=0)

    return down(plan.entry)
