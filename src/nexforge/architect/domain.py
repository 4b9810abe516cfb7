"""Stage 1: the domain spec (purpose, users, tasks, entities, policies, actions).

The model fills a loose schema; ``normalize_domain`` turns the answer into a
``DomainSpec`` deterministically: names become identifiers, duplicates go, references
are resolved by table or row name (``customer`` finds ``customers``), a reference that
would close a cycle is dropped, and action values join their field's allowed values.
Each such fix is recorded. Only what cannot be fixed (no entities, an entity without
fields) goes back to the model.
"""

from __future__ import annotations

from typing import Any

from nexforge.architect.ask import StageProblems
from nexforge.architect.schema_parts import closed_object, text, texts
from nexforge.architect.spec import (
    ActionSpec,
    DomainSpec,
    EntitySpec,
    FieldSpec,
    FieldType,
    to_identifier,
)

FIELD_TYPES: tuple[FieldType, ...] = ("text", "integer", "real", "boolean", "date")
_NAME = {"type": "string", "pattern": "^[a-z][a-z0-9_]{1,30}$"}


def domain_schema(*, max_entities: int = 4) -> dict[str, Any]:
    """What the model fills. Bounded sizes keep a small model's answer short."""
    field_item = closed_object(
        {
            "name": _NAME,
            "type": {"type": "string", "enum": list(FIELD_TYPES)},
            "description": text(60),
            "references": {**text(30), "description": "entity it points to, or ''"},
            "values": {**texts(30, 0, 5), "description": "allowed values (a status), or []"},
        }
    )
    entity = closed_object(
        {
            "name": {**_NAME, "description": "table name, plural"},
            "singular": _NAME,
            "description": text(100),
            "fields": {"type": "array", "items": field_item, "minItems": 2, "maxItems": 5},
        }
    )
    action = closed_object(
        {
            "name": _NAME,
            "description": text(120),
            "entity": _NAME,
            "field": _NAME,
            "value": text(30),
            "allowed_from": texts(30, 0, 4),
        }
    )
    return closed_object(
        {
            "name": _NAME,
            "title": text(80),
            "purpose": text(300),
            "user_types": texts(60, 2, 4),
            "tasks": texts(120, 3, 6),
            "entities": {"type": "array", "items": entity, "minItems": 2, "maxItems": max_entities},
            "policies": texts(160, 1, 4),
            "actions": {"type": "array", "items": action, "minItems": 0, "maxItems": 3},
        }
    )


DOMAIN_SYSTEM = """You design the data model of a software system that AI agents will operate.
Given a one-sentence description, describe the domain: what the system is for, who uses
it, the tasks they bring, the entities (database tables) with their fields, the policies
agents must follow, and a few domain actions. Rules:
- Entities are tables; every table already has an integer `id`, do not list it.
- A field that points to another entity has type integer and `references` = that entity's
  name; otherwise `references` is "".
- A status-like text field lists its allowed `values`; other fields have `values` = [].
- An action changes one field of one entity row to `value`, allowed only when the current
  value is in `allowed_from` (e.g. cancel an order: field status, value cancelled,
  allowed_from [pending, paid]).
Call submit_domain with the result."""


def domain_prompt(description: str) -> str:
    return f"Description: {description}"


def normalize_domain(raw: dict[str, Any], fixes: list[str]) -> DomainSpec:
    """The answer as a DomainSpec; fixes made are appended to ``fixes``."""
    problems: list[str] = []
    entities = _entities(raw.get("entities") or [], fixes, problems)
    if not entities:
        problems.append("entities: at least one entity with at least one field is required")
    if problems:
        raise StageProblems(problems)
    entities = _resolve_references(entities, fixes)
    entities, actions = _actions(raw.get("actions") or [], entities, fixes)
    name = to_identifier(str(raw.get("name") or raw.get("title") or "domain"), fallback="domain")
    return DomainSpec(
        name=name,
        title=_clean(raw.get("title")) or name.replace("_", " ").title(),
        purpose=_clean(raw.get("purpose")),
        user_types=_unique_texts(raw.get("user_types")) or ["user"],
        tasks=_unique_texts(raw.get("tasks")) or [e.description or e.name for e in entities],
        entities=entities,
        policies=_unique_texts(raw.get("policies")),
        actions=actions,
    )


def _clean(value: Any) -> str:
    return " ".join(str(value or "").split())


def _unique_texts(values: Any) -> list[str]:
    seen: set[str] = set()
    kept: list[str] = []
    for value in values or []:
        text = _clean(value)
        if text and text.lower() not in seen:
            seen.add(text.lower())
            kept.append(text)
    return kept


