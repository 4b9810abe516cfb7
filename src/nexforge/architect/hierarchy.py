"""Stage 3: the agent hierarchy, from topology archetypes.

The shape comes from an archetype (so ``--variants K`` gives structurally different
frameworks for one domain); the entities and tools decide who holds what. No model is
asked: the embedded model named agents after user types ("customer") and gave them roles
such as "reports to lead", and a lead that held the look-up tools answered alone, so no
rollout ever reached a specialist. Here, with sub-agents:

- the entry agent delegates: it holds no environment tool;
- every agent below it that works on entities holds all it needs for them (``toolset``:
  their tools and the look-ups of what they reference), so each problem type of the kit
  (tools of one entity, see ``kit``) is solved by one agent below the entry.

Archetypes:
- ``single``: one agent with every tool;
- ``lead_specialists``: a lead delegating to 2-3 specialists, each owning related
  entities (a record with its follow-ups, the things, the people);
- ``three_layers``: a lead, two managers (one per half of the entities), and under each a
  reader (look-ups) and a clerk (look-ups and changes);
- ``pipeline``: a lead calling stages in order: intake (look-ups), handler (every tool),
  checker (look-ups);
- ``worker_reviewer``: a lead calling a worker (every tool) and a reviewer (look-ups).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from nexforge.architect.nouns import is_follow_up
from nexforge.architect.spec import (
    ARCHETYPES,
    AgentPlan,
    Archetype,
    DomainSpec,
    HierarchyPlan,
    ToolPlan,
)
from nexforge.architect.toolplan import toolset

MAX_RESPONSIBILITIES = 4


@dataclass
class Slot:
    """A position in an archetype: its agent's name, who it reports to, what it does."""

    key: str
    name: str
    layer: int
    parent: str | None
    role: str
    responsibilities: list[str]
    tools: list[str]
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


def plan_hierarchy(
    archetype: Archetype, domain: DomainSpec, tools: list[ToolPlan], rng: random.Random
) -> HierarchyPlan:
    """The hierarchy of ``archetype`` for this domain and its tools."""
    slots = layout(archetype, domain, tools, rng)
    agents = [
        AgentPlan(
            name=s.name,
            role=s.role,
            responsibilities=s.responsibilities,
            layer=s.layer,
            tools=s.tools,
            delegates=[next(c.name for c in slots if c.key == k) for k in s.children],
        )
        for s in slots
    ]
    plan = HierarchyPlan(archetype=archetype, entry=slots[0].name, agents=agents)
    problems = graph_problems(plan)
    if problems:
        raise ValueError("; ".join(problems))
    return plan


def layout(
    archetype: Archetype, domain: DomainSpec, tools: list[ToolPlan], rng: random.Random
) -> list[Slot]:
    """The slots of ``archetype`` for this domain, children listed in delegation order."""
    every = [t.name for t in tools]
    reads = [t.name for t in tools if t.read_only]
    work = Work(domain, tools)
    person = next((e.singular for e in domain.entities if e.kind == "person"), "user")
    lead_duties = [
        f"Find out what the {person} needs and which teammate handles it",
        "Pass each teammate the exact request with every id, name and number it needs",
        f"Answer the {person} with what the team found or changed, or why it cannot be done",
    ]
    if archetype == "single":
        return [
            Slot(
                "assistant",
                "desk_assistant",
                0,
                None,
                f"Serves the {person}s of {domain.title} with every tool.",
                work.duties(domain_entities(domain)),
                every,
            )
        ]
    lead = Slot(
        "lead", "front_desk", 0, None, f"Talks to the {person} and delegates.", lead_duties, []
    )
    if archetype == "lead_specialists":
        count = max(1, min(len(domain.entities), rng.choice([2, 3])))
        slots = [lead]
        for i, group in enumerate(entity_groups(domain, count), 1):
            slots.append(work.slot(f"specialist_{i}", "specialist", 1, "lead", group))
        return _link(slots)
    if archetype == "three_layers":
        slots = [lead]
        for i, half in enumerate(entity_groups(domain, 2), 1):
            manager = f"manager_{i}"
            first = domain.entity(half[0]).singular
            slots.append(
                Slot(
                    manager,
                    f"{first}_manager",
                    1,
                    "lead",
                    f"Coordinates the work on {_words(half)}.",
                    [
                        f"Split a request about {_words(half)} into look-ups and changes",
                        "Send look-ups to the reader and changes to the clerk",
                        "Report back what was found and what changed",
                    ],
                    [],
                )
            )
            slots.append(work.slot(f"reader_{i}", "reader", 2, manager, half, read=True))
            if toolset(domain, tools, half, read=False):
                slots.append(work.slot(f"clerk_{i}", "clerk", 2, manager, half))
        return _link(slots)
    if archetype == "pipeline":
        lead.role = f"Runs the stages in order and answers the {person}."
        checks = [
            "Read back the records the request touched",
            "Say whether they now match what was asked, quoting the values",
        ]
        slots = [
            lead,
            Slot(
                "intake",
                "intake",
                1,
                "lead",
                "Gathers the facts a request needs from the records.",
                [
                    "Find the records the request is about",
                    "Report their ids and current values exactly",
                ],
                reads,
            ),
            Slot(
                "action",
                "handler",
                1,
                "lead",
                "Makes the changes a request needs, following the policy.",
                work.duties(domain_entities(domain)),
                every,
            ),
            Slot(
                "verify",
                "checker",
                1,
                "lead",
                "Checks the result against the records.",
                checks,
                reads,
            ),
        ]
        return _link(slots)
    slots = [
        lead,
        Slot(
            "worker",
            "case_worker",
            1,
            "lead",
            "Does the work a request needs with every tool.",
            work.duties(domain_entities(domain)),
            every,
        ),
        Slot(
            "reviewer",
            "reviewer",
            1,
            "lead",
            "Reviews the worker's result against the records.",
            [
                "Read back the records the worker touched",
                "Point out anything that does not match the request or the policy",
            ],
            reads,
        ),
    ]
    return _link(slots)


