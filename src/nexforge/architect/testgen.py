"""The generated pytest file for a generated tools module: every tool is called at least
once through the real ``Environment`` on a fresh copy of the seed, with expectations
computed here from the seed rows (so a broken tool makes a test fail).

The file imports the tools module by path and runs with ``python -m pytest -q tools/``
from the framework folder, in the sandbox too; tests are plain functions (no async
plugin needed) driving the async executor through one ``asyncio.Runner`` per test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nexforge.architect.pysource import (
    LINE_LENGTH,
    Brackets,
    call,
    dict_of,
    doc_text,
    identifier,
    list_of,
    literal,
    statement,
    value_expr,
)
from nexforge.architect.spec import (
    CustomTool,
    DomainSpec,
    EntitySpec,
    FieldSpec,
    Row,
    ToolPlan,
)
from nexforge.architect.toolplan import (
    DEFAULT_LIMIT,
    action_values,
    filter_fields,
    parameters,
    search_fields,
    update_fields,
)

_HEADER = '''"""Tests of the {name} tools, generated with them (edit the two together).

Each test opens a fresh copy of {database} through the Environment and calls the
tools through the executor, as an agent's calls go. Run from the framework folder:
python -m pytest -q tools/
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from nexforge.tools import Environment, RunInfo, RunResources, ToolContext, execute_tool
from nexforge.tools.environment import env_tools_in

HERE = Path(__file__).resolve().parent
RUN_IDS = itertools.count(1)


def load_tools() -> ModuleType:
{load}
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


{environment}


class Run:
    """One run's own copy of the state (a context manager: closed at the end)."""

    def __init__(self) -> None:
        run_id = f"test-{{next(RUN_IDS)}}"
        self.loop = asyncio.Runner()
        self.resources = RunResources(RunInfo(run_id, HERE))
        self.context = ToolContext(HERE, run_id=run_id, agent="test", resources=self.resources)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.loop.run(self.resources.aclose())
        self.loop.close()

    def call(self, tool: str, arguments: dict[str, Any]) -> tuple[bool, str]:
        outcome = self.loop.run(execute_tool(ENV.tool(tool), arguments, self.context))
        return outcome.is_error, outcome.content

    def ok(self, tool: str, arguments: dict[str, Any]) -> Any:
        is_error, content = self.call(tool, arguments)
        assert not is_error, content
        return json.loads(content)

    def error(self, tool: str, arguments: dict[str, Any]) -> str:
        is_error, content = self.call(tool, arguments)
        assert is_error, content
        return content