def _singular(name: str) -> str:
    if name.endswith("ies") and len(name) > 4:
        return name[:-3] + "y"
    if name.endswith(("ses", "xes", "ches", "shes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss") and len(name) > 3:
        return name[:-1]
    return name


def _entities(raw: list[Any], fixes: list[str], problems: list[str]) -> list[EntitySpec]:
    entities: list[EntitySpec] = []
    names: set[str] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            continue
        name = to_identifier(str(item.get("name") or ""), fallback="entity")
        if name in names:
            fixes.append(f"dropped duplicate entity {name!r}")
            continue
        singular = to_identifier(str(item.get("singular") or ""), fallback="item")
        if not item.get("singular") or singular == name:
            singular = _singular(name) if _singular(name) != name else f"{name}_item"
        fields = _fields(name, item.get("fields") or [], fixes)
        own_ids = {f"{name}_id", f"{singular}_id", f"{_singular(name)}_id"}
        if any(f.name in own_ids for f in fields):
            fixes.append(f"{name}: dropped its own id field (every table has `id`)")
            fields = [f for f in fields if f.name not in own_ids]
        if not fields:
            problems.append(f"entities[{i}] ({name}): needs at least one field besides id")
            continue
        names.add(name)
        entities.append(
            EntitySpec(
                name=name,
                singular=singular,
                description=_clean(item.get("description")),
                fields=fields,
            )
        )
    return entities


def _fields(entity: str, raw: list[Any], fixes: list[str]) -> list[FieldSpec]:
    fields: list[FieldSpec] = []
    seen = {"id"}
    for item in raw:
        if not isinstance(item, dict):
            continue
        name = to_identifier(str(item.get("name") or ""), fallback="field")
        if name in seen:
            fixes.append(f"{entity}: dropped duplicate or reserved field {name!r}")
            continue
        seen.add(name)
        kind = item.get("type") if item.get("type") in FIELD_TYPES else "text"
        reference = to_identifier(str(item.get("references") or ""), fallback="x")
        values = _unique_texts(item.get("values")) if kind == "text" else []
        fields.append(
            FieldSpec(
                name=name,
                type=kind,
                description=_clean(item.get("description")),
                references=reference if item.get("references") else None,
                values=values,
            )
        )
    return fields


def _resolve_references(entities: list[EntitySpec], fixes: list[str]) -> list[EntitySpec]:
    """Point references at real entities; drop unknown, self and cycle-closing ones."""
    lookup = {e.name: e.name for e in entities} | {e.singular: e.name for e in entities}
    graph: dict[str, set[str]] = {e.name: set() for e in entities}
    resolved: list[EntitySpec] = []
    for entity in entities:
        fields: list[FieldSpec] = []
        for f in entity.fields:
            if f.references is None and f.name.endswith("_id") and f.name[:-3] in lookup:
                # `customer_id` names its entity even when the model left `references` empty.
                f = f.model_copy(update={"references": f.name[:-3]})
            if f.references is None:
                fields.append(f)
                continue
            target = lookup.get(f.references) or lookup.get(_singular(f.references))
            if target is None or target == entity.name or _reaches(graph, target, entity.name):
                why = "unknown entity" if target is None else "it would make a cycle"
                fixes.append(
                    f"{entity.name}.{f.name}: dropped reference to {f.references!r} ({why})"
                )
                fields.append(f.model_copy(update={"references": None}))
                continue
            graph[entity.name].add(target)
            fields.append(
                f.model_copy(update={"references": target, "type": "integer", "values": []})
            )
        resolved.append(entity.model_copy(update={"fields": fields}))
    return resolved


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    pending, seen = [start], set()
    while pending:
        node = pending.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            pending.extend(graph.get(node, ()))
    return False


def _actions(
    raw: list[Any], entities: list[EntitySpec], fixes: list[str]
) -> tuple[list[EntitySpec], list[ActionSpec]]:
    by_name = {e.name: e for e in entities} | {e.singular: e for e in entities}
    actions: list[ActionSpec] = []
    taken: set[str] = set()
    for item in raw:
        if not isinstance(item, dict):
            continue
        name = to_identifier(str(item.get("name") or ""), fallback="action")
        entity = by_name.get(to_identifier(str(item.get("entity") or ""), fallback="x"))
        value = _clean(item.get("value"))
        if entity is None or not value or name in taken:
            fixes.append(f"dropped action {name!r} (unknown entity, empty value or duplicate)")
            continue
        entity = by_name[entity.name]  # the latest copy, values may have grown
        field_name = to_identifier(str(item.get("field") or ""), fallback="x")
        target = next((f for f in entity.fields if f.name == field_name and f.type == "text"), None)
        if target is None:
            target = next((f for f in entity.fields if f.values), None)
            if target is None:
                fixes.append(f"dropped action {name!r}: {entity.name} has no status-like field")
                continue
            fixes.append(f"action {name!r}: uses {entity.name}.{target.name} (not {field_name!r})")
        allowed = [v for v in _unique_texts(item.get("allowed_from")) if v != value]
        grown = _unique_texts([*target.values, *allowed, value])
        if grown != target.values:
            fields = [
                f.model_copy(update={"values": grown}) if f is target else f for f in entity.fields
            ]
            entity = entity.model_copy(update={"fields": fields})
            by_name[entity.name] = by_name[entity.singular] = entity
        taken.add(name)
        actions.append(
            ActionSpec(
                name=name,
                description=_clean(item.get("description")),
                entity=entity.name,
                field=target.name,
                value=value,
                allowed_from=allowed,
            )
        )
    return [by_name[e.name] for e in entities], actions
