"""Seed values that need no model: people's names and contacts, amounts, counts, dates,
statuses, booleans and references, varied and reproducible from a seed.

The embedded model wrote ``Bike 1`` .. ``Bike 8``, totals rising by 50 a row and one
status for every row. Values whose realism is a matter of form (a person's name, an
email, a date, a price) are drawn here instead, and so are the names of the things of
common trades (``trades.THING_NAMES``: asked, the 0.5B model named bikes "Bike 1" and
treatments "Dr. Smith"); the model writes the rest of the text about the domain (why a
refund was asked for, the names of things no list here knows). Every column drawn here
passes the quality rung's seed checks (a draw that would not is redrawn).
"""

from __future__ import annotations

import random
import re
from datetime import date, timedelta
from typing import Any

from nexforge.architect.nouns import is_follow_up, name_words
from nexforge.architect.quality_rung import Column, Table, table_seed_problems
from nexforge.architect.spec import DomainSpec, EntitySpec, FieldSpec, Row
from nexforge.architect.trades import thing_names

FIRST_NAMES = [
    "Amara",
    "Ben",
    "Chloé",
    "Dmitri",
    "Elif",
    "Farah",
    "Gustavo",
    "Hana",
    "Ines",
    "Jonas",
    "Kofi",
    "Leila",
    "Mateo",
    "Nadia",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tomoko",
    "Umar",
    "Valentina",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zofia",
    "Aiden",
    "Beatriz",
    "Camille",
    "Darius",
    "Esther",
    "Finn",
    "Grace",
    "Hugo",
    "Isla",
    "Javier",
    "Keiko",
    "Lars",
    "Maya",
    "Noor",
]
LAST_NAMES = [
    "Okafor",
    "Lindqvist",
    "Martin",
    "Petrov",
    "Yilmaz",
    "Haddad",
    "Ribeiro",
    "Tanaka",
    "Moreau",
    "Becker",
    "Mensah",
    "Rahimi",
    "Alvarez",
    "Kowalski",
    "Nilsen",
    "Sharma",
    "Dubois",
    "Costa",
    "Andersson",
    "Suzuki",
    "Farouk",
    "Romano",
    "Chen",
    "Herrera",
    "Demir",
    "Nowak",
    "Murphy",
    "Santos",
    "Laurent",
    "Karimi",
    "Novak",
    "Byrne",
    "Schulz",
    "Fischer",
    "Ivanova",
    "Lopez",
    "Sato",
    "Berg",
    "Ahmed",
    "Walsh",
]
MAIL_DOMAINS = ("gmail.com", "outlook.com", "proton.me", "yahoo.com", "icloud.com", "web.de")
DATE_START = date(2025, 10, 1)
DATE_DAYS = 150
MAX_DRAWS = 20

_MONEY = frozenset(
    [
        "price",
        "cost",
        "amount",
        "total",
        "fee",
        "rate",
        "balance",
        "salary",
        "charge",
        "deposit",
        "fine",
        "paid",
        "refund",
        "subtotal",
        "value",
    ]
)
_AMOUNTS = frozenset(["total", "amount", "quote", "price", "cost", "fee"])
_COUNT = frozenset(
    [
        "quantity",
        "qty",
        "stock",
        "count",
        "copies",
        "seats",
        "capacity",
        "units",
        "items",
        "available",
    ]
)
_RANGES: dict[frozenset[str], tuple[float, float]] = {
    frozenset({"age"}): (18, 85),
    frozenset({"year"}): (1975, 2025),
    frozenset({"duration", "minutes", "length"}): (15, 120),
    frozenset({"rating", "stars", "score"}): (1, 5),
    frozenset({"pages"}): (96, 720),
    frozenset({"floor", "level"}): (1, 12),
    frozenset({"days", "nights"}): (1, 14),
    frozenset({"hours"}): (1, 40),
}
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")


def drawn(entity: EntitySpec, f: FieldSpec) -> bool:
    """Whether ``f``'s values are drawn here (else the model writes them)."""
    if f.type != "text" or f.values or f.references is not None:
        return True
    return (
        _person_part(entity, f) is not None or _contact(f) is not None or bool(_catalog(entity, f))
    )


def draw_rows(
    entity: EntitySpec, count: int, counts: dict[str, int], rng: random.Random
) -> list[Row]:
    """``count`` rows of the columns ``drawn`` decides are drawn here."""
    fields = [f for f in entity.fields if drawn(entity, f)]
    rows: list[Row] = [{} for _ in range(count)]
    people = _people(count, rng) if any(_person_part(entity, f) for f in fields) else []
    for f in fields:
        for _ in range(MAX_DRAWS):
            values = _column(entity, f, count, counts, rng, people)
            table = Table(entity.name, [Column(f.name, f.type, tuple(f.values))], [])
            table.rows = [{f.name: v} for v in values]
            if f.references is not None or not table_seed_problems(table):
                break
        for row, value in zip(rows, values, strict=True):
            row[f.name] = value
    return rows


