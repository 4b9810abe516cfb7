"""Which tools an environment gets: ``plan_tools`` derives them from the domain spec.

The rules shared by planning, rendering (``toolgen``) and the generated tests
(``testgen``) live here: which fields filter a list (``filter_fields``), which are
searched (``search_fields``), which ``update_*`` may change (``update_fields``: not those
an action controls, or the action's ``allowed_from`` would mean nothing), an action's
values (``action_values``) and the Python parameter names (``parameters``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nexforge.architect.pysource import python_name, sentence
from nexforge.architect.seedgen import coerce_value, seed_order
from nexforge.architect.spec import ActionSpec, DomainSpec, EntitySpec, FieldSpec, ToolPlan

DEFAULT_LIMIT = 20
_MAX_NAME = 40
# Names the generated tools module imports or defines; no parameter or tool may take them.
IMPORTED = frozenset(
    {"Any", "Literal", "Path", "HERE", "EnvState", "customtools", "dbtools", "env_tool"}
)


@dataclass(frozen=True)
class Parameters:
    """The Python parameter names of one entity's tools: field names made safe (a keyword
    such as ``from`` becomes ``from_``), and names for the state, row id and limit that no
    field takes."""

    state: str
    row_id: str
    limit: str
    fields: dict[str, str]


def parameters(entity: EntitySpec) -> Parameters:
    taken = set(IMPORTED)
    fields: dict[str, str] = {}
    for f in entity.fields:
        name = python_name(f.name)
        while name in taken:
            name += "_"
        taken.add(name)
        fields[f.name] = name
    # A field name never starts with "_", so "_state" is always free.
    state = "state" if "state" not in taken else "_state"
    row_id = _free(f"{entity.singular}_id", taken)
    return Parameters(state, row_id, _free("limit", taken | {row_id}), fields)


def _free(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    return name


def filter_fields(entity: EntitySpec) -> list[FieldSpec]:
    """Fields ``list_*`` filters on: references, fields with allowed values, booleans."""
    return [
        f
        for f in entity.fields
        if f.references is not None or (f.type == "text" and f.values) or f.type == "boolean"
    ]


def search_fields(entity: EntitySpec) -> list[FieldSpec]:
    """Free-text fields, searched by ``search_*`` (an entity without them has none)."""
    return [f for f in entity.fields if f.type == "text" and not f.values and not f.references]


def update_fields(domain: DomainSpec, entity: EntitySpec) -> list[FieldSpec]:
    """Fields ``update_*`` may change: all but those an action of the entity sets."""
    controlled = {a.field for a in domain.actions if a.entity == entity.name}
    return [f for f in entity.fields if f.name not in controlled]


def action_values(domain: DomainSpec, action: ActionSpec) -> tuple[Any, list[Any]]:
    """The action's target value and allowed starting values, as the field's type.

    ValueError for an unknown entity or field, or a value the field cannot hold.
    """
    where = f"action {action.name}"
    try:
        f = domain.entity(action.entity).field(action.field)
    except KeyError as exc:
        raise ValueError(f"{where}: unknown entity or field {exc.args[0]!r}") from None
    try:
        return coerce_value(f, action.value), [coerce_value(f, v) for v in action.allowed_from]
    except ValueError as exc:
        raise ValueError(f"{where}: {action.entity}.{action.field} value {exc}") from None


def plan_tools(domain: DomainSpec) -> list[ToolPlan]:
    """Per entity ``get_``, ``list_``, ``search_`` (with free text), ``create_`` and
    ``update_`` (with fields left to update), then one tool per action. Deterministic; a
    name already taken gets ``_2``, ``_3``... (actions yield to the entity tools)."""
    seed_order(domain)  # references must be sound before tools are built on them
    plans: list[ToolPlan] = []
    taken: set[str] = set()

    def add(kind: Any, name: str, entity: str, text: str, action: ActionSpec | None = None) -> None:
        unique = _unique(name, taken)
        taken.add(unique)
        read_only = kind in ("get", "list", "search")
        plans.append(
            ToolPlan(
                name=unique,
                kind=kind,
                entity=entity,
                description=text,
                read_only=read_only,
                action=action,
            )
        )

    for e in domain.entities:
        about = sentence(e.description)
        add(
            "get",
            _name("get", e.singular),
            e.name,
            f"Look up one {e.singular} by its id. {about}".strip(),
        )
        filters = _words([f.name for f in filter_fields(e)])
        narrowing = f", optionally only those with the given {filters}" if filters else ""
        add("list", _name("list", e.name), e.name, f"List {e.name} in id order{narrowing}.")
        if search := search_fields(e):
            columns = _words([f.name for f in search], "or")
            text = f"Find {e.name} whose {columns} contains the text (case-insensitive)."
            add("search", _name("search", e.name), e.name, text)
        add(
            "create",
            _name("create", e.singular),
            e.name,
            f"Add a new {e.singular}; returns it with its id.",
        )
        if update_fields(domain, e):
            text = f"Change fields of one {e.singular}; fields left out keep their value."
            add("update", _name("update", e.singular), e.name, text)
    for action in domain.actions:
        value, allowed = action_values(domain, action)
        singular = domain.entity(action.entity).singular
        text = f"Sets the {singular}'s {action.field} to {_shown(value)}"
        if allowed:
            text += f"; only when it is {_words([_shown(v) for v in allowed], 'or')}"
        add(
            "action",
            action.name,
            action.entity,
            f"{sentence(action.description)} {text}.".strip(),
            action,
        )
    return [_with_actions_named(p, plans) if p.kind == "update" else p for p in plans]


def _with_actions_named(update: ToolPlan, plans: list[ToolPlan]) -> ToolPlan:
    """``update``, its description saying which fields only its entity's actions change."""
    text = update.description
    for plan in plans:
        if plan.action is not None and plan.entity == update.entity:
            text += f" Its {plan.action.field} changes only through {plan.name}."
    return update.model_copy(update={"description": text})


def _name(prefix: str, base: str) -> str:
    return f"{prefix}_{base}"[:_MAX_NAME].rstrip("_")


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        suffix = f"_{n}"
        candidate = name[: _MAX_NAME - len(suffix)].rstrip("_") + suffix
    return candidate


def _shown(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


def _words(items: list[str], last: str = "and") -> str:
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def toolset(
    domain: DomainSpec, tools: list[ToolPlan], entities: list[str], *, read: bool | None = None
) -> list[str]:
    """The tools an agent needs to handle ``entities``: theirs (only the read-only ones
    with ``read=True``) and the look-up of every entity they reference, so a refunds
    agent can read the order a refund is for. In ``tools`` order."""
    wanted = set(entities)
    referenced = {
        f.references
        for e in domain.entities
        if e.name in wanted
        for f in e.fields
        if f.references is not None
    } - wanted
    picked = []
    for t in tools:
        own = t.entity in wanted and (read is None or t.read_only == read)
        lookup = t.entity in referenced and t.kind == "get"
        if own or lookup:
            picked.append(t.name)
    return picked
