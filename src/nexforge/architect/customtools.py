"""Model-written read-only tools: a ``compute(rows, **arguments)`` over one entity's rows.

The model's code never runs in this process. It is saved as ``tools/custom_<name>.py``
and only ever executed by ``compute_calls``: copied into a fresh run workspace and run by
``python -I`` through ``run_subprocess`` (sandbox uid, no network, limits, a timeout and
an output cap), with the rows and arguments as JSON on stdin and the results as JSON on
stdout. The generated tool (a wrapper in the tools module, see ``wrapper_source``) reads
the rows in process with ``dbtools``, read-only, and hands them over.

Environment tools are sync functions run in a worker thread, so the wrapper reaches the
async core through ``run_compute``, which runs it on a loop of its own.
"""

from __future__ import annotations

import ast
import asyncio
import json
import shutil
from collections.abc import Collection, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import jsonschema

from nexforge.architect.pysource import (
    Brackets,
    Item,
    call,
    dict_of,
    docstring,
    identifier,
    literal,
    python_name,
    statement,
)
from nexforge.architect.schema_parts import closed_object
from nexforge.architect.seedgen import check_seed
from nexforge.architect.spec import IDENTIFIER, CustomTool, DomainSpec, SeedData, ToolPlan
from nexforge.tools.errors import ToolInputError
from nexforge.tools.sandbox import run_subprocess
from nexforge.tools.workspace import give_to_workspace_owner, make_run_workspace

T = TypeVar("T")
COMPUTE_TIMEOUT_S = 20.0
OUTPUT_CHARS = 200_000
MAX_TESTS = 3
MAX_PARAMETERS = 4
_TYPES = {"integer": "int", "number": "float", "string": "str", "boolean": "bool"}
_MARK = "@@nexforge-compute-results@@"
# Names the wrapper's body uses; a parameter called so would shadow them.
_RESERVED = frozenset({"state", "dbtools", "customtools", "HERE", "EnvState", "env_tool"})
_RUNNER = f"""\
import importlib.util
import json
import sys

payload = json.load(sys.stdin)
spec = importlib.util.spec_from_file_location("compute_module", "compute.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
results = []
for arguments in payload["calls"]:
    try:
        results.append({{"ok": True, "result": module.compute(payload["rows"], **arguments)}})
    except Exception as exc:
        results.append({{"ok": False, "error": f"{{type(exc).__name__}}: {{exc}}"}})
try:
    text = json.dumps(results)
except (TypeError, ValueError) as exc:
    error = {{"ok": False, "error": f"the result is not JSON: {{exc}}"}}
    text = json.dumps([error] * len(results))
sys.stdout.write("\\n{_MARK}" + text + "\\n")
"""


def custom_tool_schema(domain: DomainSpec) -> dict[str, Any]:
    """What the model fills to propose one custom tool (llguidance keywords only)."""
    parameter = closed_object(
        {
            "name": {"type": "string", "pattern": IDENTIFIER},
            "type": {"type": "string", "enum": list(_TYPES)},
            "description": {"type": "string", "maxLength": 120},
        }
    )
    test = {
        "type": "object",
        "properties": {"arguments": {"type": "object"}, "expected": {}},
        "required": ["arguments", "expected"],
        "additionalProperties": False,
    }
    return closed_object(
        {
            "name": {"type": "string", "pattern": IDENTIFIER},
            "description": {"type": "string", "maxLength": 200},
            "entity": {"type": "string", "enum": [e.name for e in domain.entities]},
            "parameters": {"type": "array", "maxItems": MAX_PARAMETERS, "items": parameter},
            "code": {"type": "string", "maxLength": 4000},
            "tests": {"type": "array", "minItems": 1, "maxItems": MAX_TESTS, "items": test},
        }
    )