def _column(
    entity: EntitySpec,
    f: FieldSpec,
    count: int,
    counts: dict[str, int],
    rng: random.Random,
    people: list[tuple[str, str]],
) -> list[Any]:
    if f.references is not None:
        n = max(1, counts.get(f.references, 1))
        if is_follow_up(entity.name) and count <= n:  # one refund per order, not three
            return rng.sample(range(1, n + 1), count)
        return [rng.randint(1, n) for _ in range(count)]
    if f.type == "boolean":
        values = [i % 2 == 0 for i in range(count)]
        rng.shuffle(values)
        return values
    if f.type == "date":
        return [_date(rng) for _ in range(count)]
    if f.type in ("integer", "real"):
        return [_number(f, rng) for _ in range(count)]
    if f.values:
        spread = list(f.values) * (count // len(f.values) + 1)
        picked = spread[: max(count, 0)]
        if count < len(f.values):
            picked = rng.sample(list(f.values), count)
        rng.shuffle(picked)
        return picked
    part = _person_part(entity, f)
    if part is not None:
        return [_person_value(part, first, last) for first, last in people]
    catalog = _catalog(entity, f)
    if catalog:
        return (
            rng.sample(catalog, count)
            if count <= len(catalog)
            else [f"{name} ({n})" for n, name in enumerate(catalog * count, 1)][:count]
        )
    contact = _contact(f)
    if contact == "email":
        pairs = people or _people(count, rng)
        return [_email(first, last, rng) for first, last in pairs]
    return [_phone(rng) for _ in range(count)]


def relate_amounts(domain: DomainSpec, rows: dict[str, list[Row]], rng: random.Random) -> None:
    """Make money agree across tables, in place: a record's money (an order's total) is the
    price of the thing it is for, times one or two; a follow-up's (a refund's amount) at
    most the money of the record it follows."""
    for entity in domain.entities:
        money = next(
            (f.name for f in entity.fields if f.type == "real" and f.name in _AMOUNTS), None
        )
        if money is None or entity.kind != "record":
            continue
        for f in entity.fields:
            target = domain.entity(f.references) if f.references else None
            if target is None:
                continue
            source = (
                "price"
                if target.kind == "thing"
                else next(
                    (g.name for g in target.fields if g.type == "real" and g.name in _AMOUNTS), None
                )
            )
            if source is None or not any(g.name == source for g in target.fields):
                continue
            for row in rows.get(entity.name, []):
                base = rows[target.name][row[f.name] - 1][source]
                share = rng.choice((1, 1, 2)) if target.kind == "thing" else rng.choice((1, 1, 0.5))
                row[money] = round(base * share, 2)
            break


def _person_part(entity: EntitySpec, f: FieldSpec) -> str | None:
    if entity.kind != "person":
        return None
    if f.name in ("name", "full_name", "fullname"):
        return "full"
    if f.name in ("first_name", "given_name"):
        return "first"
    if f.name in ("last_name", "surname", "family_name"):
        return "last"
    return None


def _catalog(entity: EntitySpec, f: FieldSpec) -> list[str]:
    """The names a thing of a common trade goes by (``trades.THING_NAMES``)."""
    if entity.kind != "thing" or f.name not in ("name", "title"):
        return []
    return thing_names(entity.name)


def _contact(f: FieldSpec) -> str | None:
    words = set(name_words(f.name))
    if "email" in words or "mail" in words:
        return "email"
    if words & {"phone", "mobile", "telephone"}:
        return "phone"
    return None


def _people(count: int, rng: random.Random) -> list[tuple[str, str]]:
    firsts = rng.sample(FIRST_NAMES, count)
    lasts = rng.sample(LAST_NAMES, count)
    return list(zip(firsts, lasts, strict=True))


def _person_value(part: str, first: str, last: str) -> str:
    return {"full": f"{first} {last}", "first": first, "last": last}[part]


def _email(first: str, last: str, rng: random.Random) -> str:
    ascii_first = first.encode("ascii", "ignore").decode().lower()
    style = rng.randrange(3)
    local = (
        f"{ascii_first}.{last.lower()}"
        if style == 0
        else f"{ascii_first[0]}{last.lower()}"
        if style == 1
        else f"{ascii_first}{rng.randint(1, 99)}"
    )
    return f"{local}@{rng.choice(MAIL_DOMAINS)}"


def _phone(rng: random.Random) -> str:
    return f"+1 555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"


def _date(rng: random.Random) -> str:
    return (DATE_START + timedelta(days=rng.randrange(DATE_DAYS))).isoformat()


def _number(f: FieldSpec, rng: random.Random) -> int | float:
    words = set(name_words(f.name))
    low, high = _range(f, words)
    if f.type == "integer":
        return rng.randint(int(low), int(high))
    value = rng.uniform(low, high)
    if words & _MONEY:
        cents = rng.choice((0.0, 0.5, 0.9, 0.95, 0.99))
        return round(int(value) + cents, 2)
    return round(value, 1)


def _range(f: FieldSpec, words: set[str]) -> tuple[float, float]:
    for keys, bounds in _RANGES.items():
        if words & keys:
            return bounds
    if words & _COUNT:
        return (0, 25)
    example = _NUMBER.search(f.example or "")
    typical = float(example.group(0).replace(",", ".")) if example else 0.0
    if typical > 0:
        return (max(typical * 0.4, 1.0 if f.type == "integer" else 0.5), typical * 2.5)
    if words & _MONEY:
        return (9.0, 480.0)
    return (1, 60)
