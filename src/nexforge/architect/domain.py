"""Stage 1: the domain spec (purpose, users, tasks, entities, policies, actions).

Asked for a whole domain at once, the embedded 0.5B model wrote three unrelated tables
named after tasks, no actions, and policies that were task names. So the domain is built
in small steps, most of them without a model:

1. ``sketch`` (no model): the entities. Every thing the description names (``nouns``)
   becomes an entity; the business it names (a bike shop, a dental clinic) adds whom it
   serves, its staff and what it sells, lends or books (``trades``). A record (an order)
   references the people and the thing it is about; a follow-up (a refund) references the
   record it follows. Each record gets a status lifecycle and its actions.
2. ``fields`` (one short model question per entity, asked concurrently, not repaired):
   two or three more columns with a typical value each. Deterministic fixes drop ids,
   links, repeated and status columns (the sketch has those: names, contacts, prices,
   dates, money, reasons), and strip the entity's own prefix (``product_price`` ->
   ``price``). An entity whose answer adds nothing keeps its core columns.
3. ``compose_domain`` (no model): the DomainSpec, with title, purpose, user types, tasks,
   and policies that state each action's rule.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from nexforge.architect.nouns import (
    BUSINESS_HEADS,
    FUNCTION_HEADS,
    MASS_NOUNS,
    STOP_WORDS,
    is_follow_up,
    is_people,
    is_record,
    named_nouns,
    plural,
    singular,
)
from nexforge.architect.schema_parts import array, closed_object, text
from nexforge.architect.spec import (
    ActionSpec,
    DomainSpec,
    EntityKind,
    EntitySpec,
    FieldSpec,
    FieldType,
    to_identifier,
)
from nexforge.architect.trades import (
    ADJECTIVES,
    STAFF_BY_MODIFIER,
    date_field,
    lifecycle,
    money_field,
    thing_price,
    trade_of,
    transitions,
)

FIELD_TYPES: tuple[FieldType, ...] = ("text", "integer", "real", "boolean", "date")
MAX_EXTRA_FIELDS = 3
MAX_PEOPLE = 2
_WORD = re.compile(r"[a-z]+")


@dataclass
class Draft:
    """An entity before the model adds its columns."""

    name: str
    kind: EntityKind
    description: str
    references: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    fixed: list[FieldSpec] = field(default_factory=list)
    """Columns the sketch already knows besides references and status (name, stock...)."""

    @property
    def singular(self) -> str:
        return singular(self.name)

    def columns(self) -> list[str]:
        refs = [f"{singular(r)}_id" for r in self.references]
        status = ["status"] if self.statuses else []
        return [*refs, *(f.name for f in self.fixed), *status]


@dataclass
class Sketch:
    """What the description says, before any model answer."""

    description: str
    business: str
    """``bike shop``; ``""`` when the description names none."""
    function: str
    """What the framework is: ``support desk``, ``appointment desk``; ``desk`` by default."""
    named: list[str]
    drafts: list[Draft]

    def draft(self, name: str) -> Draft:
        return next(d for d in self.drafts if d.name == name)

    def of_kind(self, kind: EntityKind) -> list[Draft]:
        return [d for d in self.drafts if d.kind == kind]


# -- 1. the sketch ------------------------------------------------------------------------


def sketch(description: str) -> Sketch:
    """The entities a description implies, with references, statuses and core columns."""
    named = named_nouns(description)
    words = _WORD.findall(description.lower().replace("'s ", " "))
    head_index = next((i for i, w in enumerate(words) if w in BUSINESS_HEADS), None)
    head = words[head_index] if head_index is not None else None
    modifier = _modifier(words, head_index)
    trade = trade_of(head)
    business = " ".join(w for w in (modifier, head) if w) if head else ""

    people = [n for n in named if is_people(n) and not is_record(n)][:MAX_PEOPLE] or [trade.people]
    staff_name = STAFF_BY_MODIFIER.get(modifier or "") or trade.staff
    staff = [staff_name] if staff_name and staff_name not in people else []
    mass = [n for n in named if n in MASS_NOUNS]
    things = [
        n for n in named if n not in mass and not is_people(n) and not is_record(n)
    ] or _goods(words, modifier, named, trade.things)
    records = [n for n in named if is_record(n)]
    primary = [r for r in records if not is_follow_up(r)]
    if not primary:
        records.insert(0, trade.record)
        primary = [trade.record]

    function = _function(words)
    place = f"the {business or function}"
    drafts: list[Draft] = []
    for name in people:
        drafts.append(Draft(name, "person", f"{name.capitalize()} {place} serves."))
    for name in staff:
        drafts.append(Draft(name, "person", f"{name.capitalize()} who work at {place}."))
    for i, name in enumerate(things):
        fixed = [_text("name", f"The {singular(name)}'s name.")]
        price = thing_price(name, trade.offers)
        if price is not None:
            typical = f"{(price[0] * price[1]) ** 0.5:.2f}"  # the geometric middle
            fixed.append(_money("price", f"The {singular(name)}'s price.", typical))
        if i == 0:
            fixed += [
                FieldSpec(
                    name=to_identifier(m),
                    type="integer",
                    description=f"How many are in {m}.",
                    example="6",
                )
                for m in mass
            ]
        offers = f"{place} {trade.offers}" if name == trade.things else f"at {place}"
        drafts.append(Draft(name, "thing", f"{name.capitalize()} {offers}.", fixed=fixed))
    for name in people:
        drafts[people.index(name)].fixed = [
            _text("name", "Full name."),
            _text("email", "Email address."),
            _text("phone", "Phone number."),
        ]
    for name in staff:
        next(d for d in drafts if d.name == name).fixed = [
            _text("name", "Full name."),
            _text("email", "Email address."),
        ]
    for name in records:
        if is_follow_up(name) and name not in primary:
            target = primary[0]
            references = [target]
            about = f"each for one {singular(target)}"
        else:
            references = [*people, *staff, *things[:1]]
            about = f"each by one {singular(people[0])}" + (
                f", for one {singular(things[0])}" if things else ""
            )
        fixed = [FieldSpec(name=date_field(name), type="date", description="The date.")]
        money = money_field(name)
        if money is not None:
            fixed.append(_money(money, f"The {singular(name)}'s {money}.", "120.00"))
        if is_follow_up(name):
            fixed.append(_text("reason", f"Why the {singular(name)} was asked for."))
        drafts.append(
            Draft(
                name,
                "record",
                f"{name.replace('_', ' ').capitalize()} at {place}, {about}.",
                references=references,
                statuses=lifecycle(name),
                fixed=fixed,
            )
        )
    return Sketch(description, business, function, named, drafts)


def _modifier(words: list[str], head_index: int | None) -> str | None:
    if not head_index:
        return None
    word = words[head_index - 1]
    skip = STOP_WORDS | FUNCTION_HEADS | BUSINESS_HEADS
    return None if word in skip else word


def _goods(words: list[str], modifier: str | None, named: list[str], default: str) -> list[str]:
    """What a business offers when the description names it as a modifier: a *bike*
    shop, a *car* rental desk."""
    skip = STOP_WORDS | FUNCTION_HEADS | BUSINESS_HEADS | ADJECTIVES
    if modifier and modifier not in skip and not is_record(modifier) and not is_people(modifier):
        return [plural(modifier)]
    records = {singular(n) for n in named if is_record(n)}
    for before, word in itertools.pairwise(words):
        if singular(word) in records and before not in skip and not is_record(before):
            return [plural(before)]
    return [default]


def _function(words: list[str]) -> str:
    """``support desk``, ``car rental desk``: the function head and up to two modifiers."""
    for i, word in enumerate(words):
        if word in FUNCTION_HEADS and word != "support":
            phrase = [word]
            for before in reversed(words[max(0, i - 2) : i]):
                if before in STOP_WORDS | BUSINESS_HEADS:
                    break
                phrase.insert(0, before)
            return " ".join(phrase)
    return "desk"


def _text(name: str, description: str) -> FieldSpec:
    return FieldSpec(name=name, type="text", description=description)


def _money(name: str, description: str, example: str) -> FieldSpec:
    return FieldSpec(name=name, type="real", description=description, example=example)


# -- 2. fields ------------------------------------------------------------------------------

FIELDS_SYSTEM = """You add the columns that describe one table of a business's database:
each a snake_case name, a type, and a typical value as it appears in real records. Only
new columns: never ids, links to other tables, status, or a column the table has.
Example. A car rental desk, table cars (cars in the fleet), besides name and price:
{"fields": [{"name": "plate", "type": "text", "example": "KX-482-PL"},
{"name": "seats", "type": "integer", "example": "5"},
{"name": "fuel", "type": "text", "example": "hybrid"}]}
Call submit_fields."""


def fields_schema() -> dict[str, Any]:
    column = closed_object(
        {
            "name": {"type": "string", "pattern": "^[a-z][a-z_]{1,24}$"},
            "type": {"type": "string", "enum": list(FIELD_TYPES)},
            "example": text(40),
        }
    )
    return closed_object({"fields": array(column, 2, MAX_EXTRA_FIELDS)})


def fields_prompt(found: Sketch, draft: Draft) -> str:
    where = found.description.rstrip(".")
    has = " and ".join(f.name for f in draft.fixed) or "its links"
    return f"{where}. Table {draft.name} ({draft.description}), besides {has}:"


def normalize_fields(
    raw: dict[str, Any], found: Sketch, draft: Draft, fixes: list[str]
) -> list[FieldSpec]:
    """The model's columns that add something (maybe none: the sketch's columns are
    enough for a working table); the dropped ones are noted in ``fixes``."""
    taken = {"id", "status", "state", *draft.columns()}
    others = {n for d in found.drafts for n in (d.name, d.singular)}
    kept: list[FieldSpec] = []
    for item in raw.get("fields") or []:
        if not isinstance(item, dict):
            continue
        name = to_identifier(str(item.get("name") or ""), fallback="field")
        for prefix in (f"{draft.singular}_", f"{draft.name}_"):
            if name.startswith(prefix) and len(name) > len(prefix) + 1:
                name = name[len(prefix) :]
        kind: FieldType = item["type"] if item.get("type") in FIELD_TYPES else "text"
        why = _drop_reason(name, kind, taken, others, draft, kept)
        if why is not None:
            fixes.append(f"{draft.name}: dropped column {name!r} ({why})")
            continue
        taken.add(name)
        example = " ".join(str(item.get("example") or "").split())[:40]
        words = name.replace("_", " ")
        kept.append(
            FieldSpec(
                name=name,
                type=kind,
                description=f"The {draft.singular}'s {words}.",
                example=example,
            )
        )
    return kept[:MAX_EXTRA_FIELDS]


def _drop_reason(
    name: str,
    kind: str,
    taken: set[str],
    others: set[str],
    draft: Draft,
    kept: list[FieldSpec],
) -> str | None:
    base = name.removesuffix("_id").removesuffix("_name")
    if name in taken or (name == "title" and "name" in taken):
        return "it has that column"
    if name.endswith("_id") or name == "id":
        return "ids and links come from the references"
    if base in others or singular(base) in others:
        return f"{base} is a table of its own"
    linked = [w for w in name.split("_")[:-1] if w in others or singular(w) in others]
    if linked:
        return f"{linked[0]} is a table of its own"
    if name in ("status", "state") or name.endswith("_status"):
        return "the status comes from the lifecycle"
    if kind == "date" and any(f.type == "date" for f in [*draft.fixed, *kept]):
        return "it has a date"
    return None


# -- 3. the domain ------------------------------------------------------------------------


def compose_domain(found: Sketch, extra: dict[str, list[FieldSpec]]) -> DomainSpec:
    """The domain: each draft's references, status, core and extra columns; an action per
    transition of each lifecycle; policies stating their rules."""
    entities: list[EntitySpec] = []
    actions: list[ActionSpec] = []
    for draft in found.drafts:
        fields = [
            FieldSpec(
                name=f"{singular(r)}_id",
                type="integer",
                description=f"The {singular(r)} it is for.",
                references=r,
            )
            for r in draft.references
        ]
        if draft.statuses:
            fields.append(
                FieldSpec(
                    name="status",
                    type="text",
                    description=f"Where the {draft.singular} stands.",
                    values=list(draft.statuses),
                )
            )
        fields += draft.fixed + extra.get(draft.name, [])
        entities.append(
            EntitySpec(
                name=draft.name,
                singular=draft.singular,
                description=draft.description,
                fields=fields,
                kind=draft.kind,
            )
        )
        for move in transitions(draft.statuses):
            name = to_identifier(f"{move.verb}_{draft.singular}")
            actions.append(
                ActionSpec(
                    name=name,
                    description=f"{_verb_phrase(move.verb, draft.singular, move.value)}.",
                    entity=draft.name,
                    field="status",
                    value=move.value,
                    allowed_from=list(move.allowed_from),
                )
            )
    people = found.of_kind("person")
    person = people[0].singular if people else "customer"
    staff = people[1].singular if len(people) > 1 else None
    where = _a(found.business) if found.business else f"the {found.function}"
    records = [d for d in found.drafts if d.kind == "record"]
    handled = [n for n in found.named if n not in {p.name for p in people}] or [
        r.name for r in records
    ]
    return DomainSpec(
        name=to_identifier(found.business or found.function, fallback="domain"),
        title=_title(found),
        purpose=(f"Helps the {plural(person)} of {where} with {_listed(handled, 'and')}.").replace(
            "_", " "
        ),
        user_types=[person, staff or f"{found.business.split(' ')[-1] or 'desk'} staff"],
        tasks=_tasks(entities, actions),
        entities=entities,
        policies=_policies(found, entities, actions),
        actions=actions,
    )


def _title(found: Sketch) -> str:
    words = f"{found.business} {found.function}".split()
    words = [w for i, w in enumerate(words) if w not in words[:i]]
    return " ".join(w.capitalize() for w in words) or "Desk"


def _verb_phrase(verb: str, thing: str, value: str) -> str:
    if verb.startswith("mark_"):
        return f"Mark {_a(thing)} as {value.replace('_', ' ')}"
    return f"{verb.replace('_', ' ').capitalize()} {_a(thing)}"


def _a(noun: str) -> str:
    text = noun.replace("_", " ")
    return f"{'an' if text[:1] in 'aeiou' else 'a'} {text}"


def _listed(items: list[str], last: str) -> str:
    shown = [i.replace("_", " ") for i in items]
    if len(shown) < 2:
        return "".join(shown)
    return f"{', '.join(shown[:-1])} {last} {shown[-1]}"


def _policies(found: Sketch, entities: list[EntitySpec], actions: list[ActionSpec]) -> list[str]:
    rules = [
        f"{_verb_phrase(_verb(a), _singular_of(a, entities), a.value)} only when its status "
        f"is {_listed(a.allowed_from, 'or')}."
        for a in actions
        if a.allowed_from
    ]
    for draft in found.drafts:
        if draft.kind == "record" and is_follow_up(draft.name) and draft.references:
            target = singular(draft.references[0])
            rules.append(
                f"Record {_a(draft.singular)} only for an existing {target.replace('_', ' ')}; "
                f"look the {target.replace('_', ' ')} up first."
            )
    stocked = [e for e in entities if any(f.name in MASS_NOUNS for f in e.fields)]
    for entity in stocked[:1]:
        rules.append(
            f"Check {_a(entity.singular)}'s stock before you promise it; never promise more "
            "than is in stock."
        )
    person = next((e.singular for e in entities if e.kind == "person"), "customer")
    rules.append(
        f"Change a record only when the {person} asks for it, and never invent ids or values."
    )
    return rules


def _verb(action: ActionSpec) -> str:
    entity_part = singular(action.entity)
    return action.name.removesuffix(f"_{entity_part}") or action.name


def _singular_of(action: ActionSpec, entities: list[EntitySpec]) -> str:
    return next((e.singular for e in entities if e.name == action.entity), action.entity)


def _tasks(entities: list[EntitySpec], actions: list[ActionSpec]) -> list[str]:
    tasks: list[str] = []
    for action in actions:
        tasks.append(action.description.rstrip(".").lower().replace("_", " "))
    for entity in entities:
        words = entity.singular.replace("_", " ")
        if entity.kind == "record":
            tasks.append(f"check where {_a(words)} stands")
        elif entity.kind == "thing":
            tasks.append(f"ask about {entity.name.replace('_', ' ')}")
    return list(dict.fromkeys(tasks))[:6]
