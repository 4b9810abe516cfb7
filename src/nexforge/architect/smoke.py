"""The smoke rung's scripted run: every agent calls each of its tools and sub-agents once.

No real model is involved. A ``ScriptedModel`` answers each request from the request
alone: an agent that has not acted yet in its episode (no assistant message so far)
calls all of its tools and sub-agents in one parallel step, with arguments synthesized
from each tool's JSON Schema; an agent that has acted answers (through ``finish`` when
it has that tool). Because the decision reads only the episode's own messages, episodes
running concurrently cannot confuse it.

Tools are wrapped for the run so an unexpected exception inside one (a crash, as opposed
to a refusal: ``ToolInputError`` or an error ``ToolOutcome``) is recorded with the tool's
name; the executor turns both into the same error message for the model.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nexforge.core.errors import describe_error
from nexforge.core.messages import Message, ToolCall
from nexforge.core.trajectory import RunResult, Span
from nexforge.models.base import ModelRequest
from nexforge.models.codecs import get_codec
from nexforge.runtime.agent import Agent
from nexforge.runtime.invocation import Toolbox
from nexforge.testing import ScriptedModel
from nexforge.tools import FINISH_TOOL_NAME, Tool, ToolInputError

SMOKE_TASK = "Smoke test: call each of your tools and sub-agents once, then answer."
SMOKE_ANSWER = "Smoke test done."
PLACEHOLDER_TEXT = "test"
_FORMAT_EXAMPLES = {
    "date": "2026-01-05",
    "date-time": "2026-01-05T09:00:00Z",
    "time": "09:00:00",
    "email": "customer@example.com",
    "uri": "https://example.com",
}
_call_ids = itertools.count(1)


@dataclass(frozen=True)
class ToolCrash:
    tool: str
    error: str


@dataclass
class SmokeOutcome:
    """What the scripted run reached; ``problem()`` says why it fails the rung, if it does."""

    stop_reason: str
    error: str | None
    agents_expected: list[str]
    tools_expected: list[str]
    """``agent/tool`` for every tool of every agent."""
    agents_reached: list[str] = field(default_factory=list)
    tools_reached: list[str] = field(default_factory=list)
    tool_errors: list[dict[str, str]] = field(default_factory=list)
    """Refusals (and argument errors): fine, only counted."""
    crashes: list[ToolCrash] = field(default_factory=list)

    @property
    def missing_agents(self) -> list[str]:
        return [a for a in self.agents_expected if a not in self.agents_reached]

    @property
    def missing_tools(self) -> list[str]:
        return [t for t in self.tools_expected if t not in self.tools_reached]

    def problem(self) -> str | None:
        if self.crashes:
            first = self.crashes[0]
            more = f" (and {len(self.crashes) - 1} more)" if len(self.crashes) > 1 else ""
            return f"tool {first.tool} crashed: {first.error}{more}"
        if self.stop_reason != "completed":
            detail = f": {self.error}" if self.error else ""
            return f"smoke run stopped ({self.stop_reason}){detail}"
        if self.missing_agents:
            return f"agents not reached: {', '.join(self.missing_agents)}"
        if self.missing_tools:
            return f"tools not called: {', '.join(self.missing_tools)}"
        return None

    def details(self) -> dict[str, Any]:
        return {
            "stop_reason": self.stop_reason,
            "agents_reached": self.agents_reached,
            "tools_reached": self.tools_reached,
            "tool_errors": self.tool_errors,
            "crashes": [dataclasses.asdict(c) for c in self.crashes],
        }


async def smoke_run(
    entry: Agent, *, timeout_s: float, framework: str | None = None
) -> SmokeOutcome:
    """Run ``entry``'s hierarchy on the scripted model and report what it reached."""
    crashes: list[ToolCrash] = []
    root = _watched(entry, crashes, {})
    agents = agents_by_name(root)
    outcome = SmokeOutcome(
        stop_reason="error",
        error=None,
        agents_expected=list(agents),
        tools_expected=[f"{a.name}/{t.name}" for a in agents.values() for t in a.tools],
        crashes=crashes,
    )
    model = ScriptedModel(SmokeScript(agents), name="smoke", record_requests=False)
    try:
        async with asyncio.timeout(timeout_s):
            result = await root.arun(SMOKE_TASK, model=model, framework=framework)
    except TimeoutError:
        outcome.stop_reason, outcome.error = "timeout", f"no result within {timeout_s:g}s"
        return outcome
    except Exception as exc:  # reported as the rung's reason, with the exception's type
        outcome.error = describe_error(exc)
        return outcome
    _record_reach(outcome, result, agents)
    return outcome


