"""A deterministic stand-in for the shop's agents: a responder keyed on the agent and
the last message, so any number of rollouts can share it (and Ray can pickle it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nexforge.core.messages import Message
from nexforge.models.base import ModelRequest
from nexforge.synthesis.records import QueryRecord
from nexforge.testing import MockReply, call, say


def shop_responder(request: ModelRequest) -> Message:
    """lead -> orders(task) -> create_order(3 trail bikes) -> answers quoting the result."""
    last = request.messages[-1]
    if last.role == "tool":
        return say(f"Done: {last.content}")
    user = next(m.content for m in reversed(request.messages) if m.role == "user")
    if request.agent == "lead":
        return call("orders", task=user or "")
    if request.agent == "orders":
        return call("create_order", customer_id=1, items=[{"sku": "BK-TRAIL", "quantity": 3}])
    raise AssertionError(f"unexpected agent {request.agent}")


def order_of(answer: str) -> dict[str, object]:
    """The create_order result quoted in a final answer."""
    return dict(json.loads(answer.removeprefix("Done: ")))


def queries(n: int, framework_hash: str) -> list[QueryRecord]:
    return [
        QueryRecord(text=f"Order three trail bikes for Ada, request {i}").keyed(framework_hash)
        for i in range(n)
    ]


def shop_http_responder(body: dict[str, Any]) -> MockReply:
    """``shop_responder`` for the mock OpenAI server (the agent is told by its tools)."""
    messages = body["messages"]
    tools = {t["function"]["name"] for t in body.get("tools", [])}
    if messages[-1]["role"] == "tool":
        return MockReply(content=f"Done: {messages[-1]['content']}")
    user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    if "orders" in tools:
        return MockReply(tool_calls=[{"name": "orders", "arguments": {"task": user}}])
    items = [{"sku": "BK-TRAIL", "quantity": 3}]
    return MockReply(
        tool_calls=[{"name": "create_order", "arguments": {"customer_id": 1, "items": items}}]
    )


TRAIL_BIKES_FOR_ADA = {"customer_id": 1, "items": [{"sku": "BK-TRAIL", "quantity": 3}]}


def write_queries_file(path: Path, n: int, *, expected: bool = False) -> Path:
    """``n`` queries; with ``expected``, each expects the order the shop responders place
    (so the grounded stage can check a run against it)."""
    outcome = {"calls": [{"tool": "create_order", "arguments": TRAIL_BIKES_FOR_ADA}]}
    lines = [
        json.dumps(
            {"text": f"Please order three trail bikes for Ada, request {i}"}
            | ({"expected": outcome} if expected else {})
        )
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
