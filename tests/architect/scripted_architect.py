"""A scripted architect model for tests: answers each build stage like a model would.

Stage answers are hand-written where their content matters (the domain, names) and
otherwise filled from the stage's own JSON schema (``fill``), so they always satisfy it;
``overrides`` replaces the answer of a stage (a value, or a list consumed one per call,
which is how a malformed answer followed by a repaired one is scripted). Requests from
the generated framework's own agents (the probe rung) get a plain answer.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from nexforge.models.base import ModelRequest
from nexforge.testing import ScriptedModel, call, say

BIKE_SHOP = {
    "name": "bike_shop",
    "title": "Spokes Support Desk",
    "purpose": "Helps customers of a bike shop with orders and repairs.",
    "user_types": ["customer", "shop staff"],
    "tasks": ["check an order", "cancel an order", "book a repair"],
    "entities": [
        {
            "name": "customers",
            "singular": "customer",
            "description": "People who buy from the shop.",
            "fields": [
                {
                    "name": "name",
                    "type": "text",
                    "description": "Full name",
                    "references": "",
                    "values": [],
                },
                {
                    "name": "email",
                    "type": "text",
                    "description": "Email",
                    "references": "",
                    "values": [],
                },
            ],
        },
        {
            "name": "orders",
            "singular": "order",
            "description": "Orders placed by customers.",
            "fields": [
                {
                    "name": "customer_id",
                    "type": "integer",
                    "description": "Buyer",
                    "references": "customer",
                    "values": [],
                },
                {
                    "name": "status",
                    "type": "text",
                    "description": "State",
                    "references": "",
                    "values": ["pending", "shipped"],
                },
                {
                    "name": "total",
                    "type": "real",
                    "description": "Total in euros",
                    "references": "",
                    "values": [],
                },
            ],
        },
    ],
    "policies": ["Only pending orders can be cancelled."],
    "actions": [
        {
            "name": "cancel_order",
            "description": "Cancel an order that has not shipped.",
            "entity": "orders",
            "field": "status",
            "value": "cancelled",
            "allowed_from": ["pending"],
        }
    ],
}


ORDER_COUNT = {
    "name": "order_count",
    "description": "How many orders there are.",
    "entity": "orders",
    "parameters": [],
    "code": "def compute(rows, **arguments):\n    return len(rows)\n",
    "tests": [{"arguments": {}, "expected": 5}],  # Filler writes 5 rows per table
}


class Filler:
    """Schema-valid values with variety (counters), deterministic."""

    def __init__(self) -> None:
        self._n = itertools.count(1)

    def __call__(self, schema: dict[str, Any], key: str = "x") -> Any:
        n = next(self._n)
        if "enum" in schema:
            return schema["enum"][n % len(schema["enum"])]
        kind = schema.get("type")
        if kind == "object":
            props = schema.get("properties", {})
            return {k: self(v, k) for k, v in props.items() if k in schema.get("required", props)}
        if kind == "array":
            count = max(schema.get("minItems", 1), min(schema.get("maxItems", 2), 2))
            return [self(schema["items"], key) for _ in range(count)]
        if kind == "integer":
            return n
        if kind == "number":
            return n + 0.5
        if kind == "boolean":
            return n % 2 == 0
        pattern = schema.get("pattern", "")
        if "{4}-" in pattern:
            return f"2026-01-{n % 28 + 1:02d}"
        if pattern.startswith("^[a-z]"):
            return f"{key}_{n}"[:30]
        text = f"{key.replace('_', ' ')} number {n} for testing"
        return text[: schema.get("maxLength", 200)]


Answer = dict[str, Any] | Callable[[ModelRequest], dict[str, Any]]


def architect_model(
    overrides: dict[str, Any] | None = None, *, domain: dict[str, Any] | None = None
) -> ScriptedModel:
    fill = Filler()
    pending = {k: (list(v) if isinstance(v, list) else v) for k, v in (overrides or {}).items()}

    def respond(request: ModelRequest) -> Any:
        agent = request.agent or ""
        if not agent.startswith("architect."):
            return say("Done: looked it up.")
        stage = agent.removeprefix("architect.")
        tool = request.tools[0]
        answer: Any
        if stage in pending:
            value = pending[stage]
            answer = value.pop(0) if isinstance(value, list) else value
            if isinstance(value, list) and not value:
                del pending[stage]
            if isinstance(answer, BaseException):
                raise answer
            if callable(answer):
                answer = answer(request)
        elif stage == "domain":
            answer = domain or BIKE_SHOP
        elif stage == "custom_tool":
            answer = ORDER_COUNT
        else:
            answer = fill(tool.parameters)
        if isinstance(answer, str):
            return say(answer)
        return call(tool.name, **answer)

    return ScriptedModel(respond, name="scripted-architect")