def normalize_custom_tool(
    domain: DomainSpec, raw: dict[str, Any], *, taken: Collection[str] = ()
) -> tuple[CustomTool | None, list[str]]:
    """The model's answer (``custom_tool_schema``) as a CustomTool, or the problems (one
    line each) to send back. ``taken``: names of the environment's other tools. The code
    is only parsed here, never run."""
    problems: list[str] = []
    try:
        jsonschema.validate(raw, custom_tool_schema(domain))
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "answer"
        return None, [f"{where}: {exc.message}"]
    if raw["name"] in taken:
        problems.append(f"name: {raw['name']!r} is taken by another tool")
    names = [p["name"] for p in raw["parameters"]]
    if len(set(names)) < len(names):
        problems.append("parameters: each name once")
    problems += [
        f"parameters: {n!r} is a reserved name"
        for n in names
        if n in _RESERVED or python_name(n) != n
    ]
    try:
        tree = ast.parse(raw["code"])
    except SyntaxError as exc:
        problems.append(f"code: syntax error on line {exc.lineno}: {exc.msg}")
    else:
        if not any(isinstance(n, ast.FunctionDef) and n.name == "compute" for n in tree.body):
            problems.append("code: define a top-level function compute(rows, **arguments)")
    properties = {
        p["name"]: {"type": p["type"], "description": p["description"]} for p in raw["parameters"]
    }
    parameters = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    for i, test in enumerate(raw["tests"]):
        try:
            jsonschema.validate(test["arguments"], parameters)
        except jsonschema.ValidationError as exc:
            problems.append(f"tests[{i}].arguments: {exc.message}")
    if problems:
        return None, problems
    fields = {k: raw[k] for k in ("name", "description", "entity", "code", "tests")}
    return CustomTool(parameters=parameters, **fields), []


def custom_plan(tool: CustomTool) -> ToolPlan:
    return ToolPlan(
        name=tool.name,
        kind="custom",
        entity=tool.entity,
        description=tool.description,
        read_only=True,
    )


def custom_file(tool: CustomTool) -> str:
    """The file name of the tool's code, beside the tools module."""
    return f"custom_{identifier(tool.name)}.py"


def write_custom_code(tool: CustomTool, tools_dir: Path) -> Path:
    """Save the model's code as ``tools_dir/custom_<name>.py`` (never imported)."""
    path = tools_dir / custom_file(tool)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# compute() of the custom tool {tool.name}, written by the model. It only ever runs\n"
        "# in the sandbox (nexforge.architect.customtools); never import this file.\n\n"
    )
    path.write_text(header + tool.code.rstrip() + "\n", encoding="utf-8")
    return path


def wrapper_source(tool: CustomTool, plan: ToolPlan) -> list[str]:
    """The ``@env_tool`` wrapper of the tools module, as lines."""
    properties: dict[str, Any] = tool.parameters.get("properties", {})
    params: list[tuple[str, str, str]] = []
    for name, schema in properties.items():
        kind = schema.get("type")
        if kind not in _TYPES or python_name(name) != name or name in _RESERVED:
            raise ValueError(f"custom tool {tool.name}: parameter {name!r} of type {kind!r}")
        params.append((name, _TYPES[kind], str(schema.get("description", ""))))
    state = "_state" if "state" in properties else "state"
    rows = call("dbtools.all_rows", state, literal(identifier(tool.entity)))
    arguments = dict_of({name: name for name, _, _ in params})
    result = call(
        "customtools.run_compute", f"HERE / {literal(custom_file(tool))}", rows, arguments
    )
    signature = Brackets(
        f"def {python_name(plan.name)}(",
        [Item(f"{state}: EnvState"), *(Item(f"{n}: {t}") for n, t, _ in params)],
        ") -> Any:",
    )
    return [
        "@env_tool(read_only=True)",
        *statement(signature, 0),
        *docstring(plan.description, [(n, d) for n, _, d in params], 4),
        *statement(result, 4, "return "),
    ]