def domain_entities(domain: DomainSpec) -> list[str]:
    return [e.name for e in domain.entities]


def entity_groups(domain: DomainSpec, count: int) -> list[list[str]]:
    """The entities in ``count`` groups of related ones: each record with its follow-ups,
    then the things, then the people, cut into contiguous, balanced groups."""
    records = [e for e in domain.entities if e.kind == "record" or e.kind is None]
    primary = [e.name for e in records if not is_follow_up(e.name)]
    ordered: list[str] = []
    for name in primary:
        ordered.append(name)
        ordered += [
            e.name
            for e in records
            if e.name not in ordered
            and is_follow_up(e.name)
            and any(f.references == name for f in e.fields)
        ]
    ordered += [e.name for e in records if e.name not in ordered]
    ordered += [e.name for e in domain.entities if e.kind == "thing" and e.name not in ordered]
    ordered += [e.name for e in domain.entities if e.name not in ordered]
    count = max(1, min(count, len(ordered)))
    size, extra = divmod(len(ordered), count)
    groups: list[list[str]] = []
    start = 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        groups.append(ordered[start:end])
        start = end
    return groups


@dataclass
class Work:
    """What agents working on entities hold and are responsible for."""

    domain: DomainSpec
    tools: list[ToolPlan]

    def slot(
        self,
        key: str,
        kind: str,
        layer: int,
        parent: str,
        entities: list[str],
        *,
        read: bool | None = None,
    ) -> Slot:
        first = self.domain.entity(entities[0]).singular
        name = f"{first}_{kind}"
        held = toolset(self.domain, self.tools, entities, read=read)
        duties = self.duties(entities, read=read)
        return Slot(key, name, layer, parent, self.role(entities, held), duties, held)

    def role(self, entities: list[str], held: list[str]) -> str:
        """One line for the parent: what it handles and can do, so requests route right."""
        mine = [t for t in self.tools if t.name in held and t.entity in entities]
        can = ["looks them up"] if any(t.read_only for t in mine) else []
        can += ["records new ones"] if any(t.kind == "create" for t in mine) else []
        can += ["corrects details"] if any(t.kind == "update" for t in mine) else []
        moves = [t.action.description.rstrip(".").lower() for t in mine if t.action is not None]
        text = f"Handles {_words(entities)}: {', '.join(can) or 'works on them'}"
        return text + (f"; can {', '.join(moves)}." if moves else ".")

    def duties(self, entities: list[str], *, read: bool | None = None) -> list[str]:
        duties: list[str] = []
        for name in entities:
            entity = self.domain.entity(name)
            plural, one = name.replace("_", " "), entity.singular.replace("_", " ")
            mine = [t for t in self.tools if t.entity == name]
            if any(t.read_only for t in mine):
                duties.append(f"Look up {plural} and answer questions about them")
            if read:
                continue
            for t in mine:
                if t.kind == "create":
                    duties.append(f"Record new {plural} with complete, checked details")
                elif t.kind == "update":
                    duties.append(f"Correct a {one}'s details when asked")
                elif t.kind == "action" and t.action is not None:
                    text = t.action.description.rstrip(".") or t.name.replace("_", " ")
                    duties.append(f"{text} when the policy allows it")
        actions = [d for d in duties if d.endswith("when the policy allows it")]
        rest = [d for d in duties if d not in actions]
        return (actions + rest)[:MAX_RESPONSIBILITIES] or [f"Handle {_words(entities)}"]


def _words(names: list[str]) -> str:
    shown = [n.replace("_", " ") for n in names]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def _link(slots: list[Slot]) -> list[Slot]:
    by_key = {s.key: s for s in slots}
    for slot in slots:
        if slot.parent is not None:
            by_key[slot.parent].children.append(slot.key)
    taken: set[str] = set()
    for slot in slots:  # two groups may start with the same entity kind of name
        base, n = slot.name, 1
        while slot.name in taken:
            n += 1
            slot.name = f"{base}_{n}"
        taken.add(slot.name)
    return slots


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
