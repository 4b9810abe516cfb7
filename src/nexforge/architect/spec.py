"""The architect's data: what each stage produces, after normalisation.

These are the contracts between the stages (and the files saved for resuming a build).
A stage asks the model for a loosely-typed JSON object (see ``stages``), then normalises
it into one of these models: names become identifiers, duplicates are dropped,
references are checked. Everything here is plain data; nothing runs.

Every entity has an implicit ``id INTEGER PRIMARY KEY``; seed rows get ids ``1..n`` in
order, so a reference field holds the id of a row of the entity it references.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

IDENTIFIER = r"^[a-z][a-z0-9_]{0,39}$"
"""Names of entities, fields, tools and agents: SQL- and Python-safe."""
_IDENT_RE = re.compile(IDENTIFIER)
RESERVED_FIELDS = frozenset({"id"})

FieldType = Literal["text", "integer", "real", "boolean", "date"]
EntityKind = Literal["person", "thing", "record"]
"""People served or working; what is sold, lent or booked; what happens between them."""
ToolKind = Literal["get", "list", "search", "create", "update", "action", "custom"]
Archetype = Literal["single", "lead_specialists", "three_layers", "pipeline", "worker_reviewer"]
ARCHETYPES: tuple[Archetype, ...] = (
    "single",
    "lead_specialists",
    "three_layers",
    "pipeline",
    "worker_reviewer",
)


def is_identifier(name: str) -> bool:
    return bool(_IDENT_RE.match(name))


def to_identifier(text: str, *, fallback: str = "item") -> str:
    """``"Repair Tickets"`` -> ``"repair_tickets"``; always a valid IDENTIFIER."""
    name = re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"{fallback}_{name}" if name else fallback
    return name[:40].rstrip("_")


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldSpec(_Data):
    name: str = Field(pattern=IDENTIFIER)
    type: FieldType
    description: str = ""
    references: str | None = Field(
        default=None, description="Entity whose row id this field holds (type integer)."
    )
    values: list[str] = Field(
        default_factory=list,
        description="Allowed values of a text field (e.g. a status); empty means free text.",
    )
    example: str = Field(default="", description="A typical value, as a real record has it.")


class EntitySpec(_Data):
    name: str = Field(pattern=IDENTIFIER, description="Table name, plural: orders, repairs.")
    singular: str = Field(pattern=IDENTIFIER, description="One row: order, repair.")
    description: str = ""
    fields: list[FieldSpec] = Field(min_length=1)
    kind: EntityKind | None = None

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


class ActionSpec(_Data):
    """A domain action: set ``field`` of one ``entity`` row to ``value``, allowed only
    when its current value is in ``allowed_from`` (empty: always allowed).

    Becomes a state-changing tool ``NAME(<singular>_id)``.
    """

    name: str = Field(pattern=IDENTIFIER)
    description: str = ""
    entity: str = Field(pattern=IDENTIFIER)
    field: str = Field(pattern=IDENTIFIER)
    value: str
    allowed_from: list[str] = Field(default_factory=list)


class DomainProfile(_Data):
    """What the query kit needs to know about a domain (also for hand-written frameworks)."""

    title: str
    purpose: str
    user_types: list[str] = Field(min_length=1)
    tasks: list[str] = Field(min_length=1)


class DomainSpec(_Data):
    """Stage 1: what the framework is about."""

    name: str = Field(pattern=IDENTIFIER)
    title: str
    purpose: str
    user_types: list[str] = Field(min_length=1)
    tasks: list[str] = Field(min_length=1)
    entities: list[EntitySpec] = Field(min_length=1)
    policies: list[str] = Field(default_factory=list)
    actions: list[ActionSpec] = Field(default_factory=list)

    def profile(self) -> DomainProfile:
        return DomainProfile(
            title=self.title, purpose=self.purpose, user_types=self.user_types, tasks=self.tasks
        )

    def entity(self, name: str) -> EntitySpec:
        for e in self.entities:
            if e.name == name:
                return e
        raise KeyError(name)


Row = dict[str, Any]


class SeedData(_Data):
    """Stage 2a: rows per entity (without ``id``; row ``i`` gets id ``i + 1``)."""

    rows: dict[str, list[Row]]


class ToolPlan(_Data):
    """One tool of the environment, derived from the domain (or written by the model).

    For a hand-written framework (``--from-config``) it describes a tool as it is named
    there, so the name may be any tool name, not only an identifier.
    """

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
    kind: ToolKind
    entity: str | None = None
    description: str
    read_only: bool
    action: ActionSpec | None = None


class CustomTool(_Data):
    """A read-only computation the model wrote over one entity's rows.

    ``code`` defines ``def compute(rows, **arguments)``; it only ever runs in the sandbox,
    and is kept only when ``tests`` (each ``{arguments, expected}`` over the seed rows)
    pass there.
    """

    name: str = Field(pattern=IDENTIFIER)
    description: str
    entity: str = Field(pattern=IDENTIFIER)
    parameters: dict[str, Any]
    code: str
    tests: list[dict[str, Any]] = Field(default_factory=list)


class AgentPlan(_Data):
    name: str = Field(pattern=IDENTIFIER)
    role: str = Field(description="One line, shown to the agent's parent as its description.")
    responsibilities: list[str] = Field(default_factory=list)
    layer: int = Field(ge=0, description="0 for the entry agent, +1 per delegation level.")
    tools: list[str] = Field(default_factory=list)
    delegates: list[str] = Field(default_factory=list, description="Agents it may call, in order.")


class HierarchyPlan(_Data):
    """Stage 3: the agents and the workflow graph (acyclic; ``entry`` at layer 0)."""

    archetype: Archetype
    entry: str = Field(pattern=IDENTIFIER)
    agents: list[AgentPlan] = Field(min_length=1)

    def agent(self, name: str) -> AgentPlan:
        for a in self.agents:
            if a.name == name:
                return a
        raise KeyError(name)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(a.name, d) for a in self.agents for d in a.delegates]


class Persona(_Data):
    id: str
    name: str
    user_type: str
    background: str
    style: str = ""


class ProblemType(_Data):
    """A node of the problem-type tree; leaves list the tools that solve them."""

    id: str
    label: str
    description: str = ""
    tools: list[str] = Field(default_factory=list)
    asked_by: list[str] = Field(default_factory=list)
    """The user types who bring this problem (a shop's staff restock, its customers do
    not); empty: anyone. The query planner draws a persona of one of them."""
    children: list[ProblemType] = Field(default_factory=list)

    def leaves(self) -> list[ProblemType]:
        if not self.children:
            return [self]
        return [leaf for child in self.children for leaf in child.leaves()]

    def depth(self) -> int:
        return 1 + max((c.depth() for c in self.children), default=0)


class ProbeQuery(_Data):
    text: str
    problem_type: str
    persona: str | None = None


class QueryKit(_Data):
    """Stage 6: inputs of query synthesis, and the probe rung's queries."""

    personas: list[Persona]
    problem_types: ProblemType
    probe_queries: list[ProbeQuery]
