"""A scripted architect model for tests: answers each build stage like a model would.

Stage answers are hand-written where their content matters (columns, seed text, roles)
and otherwise filled from the stage's own JSON schema (``fill``), so they always satisfy it;
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

FIELDS: dict[str, list[dict[str, str]]] = {
    "customers": [
        {"name": "phone", "type": "text", "example": "+1 555-201-3344"},
        {"name": "city", "type": "text", "example": "Utrecht"},
    ],
    "bikes": [
        {"name": "brand", "type": "text", "example": "Trek"},
        {"name": "price", "type": "real", "example": "899.00"},
    ],
    "orders": [
        {"name": "total", "type": "real", "example": "1249.50"},
        {"name": "delivery", "type": "text", "example": "Collect in store"},
    ],
    "repairs": [
        {"name": "problem", "type": "text", "example": "Rear brake rubs"},
        {"name": "notes", "type": "text", "example": "Customer waits in store"},
    ],
}
"""Columns the scripted model adds per table (others get OTHER_FIELDS)."""
OTHER_FIELDS = [
    {"name": "notes", "type": "text", "example": "Prefers email"},
    {"name": "amount", "type": "real", "example": "120.00"},
]
REAL_TEXT = [
    ["Trek FX 3 Disc", "Brompton C Line", "Giant Escape 2", "Cannondale Quick 4",
     "Specialized Sirrus X", "Canyon Roadlite 6", "Cube Nature EXC", "Orbea Vector 20"],
    ["Rear brake rubs on the rim", "Chain skips in high gears", "Flat tyre after a commute",
     "Gears need indexing", "Wobbly front wheel", "Squeaky bottom bracket",
     "Loose headset", "Worn brake pads"],
    ["Utrecht", "Leeds", "Porto", "Ghent", "Malmö", "Graz", "Lyon", "Bergen"],
]  # fmt: skip
"""Row values the scripted model writes: a list per text column, in order."""
ROLE = {
    "role": (
        "You help the customers of the bike shop with their orders and repairs. You check "
        "each record before you change it and explain what happened in plain words."
    ),
    "habits": [
        "Confirm the customer's name before you change one of their orders.",
        "Quote totals and dates exactly as the records show them.",
    ],
}


def fields_answer(prompt: str) -> dict[str, Any]:
    """The columns for the table the request names (``Table X (...)``)."""
    table = prompt.split("Table ", 1)[-1].split(" ", 1)[0]
    return {"fields": FIELDS.get(table, OTHER_FIELDS)}


def rows_answer(schema: dict[str, Any]) -> dict[str, Any]:
    """Realistic rows for a ``rows`` schema: REAL_TEXT values, one list per column."""
    rows = schema["properties"]["rows"]
    columns = list(rows["items"]["properties"])
    count = rows["minItems"]
    return {
        "rows": [
            {c: REAL_TEXT[i % len(REAL_TEXT)][n] for i, c in enumerate(columns)}
            for n in range(count)
        ]
    }


ORDER_COUNT = {
    "name": "order_count",
    "description": "How many orders there are.",
    "entity": "orders",
    "parameters": [],
    "code": "def compute(rows, **arguments):\n    return len(rows)\n",
    "tests": [{"arguments": {}, "expected": 6}],  # a build seeds 6 rows per table
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


def stage_answer(stage: str, schema: dict[str, Any], prompt: str, fill: Filler) -> dict[str, Any]:
    """What the scripted architect submits for ``stage``, asked ``prompt`` with ``schema``."""
    if stage == "fields":
        return fields_answer(prompt)
    if stage == "rows":
        return rows_answer(schema)
    if stage == "prompt":
        return ROLE
    if stage == "custom_tool":
        return ORDER_COUNT
    result: dict[str, Any] = fill(schema)
    return result


def architect_model(overrides: dict[str, Any] | None = None) -> ScriptedModel:
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
        else:
            prompt = request.messages[-1].content or ""
            answer = stage_answer(stage, tool.parameters, prompt, fill)
        if isinstance(answer, str):
            return say(answer)
        return call(tool.name, **answer)

    return ScriptedModel(respond, name="scripted-architect")
