"""Task blueprints: what one query asks, decided before any text is written (the way
APIGen-MT builds tasks).

A blueprint is built deterministically (given the slot's rng) from records really read
from the environment (``grounding.read_evidence``):

- **read**: a target record and one or two of its fields the person wants to know. The
  expected facts are those fields' values as the environment returned them; what the
  person knows (the record's name, email, SKU... or ``order 1003``) must be in the text,
  the facts must not.
- **write**: a state-changing tool of the problem type with its arguments filled from the
  records (ids of real rows, allowed enum values, small quantities). Free-text arguments
  (a reason, a note's body) are the only part the model supplies, and the request must
  state them word for word so a run can reproduce them. The calls are then executed on a
  fresh copy of the environment: the end state they reach is the expected outcome.
- **refusal** (hard slots only): a write the environment's own rules refuse (cancelling a
  shipped order). Expected: no change, and the fact that explains why.

The model never decides what is true: it only words the request (``request_writer``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

from nexforge.synthesis.evidence import fold, is_identifying, mentions
from nexforge.synthesis.grounding import environment_run, tool_entities
from nexforge.synthesis.records import Evidence, ReferenceCall
from nexforge.tools.environment import Environment
from nexforge.tools.executor import execute_tool

BlueprintKind = Literal["read", "write", "refusal"]
NAME_KEYS = (
    "name",
    "full_name",
    "title",
    "email",
    "sku",
    "code",
    "username",
    "reference",
    "number",
)
"""Keys a person knows a record by, most natural first (``id`` is the fallback)."""
MAX_FACT_CHARS = 60
WRITE_CANDIDATES = 6
MINOR_UNIT_SUFFIXES = ("_cents", "_pence", "_minor")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
QUANTITY_WORDS = frozenset({"quantity", "qty", "count", "amount", "copies", "number", "nights"})
COUNT_WORDS = frozenset(
    {"stock", "quantity", "qty", "count", "copies", "units", "seats", "capacity"}
)
"""Integer fields a person sets to a new count ("we have 12 in stock now")."""
PRICE_WORDS = frozenset({"price", "cost", "fee", "rate"})
"""Number fields a person sets to a new round value ("make it 1450"): what something costs,
not totals or amounts, which follow from other records."""
PRICE_LADDER = (19, 29, 49, 79, 99, 149, 249, 399, 649, 899, 1299, 1899)
NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
)


def field_phrase(name: str) -> str:
    """How a person names a field: ``placed_on`` -> "the date it was placed",
    ``unit_price`` -> "the unit price"."""
    for suffix in ("_on", "_at"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return f"the date it was {name[: -len(suffix)].replace('_', ' ')}"
    return f"the {name.replace('_', ' ')}"


@dataclass(frozen=True)
class Known:
    """Something the person knows and the request must name: ``text`` as shown to the
    writer (``order 1003``), matched by ``value`` alone when that is distinctive."""

    text: str
    value: str
    by_value: bool = False
    """Named by the value alone (a quantity: "3 locks", "three locks")."""

    def named_in(self, request: str) -> bool:
        if self.by_value:
            plain = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", request)  # 1,299 is 1299
            return mentions(plain, self.value) or _number_word(request, self.value)
        if len(self.value) >= 3 and not self.value.isdigit():
            return mentions(request, self.value)
        noun, _, number = self.text.rpartition(" ")
        if noun and number == self.value:
            pattern = (
                rf"\b{re.escape(fold(noun))}s?\W+(?:#|no\.?\s*|number\s+)?{re.escape(self.value)}\b"
            )
            return re.search(pattern, fold(request)) is not None or (
                len(self.value) >= 3 and mentions(request, self.value)
            )
        return mentions(request, self.value) or _number_word(request, self.value)


@dataclass
class PlannedCall:
    tool: str
    arguments: dict[str, Any]
    free: list[str] = field(default_factory=list)
    """String parameters the person states in their own words (filled by the writer)."""


@dataclass
class Blueprint:
    kind: BlueprintKind
    entity: str
    record: dict[str, Any]
    known: list[Known]
    asked: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    call: PlannedCall | None = None

    def wants(self) -> str:
        """What the person wants, in words, for the writer."""
        if self.kind == "read":
            fields = " and ".join(field_phrase(a) for a in self.asked)
            return f"to find out about {self.known[0].text}: {fields}"
        assert self.call is not None
        verb = " ".join(self.call.tool.split("_"))
        details = [
            f"{k.replace('_', ' ')} {_spoken(v)}"
            for k, v in self.call.arguments.items()
            if not k.endswith("_id") and k != "id" and k not in self.call.free
        ]
        # A new record is about no existing one (its details follow).
        wanted = f"to {verb} ({self.known[0].text})" if self.record and self.known else f"to {verb}"
        if details:
            wanted += ", with " + ", ".join(details)
        return wanted

    def reference_calls(self) -> list[ReferenceCall]:
        if self.call is None or self.kind != "write":
            return []
        return [ReferenceCall(tool=self.call.tool, arguments=dict(self.call.arguments))]


@dataclass(frozen=True)
class NoBlueprint:
    reason: str


def plan_task(
    environment: Environment,
    evidence: Sequence[Evidence],
    type_tools: Sequence[str],
    difficulty: str,
    rng: random.Random,
) -> list[Blueprint] | NoBlueprint:
    """Candidate blueprints for the slot, from what was read, or why there is none.

    A read type gets one; a write type up to ``WRITE_CANDIDATES`` (different records and
    values), best first: changes fully decided by the records before those needing free
    text (a run must reproduce free text word for word, which small models rarely do).
    ``choose_blueprint`` then tries them on the environment.
    """
    rows = _rows_by_entity(evidence)
    if not rows:
        return NoBlueprint("no record was read")
    writes = [t for t in environment.tools if t.name in type_tools and not t.spec.read_only]
    if not writes:
        read = _plan_read(evidence, type_tools, difficulty, rng)
        return read if isinstance(read, NoBlueprint) else [read]
    candidates: list[Blueprint] = []
    for _ in range(WRITE_CANDIDATES):
        tool = writes[rng.randrange(len(writes))]
        planned = _plan_write(tool.name, tool.spec.parameters, rows, rng)
        if planned is not None and planned not in candidates:
            candidates.append(planned)
    if not candidates:
        return NoBlueprint(
            "no write of the problem type could be filled from the records read "
            f"({', '.join(t.name for t in writes)})"
        )
    candidates.sort(key=lambda p: len(p.call.free) if p.call is not None else 0)
    return candidates


async def choose_blueprint(
    environment: Environment, candidates: Sequence[Blueprint], difficulty: str
) -> Blueprint | NoBlueprint:
    """The candidate to write a request for. Writes are tried on a fresh copy (free text
    stood in by a placeholder): a hard slot prefers one the environment's rules refuse
    (the request then tests that the run refuses too), other slots one that succeeds."""
    if candidates[0].kind == "read":
        return candidates[0]
    refused: list[tuple[Blueprint, str]] = []
    succeeding: list[Blueprint] = []
    for candidate in candidates:
        assert candidate.call is not None
        trial = {**candidate.call.arguments, **dict.fromkeys(candidate.call.free, "noted")}
        async with environment_run(environment, "blueprint") as ctx:
            tool = environment.tool(candidate.call.tool)
            outcome = await execute_tool(tool, trial, ctx)
        if outcome.is_error:
            refused.append((candidate, outcome.content))
        else:
            succeeding.append(candidate)
    if difficulty == "hard" and refused:
        return refused[0][0]
    if succeeding:
        return succeeding[0]
    return NoBlueprint(f"every planned change was refused; first: {refused[0][1][:160]}")


async def execute_blueprint(
    environment: Environment, blueprint: Blueprint, difficulty: str
) -> tuple[Blueprint, str] | NoBlueprint:
    """Run a write blueprint's call (free text filled in) on a fresh copy: the blueprint
    (a refusal when the environment refused and the slot is hard) and the end-state hash
    a correct run reaches (the seed's own when it must change nothing)."""
    assert blueprint.call is not None
    call = blueprint.call
    async with environment_run(environment, "blueprint") as ctx:
        outcome = await execute_tool(environment.tool(call.tool), dict(call.arguments), ctx)
    if not outcome.is_error:
        return blueprint, await environment.replay_calls([(call.tool, call.arguments)])
    if difficulty != "hard":
        return NoBlueprint(f"the planned {call.tool} was refused: {outcome.content[:160]}")
    explaining = [
        str(v)
        for k, v in blueprint.record.items()
        if isinstance(v, str) and k != "id" and not is_identifying(k) and v
        if mentions(outcome.content, str(v))
    ]
    refusal = Blueprint(
        kind="refusal",
        entity=blueprint.entity,
        record=blueprint.record,
        known=blueprint.known,
        facts=explaining[:1],
        call=call,
    )
    return refusal, await environment.replay_calls([])


# --- reads -------------------------------------------------------------------------------


def _plan_read(
    evidence: Sequence[Evidence], type_tools: Sequence[str], difficulty: str, rng: random.Random
) -> Blueprint | NoBlueprint:
    own = [e for e in evidence if e.tool in type_tools] or list(evidence)
    for item in reversed(own):
        entity = _entity(item.tool)
        candidates = [r for r in _rows(item.result) if _askable(r)]
        if not candidates:
            continue
        record = candidates[rng.randrange(len(candidates))]
        known = _known(entity, record)
        if known is None:
            continue
        fields = _askable(record)
        rng.shuffle(fields)
        asked = fields[: 1 if difficulty == "easy" else 2]
        facts = [str(record[k]) for k in asked]
        return Blueprint("read", entity, record, [known], asked=asked, facts=facts)
    return NoBlueprint("no record read has a field worth asking about")


def _askable(row: Mapping[str, Any]) -> list[str]:
    """Fields of a row a person asks about: plain values, not ids or names. Amounts kept in
    minor units (``total_cents``) and timestamps are left out: a correct answer says "80.00
    EUR" or "30 December", which a check for the stored value would call wrong."""
    found = []
    for key, value in row.items():
        if key == "id" or is_identifying(key) or isinstance(value, bool) or value is None:
            continue
        if key.endswith(MINOR_UNIT_SUFFIXES) or _TIMESTAMP.search(str(value)):
            continue
        if isinstance(value, str | int | float) and 0 < len(str(value)) <= MAX_FACT_CHARS:
            found.append(key)
    return found


# --- writes ------------------------------------------------------------------------------


def _plan_write(
    tool: str,
    parameters: Mapping[str, Any],
    rows: Mapping[str, list[dict[str, Any]]],
    rng: random.Random,
) -> Blueprint | None:
    properties: dict[str, Any] = dict(parameters.get("properties", {}))
    required = [str(p) for p in parameters.get("required", [])]
    defs: Mapping[str, Any] = parameters.get("$defs", {})
    own = tool_entities(tool)
    arguments: dict[str, Any] = {}
    free: list[str] = []
    target: tuple[str, dict[str, Any]] | None = None
    known: list[Known] = []
    for name in required:
        schema = properties.get(name, {})
        if name == "id" or name.endswith("_id"):
            entity = name[:-3] if name.endswith("_id") else (own[0] if own else "")
            choices = rows.get(entity, [])
            choices = [r for r in choices if "id" in r]
            if not choices:
                return None
            row = choices[rng.randrange(len(choices))]
            arguments[name] = row["id"]
            found = _known(entity, row)
            if found is None:
                return None
            known.append(found)
            if target is None or entity in own:
                target = (entity, row)
            continue
        value = _fill(name, schema, rows, rng, known, nested=False, defs=defs)
        if value is _FREE:
            free.append(name)
        elif value is None:
            return None
        else:
            arguments[name] = value
    if tool.startswith("update") and target is not None:
        change = _update_field(properties, required, target[1], rng)
        if change is None:
            return None
        arguments[change[0]] = change[1]
        spoken = f"{change[0].replace('_', ' ')} {change[1]}"
        known.append(Known(spoken, str(change[1]), by_value=True))
    if target is None:
        entity = own[0] if own else tool
        target = (entity, {})
    return Blueprint(
        "write",
        target[0],
        target[1],
        known,
        call=PlannedCall(tool, arguments, free),
    )


class _Free:
    """A string the person words themselves."""


_FREE = _Free()


def _fill(
    name: str,
    schema: Mapping[str, Any],
    rows: Mapping[str, list[dict[str, Any]]],
    rng: random.Random,
    known: list[Known],
    *,
    nested: bool,
    defs: Mapping[str, Any],
) -> Any:
    """A value for one parameter: an allowed value, a small quantity, a real record's
    SKU or code inside a list of items; ``_FREE`` for text the person words (a top-level
    name of something new is theirs to give, not an existing record's)."""
    enum = _enum(schema)
    if enum:
        value = enum[rng.randrange(len(enum))]
        known.append(Known(f"{name.replace('_', ' ')} {value}", str(value), by_value=True))
        return value
    kind = schema.get("type")
    if kind == "integer" and _named(name, QUANTITY_WORDS | COUNT_WORDS):
        value = rng.randint(1, 3)
        known.append(Known(f"{name} {value}", str(value), by_value=True))
        return value
    if kind == "number" and not nested and _named(name, PRICE_WORDS):
        price = PRICE_LADDER[rng.randrange(len(PRICE_LADDER))]
        known.append(Known(f"{name.replace('_', ' ')} {price}", str(price), by_value=True))
        return price
    if kind == "array" and isinstance(schema.get("items"), dict):
        item = _resolve(schema["items"], defs)
        if item.get("type") == "object":
            props = item.get("properties", {})
            filled = {
                k: _fill(k, props.get(k, {}), rows, rng, known, nested=True, defs=defs)
                for k in item.get("required", list(props))
            }
            if any(v is None or v is _FREE for v in filled.values()):
                return None
            return [filled]
        return None
    if kind == "string" and nested:
        for entity_rows in rows.values():
            values = [r[name] for r in entity_rows if isinstance(r.get(name), str)]
            if values and is_identifying(name):
                value = values[rng.randrange(len(values))]
                known.append(Known(value, value))
                return value
        return None
    if kind == "string":
        return _FREE
    return None


def _spoken(value: Any) -> str:
    """``[{"sku": "GR-LOCK", "quantity": 2}]`` -> ``sku GR-LOCK, quantity 2``."""
    if isinstance(value, list):
        return "; ".join(_spoken(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {_spoken(v)}" for k, v in value.items())
    return str(value)


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    """A local ``{"$ref": "#/$defs/Name"}`` replaced by its definition."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        found = defs.get(ref.removeprefix("#/$defs/"))
        return found if isinstance(found, dict) else {}
    return schema


def _enum(schema: Mapping[str, Any]) -> list[Any]:
    if isinstance(schema.get("enum"), list):
        return list(schema["enum"])
    for option in schema.get("anyOf", []):
        if isinstance(option, dict) and isinstance(option.get("enum"), list):
            return list(option["enum"])
    return []


def _update_field(
    properties: Mapping[str, Any],
    required: Sequence[str],
    row: Mapping[str, Any],
    rng: random.Random,
) -> tuple[str, Any] | None:
    """An optional field of an update tool to change, and its new value: an allowed value
    the record does not have, a count moved by a few (a delivery, a sale), or a price
    moved by about a tenth to a whole number."""
    options: list[tuple[str, Any]] = []
    for name, schema in properties.items():
        if name in required or not isinstance(schema, dict):
            continue
        values = [v for v in _enum(schema) if v != row.get(name)]
        current = row.get(name)
        kinds = _types(schema)
        if values:
            options.append((name, values[rng.randrange(len(values))]))
        elif _is_number(current) and "integer" in kinds and _named(name, COUNT_WORDS):
            moved = current + rng.choice((-2, -1, 2, 3, 5, 8))
            options.append((name, moved if moved >= 0 else current + 4))
        elif _is_number(current) and current > 0 and _named(name, PRICE_WORDS):
            moved = round(current * rng.choice((0.85, 0.9, 1.1, 1.2)))
            if kinds & {"number", "integer"} and moved not in (0, current):
                options.append((name, moved))
    return options[rng.randrange(len(options))] if options else None


def _named(field: str, words: frozenset[str]) -> bool:
    """Whether one of ``words`` is a word of the field name (``unit_price``, ``in_stock``)."""
    return any(part in words for part in field.lower().split("_"))


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _types(schema: Mapping[str, Any]) -> set[str]:
    """The JSON types a parameter takes (``anyOf`` of a type and null included)."""
    declared = schema.get("type")
    found = {declared} if isinstance(declared, str) else set()
    if isinstance(declared, list):
        found |= {t for t in declared if isinstance(t, str)}
    for option in schema.get("anyOf", []):
        if isinstance(option, dict) and isinstance(option.get("type"), str):
            found.add(option["type"])
    return found - {"null"}


# --- records -----------------------------------------------------------------------------


def _rows(result: Any) -> list[dict[str, Any]]:
    found = result if isinstance(result, list) else [result]
    return [r for r in found if isinstance(r, dict)]


def _entity(tool: str) -> str:
    entities = tool_entities(tool)
    return entities[0] if entities else "record"


def _rows_by_entity(evidence: Sequence[Evidence]) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for item in evidence:
        entity = _entity(item.tool)
        for row in _rows(item.result):
            kept = rows.setdefault(entity, [])
            if row not in kept:
                kept.append(row)
    return rows


def _known(entity: str, row: Mapping[str, Any]) -> Known | None:
    """How a person refers to a row: its name (or email, SKU...), else ``order 1003``."""
    for key in NAME_KEYS:
        value = row.get(key)
        if isinstance(value, str) and len(value.strip()) >= 3:
            return Known(value.strip(), value.strip())
    for key, value in row.items():
        named = key.endswith(("_name", "_email", "_sku", "_code"))
        if named and isinstance(value, str) and len(value.strip()) >= 3:
            return Known(value.strip(), value.strip())
    if "id" in row and isinstance(row["id"], int | str):
        noun = entity.replace("_", " ")
        return Known(f"{noun} {row['id']}", str(row["id"]))
    return None


def _number_word(text: str, value: str) -> bool:
    """``2`` is also named by ``two``."""
    if not value.isdigit() or int(value) >= len(NUMBER_WORDS):
        return False
    return re.search(rf"\b{NUMBER_WORDS[int(value)]}\b", fold(text)) is not None