'''
Case = tuple[str, list[str]]
"""A test's name and body (the lines inside its ``with Run() as run:``)."""
_NO_MATCH = "zq no such text zq"


def render_tools_tests(
    domain: DomainSpec,
    plans: list[ToolPlan],
    rows: dict[str, list[Row]],
    *,
    tools_file: str,
    database: str,
    custom: Sequence[CustomTool] = (),
) -> str:
    """The test module's source. ``rows`` are the seed rows as stored (``check_seed``);
    ``tools_file`` is the tools module's file name, ``database`` the seed's path from the
    framework folder."""
    name = identifier(domain.name)
    load = call(
        "importlib.util.spec_from_file_location",
        literal(f"_{name}_tools_under_test"),
        f"HERE / {literal(tools_file)}",
    )
    environment = call(
        "Environment",
        literal(name),
        "env_tools_in(load_tools())",
        f"seed=HERE.parent / {literal(database)}",
    )
    header = _HEADER.format(
        name=name,
        database=doc_text(database),
        load="\n".join(statement(load, 4, "spec = ")),
        environment="\n".join(statement(environment, 0, "ENV = ")),
    )
    lines = header.splitlines()
    names = list_of([literal(p.name) for p in plans])
    lines += ["", "", "def test_the_environment_has_every_planned_tool() -> None:"]
    lines += statement(names, 4, "assert [tool.name for tool in ENV.tools] == ")
    get_tools = {p.entity: p.name for p in plans if p.kind == "get" and p.entity}
    taken: set[str] = set()
    by_name = {t.name: t for t in custom}
    for plan in plans:
        if plan.kind == "custom":
            cases = [_custom_case(plan, by_name[plan.name])]
        else:
            entity = domain.entity(plan.action.entity if plan.action else plan.entity or "")
            cases = _Tests(domain, entity, rows, get_tools.get(entity.name)).of(plan)
        for name, body in cases:
            lines += ["", "", *_test(_test_name(name, taken), *body)]
    return "\n".join(lines) + "\n"


class _Tests:
    """The tests of one entity's tools."""

    def __init__(
        self,
        domain: DomainSpec,
        entity: EntitySpec,
        rows: dict[str, list[Row]],
        get_tool: str | None,
    ) -> None:
        self.domain = domain
        self.get_tool = get_tool
        self.entity = entity
        self.rows = rows[entity.name]
        self.counts = {name: len(r) for name, r in rows.items()}
        self.names = parameters(entity)
        if not self.rows:
            raise ValueError(f"{entity.name} has no seed rows to test its tools on")

    def of(self, plan: ToolPlan) -> list[Case]:
        kind = plan.kind
        if kind == "get":
            return self._get(plan.name)
        if kind == "list":
            return self._list(plan.name)
        if kind == "search":
            return self._search(plan.name)
        if kind == "create":
            return self._create(plan.name)
        if kind == "update":
            return self._update(plan.name)
        if kind == "action" and plan.action is not None:
            return self._action(plan)
        raise ValueError(f"tool {plan.name}: no tests for kind {kind!r}")

    def _get(self, tool: str) -> list[Case]:
        missing = len(self.rows) + 1
        return [
            _case(
                f"test_{tool}_returns_a_seeded_row",
                *statement(self._expected_row(1, self.rows[0]), 8, "expected = "),
                *self._call("row", tool, {self.names.row_id: "1"}),
                "        assert row == expected",
            ),
            _case(
                f"test_{tool}_refuses_an_unknown_id",
                *self._call("message", tool, {self.names.row_id: str(missing)}, error=True),
                *_expect(f"no {self.entity.name} row with id {missing}"),
                "        assert message == expected",
            ),
        ]

    def _list(self, tool: str) -> list[Case]:
        tests = [
            _case(
                f"test_{tool}_returns_rows_in_id_order",
                *self._call("rows", tool, {}),
                *_assert_ids(list(range(1, min(len(self.rows), DEFAULT_LIMIT) + 1))),
                *self._call("rows", tool, {self.names.limit: "1"}),
                *_assert_ids([1]),
            )
        ]
        for f in filter_fields(self.entity):
            value = self.rows[0][f.name]
            ids = [i for i, row in enumerate(self.rows, 1) if row[f.name] == value]
            arguments = {self.names.fields[f.name]: literal(value), self.names.limit: "50"}
            tests.append(
                _case(
                    f"test_{tool}_filters_by_{f.name}",
                    *self._call("rows", tool, arguments),
                    *_assert_ids(ids[:50]),
                )
            )
        return tests

    def _search(self, tool: str) -> list[Case]:
        found = next(
            (
                (i, str(row[f.name]))
                for i, row in enumerate(self.rows, 1)
                for f in search_fields(self.entity)
                if str(row[f.name]).strip()
            ),
            None,
        )
        lines: list[str] = []
        if found is not None:
            row_id, text = found
            text = text.upper() if text.isascii() else text  # the search ignores ASCII case
            lines += self._call("rows", tool, {"text": literal(text)})
            lines.append(f'        assert {row_id} in [row["id"] for row in rows]')
        lines += self._call("rows", tool, {"text": literal(_NO_MATCH)})
        lines.append("        assert rows == []")
        return [_case(f"test_{tool}_finds_a_seeded_value", *lines)]

    def _create(self, tool: str) -> list[Case]:
        values = dict(self.rows[0])
        new_id = len(self.rows) + 1
        tests = [
            _case(
                f"test_{tool}_adds_a_row",
                *self._call("created", tool, self._arguments(values)),
                *statement(self._expected_row(new_id, values), 8, "expected = "),
                "        assert created == expected",
                *self._reread(new_id, "expected"),
            )
        ]
        reference = next((f for f in self.entity.fields if f.references), None)
        if reference is not None and reference.references is not None:
            missing = self.counts[reference.references] + 1
            dangling = {**values, reference.name: missing}
            tests.append(
                _case(
                    f"test_{tool}_refuses_a_missing_{reference.name}",
                    *self._call("message", tool, self._arguments(dangling), error=True),
                    *_expect(f"{reference.name}: no {reference.references} row with id {missing}"),
                    "        assert message == expected",
                )
            )
        return tests

    def _update(self, tool: str) -> list[Case]:
        fields = update_fields(self.domain, self.entity)
        f = next((f for f in fields if f.references is None), fields[0])
        new = self._other_value(f, self.rows[0][f.name])
        arguments = {self.names.row_id: "1", self.names.fields[f.name]: literal(new)}
        return [
            _case(
                f"test_{tool}_changes_a_field",
                *self._call("updated", tool, arguments),
                *_expect(new),
                f"        assert updated[{literal(f.name)}] == expected",
                *self._reread(1, "updated"),
                *self._call("message", tool, {self.names.row_id: "1"}, error=True),
                '        assert message.startswith("nothing to update")',
            )
        ]

    def _action(self, plan: ToolPlan) -> list[Case]:
        assert plan.action is not None
        field = plan.action.field
        value, allowed = action_values(self.domain, plan.action)
        allowed_ids = [i for i, r in enumerate(self.rows, 1) if not allowed or r[field] in allowed]
        refused_ids = [i for i, r in enumerate(self.rows, 1) if i not in allowed_ids]
        tests: list[Case] = []
        if allowed_ids:
            row_id = allowed_ids[0]
            lines = [
                *self._call("row", plan.name, {self.names.row_id: str(row_id)}),
                *_expect(value),
                f"        assert row[{literal(field)}] == expected",
                *self._reread(row_id, "row"),
            ]
            if allowed and value not in allowed:
                lines += self._refusal(plan.name, row_id, value)  # the new value is final
            tests.append(_case(f"test_{plan.name}_from_an_allowed_{field}", *lines))
        if refused_ids:
            row_id = refused_ids[0]
            current = self.rows[row_id - 1][field]
            name = f"test_{plan.name}_is_refused_from_another_{field}"
            tests.append(_case(name, *self._refusal(plan.name, row_id, current)))
        return tests

    def _refusal(self, tool: str, row_id: int, current: Any) -> list[str]:
        return [
            *self._call("message", tool, {self.names.row_id: str(row_id)}, error=True),
            *statement(literal(repr(current)), 8, "current = "),  # as the refusal quotes it
            "        assert current in message",
        ]

    def _call(
        self,
        target: str,
        tool: str,
        arguments: dict[str, str],
        *,
        error: bool = False,
    ) -> list[str]:
        method = "run.error" if error else "run.ok"
        return statement(call(method, literal(tool), dict_of(arguments)), 8, f"{target} = ")

    def _reread(self, row_id: int, expected: str) -> list[str]:
        """The row read back through the entity's get tool equals ``expected``."""
        if self.get_tool is None:
            return []
        arguments = {self.names.row_id: str(row_id)}
        return [
            *self._call("stored", self.get_tool, arguments),
            f"        assert stored == {expected}",
        ]

    def _arguments(self, values: Row) -> dict[str, str]:
        return {self.names.fields[f.name]: literal(values[f.name]) for f in self.entity.fields}

    def _expected_row(self, row_id: int, values: Row) -> Brackets:
        pairs: dict[str, str | Brackets] = {"id": str(row_id)}
        pairs |= {f.name: literal(values[f.name]) for f in self.entity.fields}
        return dict_of(pairs, explode=True)

    def _other_value(self, f: FieldSpec, current: Any) -> Any:
        """A valid value of ``f`` different from ``current`` where the field allows one."""
        if f.references is not None:
            count = self.counts[f.references]
            return next((i for i in range(1, count + 1) if i != current), current)
        if f.type == "text":
            return next((v for v in f.values if v != current), current) if f.values else "Updated"
        if f.type == "integer":
            return current + 1
        if f.type == "real":
            return current + 1.5
        if f.type == "boolean":
            return not current
        return "2030-01-02" if current == "2030-01-01" else "2030-01-01"


def _custom_case(plan: ToolPlan, tool: CustomTool) -> Case:
    """A custom tool returns what its own tests expect (run through the environment, so
    in the sandbox, as the agents' calls are)."""
    lines: list[str] = []
    for test in tool.tests:
        arguments = {str(k): literal(v) for k, v in (test.get("arguments") or {}).items()}
        lines += statement(call("run.ok", literal(plan.name), dict_of(arguments)), 8, "result = ")
        lines += statement(value_expr(test.get("expected")), 8, "expected = ")
        lines.append("        assert result == expected")
    return f"test_{plan.name}_returns_what_its_examples_expect", lines


def _case(name: str, *body: str) -> Case:
    return name, list(body)


def _test(name: str, *body: str) -> list[str]:
    """A test function: a fresh run, then ``body`` (lines indented for the ``with``)."""
    return [f"def {name}() -> None:", "    with Run() as run:", *body]


def _test_name(name: str, taken: set[str]) -> str:
    """``name``, shortened so its ``def`` line fits and made unique."""
    room = LINE_LENGTH - len("def () -> None:")
    unique, n = name[:room], 1
    while unique in taken:
        n += 1
        unique = f"{name[: room - len(str(n)) - 1]}_{n}"
    taken.add(unique)
    return unique


def _expect(value: Any) -> list[str]:
    return statement(literal(value), 8, "expected = ")


def _assert_ids(ids: list[int]) -> list[str]:
    return [
        '        ids = [row["id"] for row in rows]',
        *statement(list_of([str(i) for i in ids]), 8, "assert ids == "),
    ]