class SmokeScript:
    """The responder: decides each agent's step from the episode's messages alone."""

    def __init__(self, agents: Mapping[str, Agent]) -> None:
        self.agents = agents

    def __call__(self, request: ModelRequest) -> Message:
        agent = self.agents[request.agent or ""]
        box = Toolbox.of(agent)
        if any(m.role == "assistant" for m in request.messages):
            return self._answer(agent, box)
        calls = [
            (spec.name, {"task": SMOKE_TASK})
            if spec.name in box.sub_agents
            else (spec.name, example_arguments(spec.parameters))
            for spec in box.specs
            if spec.name != FINISH_TOOL_NAME
        ]
        return _calls_message(agent, calls) if calls else self._answer(agent, box)

    @staticmethod
    def _answer(agent: Agent, box: Toolbox) -> Message:
        finish = box.tools.get(FINISH_TOOL_NAME)
        if finish is None:
            return Message.assistant(SMOKE_ANSWER)
        arguments = example_arguments(finish.spec.parameters)
        arguments["answer"] = SMOKE_ANSWER
        return _calls_message(agent, [(FINISH_TOOL_NAME, arguments)])


def _calls_message(agent: Agent, pairs: list[tuple[str, dict[str, Any]]]) -> Message:
    tool_calls = [ToolCall(id=f"smoke_{next(_call_ids)}", name=n, arguments=a) for n, a in pairs]
    if agent.tool_call_format == "structured":
        return Message.assistant(None, tool_calls)
    return Message.assistant(get_codec(agent.tool_call_format).render_calls(tool_calls))


def example_arguments(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments for a tool: its required parameters, each with ``example_value``."""
    value = example_value(schema, schema)
    return value if isinstance(value, dict) else {}


def example_value(schema: Any, root: Mapping[str, Any]) -> Any:
    """A value valid for simple schemas: the first enum value, 1 for integers (seeded rows
    have ids 1..n), a string from examples/defaults or a placeholder, one item per list."""
    schema = _deref(schema, root)
    if not isinstance(schema, Mapping):
        return PLACEHOLDER_TEXT
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = [b for b in schema.get(key, []) if _deref(b, root) != {"type": "null"}]
        if branches:
            return example_value(branches[0], root)
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    if schema.get("default") is not None:
        return schema["default"]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        properties = schema.get("properties", {})
        return {
            name: example_value(properties.get(name, {}), root)
            for name in schema.get("required", [])
        }
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [example_value(schema.get("items", {}), root) for _ in range(count)]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return max(1, low) if kind == "integer" else float(max(1, low))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = _FORMAT_EXAMPLES.get(str(schema.get("format", "")), PLACEHOLDER_TEXT)
    return text.ljust(int(schema.get("minLength", 0)), "x")


def _deref(schema: Any, root: Mapping[str, Any]) -> Any:
    """Follow local ``$ref``s (``#/$defs/Name``); anything else is returned as is."""
    seen = 0
    while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and seen < 32:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        schema, seen = target, seen + 1
    return schema


def _watched(agent: Agent, crashes: list[ToolCrash], memo: dict[int, Agent]) -> Agent:
    """A copy of the hierarchy whose tools record crashes (shared agents stay shared)."""
    copy = memo.get(id(agent))
    if copy is None:
        copy = memo[id(agent)] = dataclasses.replace(agent)
        copy.tools = [_watch(t, crashes) for t in agent.tools]
        copy.sub_agents = [_watched(a, crashes, memo) for a in agent.sub_agents]
    return copy


def _watch(tool: Tool, crashes: list[ToolCrash]) -> Tool:
    fn = tool.fn

    def record(exc: Exception) -> None:
        if not isinstance(exc, ToolInputError):
            crashes.append(ToolCrash(tool.name, describe_error(exc)))

    watched: Callable[..., Any]
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def watched(**kwargs: Any) -> Any:
            try:
                return await fn(**kwargs)
            except Exception as exc:
                record(exc)
                raise

    else:

        @functools.wraps(fn)
        def watched(**kwargs: Any) -> Any:
            try:
                return fn(**kwargs)
            except Exception as exc:
                record(exc)
                raise

    return dataclasses.replace(tool, fn=watched)


def agents_by_name(root: Agent) -> dict[str, Agent]:
    """Every agent of the hierarchy once (names are unique in a loaded one), breadth first."""
    found: dict[str, Agent] = {}
    pending = [root]
    while pending:
        agent = pending.pop(0)
        if agent.name not in found:
            found[agent.name] = agent
            pending.extend(agent.sub_agents)
    return found


def _record_reach(outcome: SmokeOutcome, result: RunResult, agents: Mapping[str, Agent]) -> None:
    outcome.stop_reason, outcome.error = result.stop_reason, result.error
    spans: dict[str, Span] = {s.span_id: s for s in result.trajectory.spans}
    for span in spans.values():
        if span.kind == "agent" and span.name not in outcome.agents_reached:
            outcome.agents_reached.append(span.name)
        parent = spans.get(span.parent_id or "")
        if span.kind != "tool" or parent is None or parent.kind != "agent":
            continue
        agent = agents.get(parent.name)
        if agent is None or span.name in {a.name for a in agent.sub_agents}:
            continue
        key = f"{agent.name}/{span.name}"
        if key not in outcome.tools_reached:
            outcome.tools_reached.append(key)
        if span.error is not None:
            outcome.tool_errors.append(
                {"agent": agent.name, "tool": span.name, "error": span.error}
            )
