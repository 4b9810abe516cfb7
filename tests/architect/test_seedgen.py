"""Seed rows: the schema the model fills, the fixes and problems of its answer, and the
order entities are seeded in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from envgen_fixtures import bike_seed, bike_shop

from nexforge.architect.envgen import (
    normalize_seed_rows,
    plan_tools,
    seed_order,
    seed_request_schema,
    write_environment,
)
from nexforge.architect.spec import FieldSpec


def test_seed_order_puts_referenced_entities_first_and_refuses_cycles() -> None:
    domain = bike_shop()
    reordered = domain.model_copy(update={"entities": domain.entities[::-1]})
    assert seed_order(reordered) == ["customers", "orders", "repairs"]
    customers = domain.entities[0]
    looped = customers.model_copy(
        update={
            "fields": [
                *customers.fields,
                FieldSpec(name="last_order", type="integer", references="orders"),
            ]
        }
    )
    with pytest.raises(ValueError, match="reference cycle among entities: customers, orders"):
        seed_order(domain.model_copy(update={"entities": [looped, *domain.entities[1:]]}))


ALLOWED_KEYWORDS = {
    "type",
    "enum",
    "const",
    "pattern",
    "minItems",
    "maxItems",
    "maxLength",
    "required",
    "additionalProperties",
    "properties",
    "items",
}


def keywords(schema: Any) -> set[str]:
    if isinstance(schema, list):
        return set().union(*(keywords(s) for s in schema))
    if not isinstance(schema, dict):
        return set()
    found = set(schema) - {"properties"}
    for key, value in schema.items():
        if key == "properties":
            found |= {"properties"} | set().union(*(keywords(v) for v in value.values()))
        elif isinstance(value, dict | list):
            found |= keywords(value)
    return found


def test_seed_request_schema_accepts_good_rows_and_rejects_bad_ones() -> None:
    domain = bike_shop()
    schema = seed_request_schema(domain, domain.entity("orders"), {"customers": 3}, min_rows=2)
    assert keywords(schema) <= ALLOWED_KEYWORDS
    good = {"customer_id": 3, "status": "paid", "total": 10, "placed_on": "2026-02-01"}
    jsonschema.validate({"rows": [good, good]}, schema)
    bad_rows = [
        {**good, "customer_id": 4},  # no such customer
        {**good, "status": "lost"},
        {**good, "placed_on": "1 Feb 2026"},
        {**good, "total": "10"},
        {**good, "id": 1},
        {k: v for k, v in good.items() if k != "status"},
    ]
    for bad in bad_rows:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"rows": [good, bad]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"rows": [good]}, schema)  # too few
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"rows": [good] * 9}, schema)  # too many
    with pytest.raises(ValueError, match="references customers, which has no rows yet"):
        seed_request_schema(domain, domain.entity("orders"), {})


def test_normalize_fixes_what_it_can() -> None:
    domain = bike_shop()
    raw = [
        {
            "customer_id": "2",
            "status": " Paid ",
            "total": "12",
            "placed_on": "2026-01-05T10:00:00Z",
        },
        {"customer_id": 1.0, "status": "pending", "total": 3, "placed_on": "2026-01-06", "id": 9},
        {
            "customer_id": 1,
            "status": "pending",
            "total": 3.0,
            "placed_on": "2026-01-06",
            "note": "x",
        },
    ]
    rows, problems = normalize_seed_rows(
        domain, domain.entity("orders"), raw, {"customers": 3}, min_rows=2
    )
    assert problems == []
    assert rows == [
        {"customer_id": 2, "status": "paid", "total": 12.0, "placed_on": "2026-01-05"},
        {"customer_id": 1, "status": "pending", "total": 3.0, "placed_on": "2026-01-06"},
    ]
    customers, problems = normalize_seed_rows(
        domain,
        domain.entity("customers"),
        [{"name": "  Ada ", "email": "a@x", "vip": "yes"}, {"name": "Bo", "email": 7, "vip": 0}],
        {},
        min_rows=2,
    )
    assert customers == [
        {"name": "Ada", "email": "a@x", "vip": True},
        {"name": "Bo", "email": "7", "vip": False},
    ]


def test_normalize_reports_each_unfixable_problem_by_row_and_field() -> None:
    domain = bike_shop()
    good = {"customer_id": 1, "status": "paid", "total": 1.5, "placed_on": "2026-01-05"}
    raw = [
        good,
        {**good, "customer_id": 5},
        {**good, "status": "lost"},
        {k: v for k, v in good.items() if k != "total"},
        {**good, "placed_on": "2026-02-30", "total": "cheap"},
        "not a row",
        dict(good),
    ]
    rows, problems = normalize_seed_rows(domain, domain.entity("orders"), raw, {"customers": 2})
    assert rows == [good]
    assert problems == [
        "rows[1].customer_id: 5 is not an id of customers (1..2)",
        "rows[2].status: 'lost' is not one of: 'pending', 'paid', 'shipped', 'cancelled'",
        "rows[3].total: missing",
        "rows[4].total: 'cheap' is not a number",
        "rows[4].placed_on: '2026-02-30' is not a date (YYYY-MM-DD)",
        "rows[5]: expected an object with the fields, got str",
        "only 1 valid distinct rows of orders; need at least 5",
    ]


def test_write_environment_refuses_invalid_seed_rows(tmp_path: Path) -> None:
    seed = bike_seed()
    seed.rows["orders"][1]["customer_id"] = 7
    with pytest.raises(ValueError, match=r"orders rows\[1\].customer_id: 7 is not an id"):
        write_environment(bike_shop(), seed, plan_tools(bike_shop()), tmp_path)
    assert list(tmp_path.iterdir()) == []
