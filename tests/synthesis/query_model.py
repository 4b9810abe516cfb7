"""A scripted query model: answers each query-generation stage like a model would.

The answers are functions of the request (its forced ``submit_<stage>`` tool and its
prompt), so concurrent slots get deterministic answers whatever the order. The writer
names the record read last (an order id, a SKU or a customer's name), proposes the
state-changing calls the problem type's tools allow, one fact from the evidence and one
that is not in it. ``overrides`` replaces a stage's answer by a function of the request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nexforge.core.messages import Message
from nexforge.models.base import ModelRequest
from nexforge.synthesis.queries import QueriesSummary, QueryOptions, generate_queries
from nexforge.synthesis.store import SynthesisStore
from nexforge.testing import ScriptedModel, call

Answer = Callable[[ModelRequest], dict[str, Any]]
_EVIDENCE = re.compile(r"^- (\w+)\((.*)\) -> (.*)$", re.MULTILINE)
_PERSONA = re.compile(r"^Person: (.+?) \(", re.MULTILINE)
_TOPIC = re.compile(r"^Problem type: (.+?)(?::|$)", re.MULTILINE)
_DIFFICULTY = re.compile(r"^Difficulty: (\w+)", re.MULTILINE)
NOT_IN_EVIDENCE = "a refund of 12345 euros"


def prompt_of(request: ModelRequest) -> str:
    return request.messages[1].content or ""


def evidence_in(prompt: str) -> list[tuple[str, Any]]:
    """``(tool, result)`` of each record line of a writer prompt."""
    return [(m[0], json.loads(m[2])) for m in _EVIDENCE.findall(prompt)]


def rows(result: Any) -> list[dict[str, Any]]:
    found = result if isinstance(result, list) else [result]
    return [r for r in found if isinstance(r, dict)]


def focus(prompt: str) -> dict[str, Any]:
    """What the writer names: the last order, product or customer read."""
    found: dict[str, Any] = {}
    for tool, result in evidence_in(prompt):
        for row in rows(result):
            if "sku" in row and "name" in row:
                found.setdefault("sku", row["sku"])
            elif "email" in row:
                found["customer"] = row
            elif "items" in row or "total_cents" in row:
                found["order"] = row
            if tool == "get_order":
                found["order"] = row
    return found


def write_query(request: ModelRequest) -> dict[str, Any]:
    prompt = prompt_of(request)
    seen = focus(prompt)
    persona = _PERSONA.search(prompt)
    topic = _TOPIC.search(prompt)
    difficulty = _DIFFICULTY.search(prompt)
    if "order" in seen:
        anchor = f"order {seen['order']['id']}"
    elif "sku" in seen:
        anchor = f"product {seen['sku']}"
    else:
        anchor = f"customer {seen['customer']['name']}"
    text = (
        f"{persona[1] if persona else 'Someone'} asks, {difficulty[1] if difficulty else ''} "
        f"level, about {anchor} regarding {topic[1] if topic else 'something'}."
    )
    fact = anchor.split(" ", 1)[1]
    answer: dict[str, Any] = {
        "query": text,
        "facts": [fact, NOT_IN_EVIDENCE],
        "user_goal": f"Sort out {anchor}",
        "user_facts": ["I am in a hurry"],
    }
    tools = request.tools[0].parameters["properties"]
    if "calls" in tools:
        allowed = tools["calls"]["items"]["properties"]["tool"]["enum"]
        answer["calls"] = planned_calls(allowed, seen)
    return answer


def planned_calls(allowed: list[str], seen: dict[str, Any]) -> list[dict[str, Any]]:
    """The state-changing calls for the record read, arguments as JSON text (the schema's)."""
    calls: list[tuple[str, dict[str, Any]]] = []
    order = seen.get("order")
    if order is not None and "add_note" in allowed:
        calls.append(("add_note", {"order_id": order["id"], "body": "Call first."}))
    if order is not None and "cancel_order" in allowed:
        calls.append(("cancel_order", {"order_id": order["id"], "reason": "changed my mind"}))
    if "create_order" in allowed and "customer" in seen:
        items = [{"sku": "GR-LOCK", "quantity": 1}]
        calls.append(("create_order", {"customer_id": seen["customer"]["id"], "items": items}))
    return [{"tool": tool, "arguments": json.dumps(arguments)} for tool, arguments in calls]


def fits(request: ModelRequest) -> dict[str, Any]:
    return {"fits": True, "reason": "sounds like them", "rewritten": ""}


def fuzzy(request: ModelRequest) -> dict[str, Any]:
    precise = prompt_of(request).split("Precise request: ", 1)[1]
    return {"query": f"hey, quick one, no rush... {precise.lower()} thanks!!"}


def grown_type(request: ModelRequest) -> dict[str, Any]:
    prompt = prompt_of(request)
    under = re.search(r"^Under: (.+)$", prompt, re.MULTILINE)
    siblings = prompt.split("Already there:", 1)[1].split("Tools:", 1)[0].count("\n- ")
    label = under[1].split(" > ")[-1] if under else "things"
    return {
        "label": f"Warranty claim {siblings} about {label}",
        "description": "A part broke.",
        "tools": ["get_order"],
    }


STAGES: dict[str, Answer] = {
    "submit_query": write_query,
    "submit_fit_check": fits,
    "submit_fuzzy_query": fuzzy,
    "submit_problem_type": grown_type,
}


def query_model(
    overrides: dict[str, Answer] | None = None, *, name: str = "scripted-queries"
) -> ScriptedModel:
    answers = {**STAGES, **(overrides or {})}

    def respond(request: ModelRequest) -> Message:
        tool = request.tools[0].name
        if tool not in answers:
            raise AssertionError(f"unexpected stage {tool}")
        return call(tool, **answers[tool](request))

    return ScriptedModel(respond, name=name)


async def generate(
    shop_dir: Path,
    store: SynthesisStore,
    *,
    n: int,
    seed: int = 0,
    model: ScriptedModel | None = None,
    **options: Any,
) -> QueriesSummary:
    return await generate_queries(
        shop_dir,
        n=n,
        store=store,
        seed=seed,
        model=model or query_model(),
        options=QueryOptions(**options),
    )


def write_kit(shop_dir: Path, leaves: dict[str, list[str]]) -> None:
    """Replace the kit's problem types by root -> one category -> these leaves (id: tools)."""
    children = [{"id": i, "label": f"Leaf {i}", "tools": tools} for i, tools in leaves.items()]
    tree = {
        "id": "root",
        "label": "Shop",
        "children": [{"id": "cat", "label": "All", "children": children}],
    }
    (shop_dir / "kit" / "problem_types.json").write_text(json.dumps(tree), encoding="utf-8")
