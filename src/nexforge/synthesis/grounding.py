"""Grounding: read real records through the environment's read-only tools before a
query is written about them.

The explorer is deterministic given its ``random.Random``: it calls the read-only tools
it can fill (no required parameter, a search text left empty, an enum, or a value
already seen: ``customer_id`` from a row's ``customer_id``, or from the ``id`` of a row
returned by a tool about customers), the problem type's own tools first and others only
as stepping stones towards them. Rows are chosen with the rng. State-changing tools are
never called here.
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from nexforge.synthesis.evidence import scalars
from nexforge.synthesis.records import Evidence
from nexforge.tools.base import Tool, ToolContext
from nexforge.tools.environment import Environment
from nexforge.tools.executor import execute_tool
from nexforge.tools.resources import RunInfo, RunResources
from nexforge.tools.validation import validate_arguments

MAX_READS = 4
MAX_ROWS = 5
"""Rows kept of a result (chosen with the rng): enough to write about, small to store."""
MAX_TEXT = 200
SEARCH_PARAMETERS = frozenset(
    {"query", "q", "search", "text", "keyword", "keywords", "term", "pattern", "filter"}
)
_VERBS = frozenset({"get", "list", "find", "search", "lookup", "show", "read", "fetch", "query"})
_run_ids = itertools.count(1)


@asynccontextmanager
async def environment_run(environment: Environment, purpose: str) -> AsyncIterator[ToolContext]:
    """A throwaway run on a fresh copy of the environment's seed, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix=f"nexforge-{purpose}-"))
    resources = RunResources(RunInfo(f"queries-{purpose}-{next(_run_ids)}", directory))
    try:
        yield ToolContext(
            directory, run_id=resources.run.run_id, agent=f"queries.{purpose}", resources=resources
        )
    finally:
        await resources.aclose()
        shutil.rmtree(directory, ignore_errors=True)


async def read_evidence(
    ctx: ToolContext,
    environment: Environment,
    preferred: Sequence[str],
    rng: random.Random,
    *,
    max_reads: int = MAX_READS,
) -> list[Evidence]:
    """Up to ``max_reads`` successful reads, ``preferred`` tools first (see the module doc)."""
    own = [t for t in environment.tools if t.name in preferred]
    others = [t for t in environment.tools if t.spec.read_only and t.name not in preferred]
    seen: dict[str, list[Any]] = {}
    called: set[str] = set()
    evidence: list[Evidence] = []
    while len(evidence) < max_reads:
        tool = _next_tool(own, others, seen, called)
        if tool is None:
            break
        called.add(tool.name)
        arguments = _fill(tool, seen, rng)
        if arguments is None:
            continue
        outcome = await execute_tool(tool, arguments, ctx)
        if outcome.is_error:
            continue
        result = _trim(_parse(outcome.content), rng)
        evidence.append(Evidence(tool=tool.name, arguments=arguments, result=result))
        _harvest(tool.name, result, seen)
    return evidence


def _next_tool(
    own: list[Tool], others: list[Tool], seen: dict[str, list[Any]], called: set[str]
) -> Tool | None:
    """The next read: the first fillable own read tool; else another read tool that
    provides a value still wanted (by the own read tools, by the own state-changing
    tools' arguments, or by the tools that would provide those); None when done."""
    pending = [t for t in own if t.spec.read_only and t.name not in called]
    for tool in pending:
        if not _missing(tool, seen):
            return tool
    candidates = [t for t in others if t.name not in called]
    if not own:  # nothing to aim at: any read is evidence
        return next((t for t in candidates if not _missing(t, seen)), None)
    wanted = {p for t in pending for p in _missing(t, seen)}
    wanted |= {p for t in own if not t.spec.read_only for p in _required(t) if not seen.get(p)}
    # The records of the kind a write creates or changes: what exists already is context.
    writes = [t for t in own if not t.spec.read_only]
    wanted |= {f"{e}_id" for t in writes for e in tool_entities(t.name) if not seen.get(f"{e}_id")}
    grown = True
    while grown:  # what is wanted, and what the tools providing it need in turn
        grown = False
        for tool in candidates:
            if _provides(tool) & wanted:
                more = set(_missing(tool, seen)) - wanted
                grown, wanted = grown or bool(more), wanted | more
    return next((t for t in candidates if not _missing(t, seen) and _provides(t) & wanted), None)


def _required(tool: Tool) -> list[str]:
    return [str(p) for p in tool.spec.parameters.get("required", [])]


def _schema(tool: Tool, param: str) -> dict[str, Any]:
    found = tool.spec.parameters.get("properties", {}).get(param, {})
    return found if isinstance(found, dict) else {}


def _missing(tool: Tool, seen: dict[str, list[Any]]) -> list[str]:
    """Required parameters there is no value for yet."""
    return [p for p in _required(tool) if not _fillable(_schema(tool, p), p, seen)]


def _fillable(schema: dict[str, Any], param: str, seen: dict[str, list[Any]]) -> bool:
    return bool(seen.get(param) or schema.get("enum") or _is_search(schema, param))


def _is_search(schema: dict[str, Any], param: str) -> bool:
    return schema.get("type") == "string" and param in SEARCH_PARAMETERS


def _fill(tool: Tool, seen: dict[str, list[Any]], rng: random.Random) -> dict[str, Any] | None:
    arguments: dict[str, Any] = {}
    for param in _required(tool):
        schema = _schema(tool, param)
        if seen.get(param):
            arguments[param] = seen[param][rng.randrange(len(seen[param]))]
        elif schema.get("enum"):
            arguments[param] = schema["enum"][rng.randrange(len(schema["enum"]))]
        elif _is_search(schema, param):
            arguments[param] = ""
        else:
            return None
    return arguments if validate_arguments(tool.spec, arguments) is None else None


def tool_entities(tool_name: str) -> list[str]:
    """``list_orders`` -> ``["order"]``: what a tool is about, by its name."""
    words = [w for w in tool_name.lower().replace("-", "_").split("_") if w and w not in _VERBS]
    return [w[:-1] if w.endswith("s") and len(w) > 3 else w for w in words]


def _provides(tool: Tool) -> set[str]:
    return {f"{entity}_id" for entity in tool_entities(tool.name)}


def _harvest(tool_name: str, result: Any, seen: dict[str, list[Any]]) -> None:
    """Remember every scalar by its key; a top-level row's ``id`` also as ``<entity>_id``."""
    rows = result if isinstance(result, list) else [result]
    for row in rows:
        if isinstance(row, dict) and "id" in row:
            for entity in tool_entities(tool_name):
                _remember(seen, f"{entity}_id", row["id"])
    for key, value in scalars(result):
        _remember(seen, key, value)


def _remember(seen: dict[str, list[Any]], key: str, value: Any) -> None:
    values = seen.setdefault(key, [])
    if value not in values and not isinstance(value, bool):
        values.append(value)


def _parse(content: str) -> Any:
    try:
        return json.loads(content)
    except json.JSONDecodeError:
        return content


def _trim(value: Any, rng: random.Random) -> Any:
    """At most MAX_ROWS items per list (chosen with the rng, order kept), texts cut."""
    if isinstance(value, list):
        if len(value) > MAX_ROWS:
            value = [value[i] for i in sorted(rng.sample(range(len(value)), MAX_ROWS))]
        return [_trim(item, rng) for item in value]
    if isinstance(value, dict):
        return {k: _trim(v, rng) for k, v in value.items()}
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[:MAX_TEXT] + "..."
    return value