def run_compute(
    module: Path,
    rows: list[dict[str, Any]],
    arguments: dict[str, Any],
    *,
    timeout_s: float = COMPUTE_TIMEOUT_S,
) -> Any:
    """``compute(rows, **arguments)`` of ``module``, run in the sandbox: its JSON result.

    ToolInputError when compute raises (the model sees the one-line error), RuntimeError
    when the sandboxed process fails (timeout, crash, no result).
    """
    code = module.read_text(encoding="utf-8")
    (outcome,) = _run_sync(compute_calls(code, rows, [arguments], timeout_s=timeout_s))
    if not outcome["ok"]:
        raise ToolInputError(str(outcome["error"]))
    return outcome["result"]


def _run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)  # the usual case: an environment's worker thread
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def compute_calls(
    code: str,
    rows: list[dict[str, Any]],
    calls: Sequence[dict[str, Any]],
    *,
    timeout_s: float = COMPUTE_TIMEOUT_S,
) -> list[dict[str, Any]]:
    """Run ``compute(rows, **arguments)`` of ``code`` for each of ``calls`` in one sandboxed
    process: per call ``{"ok": True, "result": ...}`` or ``{"ok": False, "error": ...}``.
    RuntimeError when the process gives no results (import error, timeout, crash)."""
    workspace = await asyncio.to_thread(make_run_workspace, "nexforge-compute-")
    try:
        for name, text in (("compute.py", code), ("runner.py", _RUNNER)):
            (workspace / name).write_text(text, encoding="utf-8")
            give_to_workspace_owner(workspace, workspace / name)
        result = await run_subprocess(
            ["python3", "-I", "runner.py"],  # stdlib only; on the sandbox PATH everywhere
            cwd=workspace,
            timeout_s=timeout_s,
            max_output_chars=OUTPUT_CHARS,
            stdin=json.dumps({"rows": rows, "calls": list(calls)}),
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, workspace, ignore_errors=True)
    if result.timed_out:
        raise RuntimeError(f"compute timed out after {timeout_s:g}s")
    marked = [line for line in result.stdout.splitlines() if line.startswith(_MARK)]
    if result.exit_code != 0 or not marked:
        last = (result.stderr.strip().splitlines() or [f"exit code {result.exit_code}"])[-1]
        raise RuntimeError(f"compute failed: {last}")
    outcomes: list[dict[str, Any]] = json.loads(marked[-1][len(_MARK) :])
    return outcomes


async def test_custom_tool(
    domain: DomainSpec, seed: SeedData, tool: CustomTool
) -> tuple[bool, str]:
    """Run the tool's ``tests`` over its entity's seed rows in the sandbox: whether all
    pass, and a one-line summary (the first failure, to send back to the model)."""
    if not tool.tests:
        return False, f"{tool.name}: no tests"
    rows, problems = check_seed(domain, seed)
    if problems or tool.entity not in rows:
        return False, f"{tool.name}: no valid seed rows for {tool.entity!r}"
    stored = [{"id": i, **row} for i, row in enumerate(rows[tool.entity], 1)]
    calls = [dict(t.get("arguments") or {}) for t in tool.tests]
    try:
        outcomes = await compute_calls(tool.code, stored, calls)
    except RuntimeError as exc:
        return False, f"{tool.name}: {exc}"
    for i, (test, outcome) in enumerate(zip(tool.tests, outcomes, strict=True)):
        if not outcome["ok"]:
            return False, f"{tool.name} tests[{i}]: compute raised {outcome['error']}"
        expected = test.get("expected")
        if outcome["result"] != expected:
            got = json.dumps(outcome["result"])[:200]
            return (
                False,
                f"{tool.name} tests[{i}]: returned {got}, expected {json.dumps(expected)[:200]}",
            )
    return True, f"{tool.name}: {len(outcomes)} tests passed"


test_custom_tool.__test__ = False  # type: ignore[attr-defined]  # not a test for pytest to collect
