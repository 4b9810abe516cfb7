"""The environment generator: from a domain spec and its seed rows, the files that make
a framework's environment.

- ``data/<name>.sqlite``: one table per entity, rows with ids ``1..n`` (``seedgen``);
- ``tools/<name>_tools.py``: one ``@env_tool`` per ``ToolPlan``, over ``dbtools``
  (``toolgen``);
- ``tools/test_<name>_tools.py``: pytest tests that call every tool (``testgen``).

Nothing the model wrote is executed here: names are checked identifiers, and text reaches
the generated code only as string literals or sanitized docstrings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nexforge.architect.customtools import write_custom_code
from nexforge.architect.seedgen import (
    MAX_SEED_ROWS,
    MIN_SEED_ROWS,
    check_seed,
    normalize_seed_rows,
    seed_order,
    seed_request_schema,
    write_seed_database,
)
from nexforge.architect.spec import CustomTool, DomainSpec, SeedData, ToolPlan
from nexforge.architect.testgen import render_tools_tests
from nexforge.architect.toolgen import render_tools_module
from nexforge.architect.toolplan import plan_tools

__all__ = [
    "MAX_SEED_ROWS",
    "MIN_SEED_ROWS",
    "EnvironmentFiles",
    "normalize_seed_rows",
    "plan_tools",
    "seed_order",
    "seed_request_schema",
    "write_environment",
]


@dataclass(frozen=True)
class EnvironmentFiles:
    """Paths of the written files, relative to the framework folder (``/``-separated, as
    ``framework.yaml`` names them)."""

    database: str
    tools_module: str
    tests: str


def write_environment(
    domain: DomainSpec,
    seed: SeedData,
    plans: list[ToolPlan],
    out_dir: Path,
    *,
    custom: Sequence[CustomTool] = (),
) -> EnvironmentFiles:
    """Write the seed database, the tools module and its tests under ``out_dir``.

    A plan of kind ``custom`` needs its tool in ``custom`` (see ``customtools``; keep only
    tools whose ``test_custom_tool`` passed): its code is saved beside the tools module.

    ValueError when the seed rows or the plans do not fit the domain (see ``check_seed``
    and ``render_tools_module``); nothing is written then.
    """
    name = domain.name
    files = EnvironmentFiles(
        database=f"data/{name}.sqlite",
        tools_module=f"tools/{name}_tools.py",
        tests=f"tools/test_{name}_tools.py",
    )
    rows, problems = check_seed(domain, seed)
    if problems:
        raise ValueError("seed rows are not valid: " + "; ".join(problems))
    module = render_tools_module(domain, plans, database=files.database, custom=custom)
    tools_file = Path(files.tools_module).name
    tests = render_tools_tests(
        domain, plans, rows, tools_file=tools_file, database=files.database, custom=custom
    )
    write_seed_database(domain, seed, out_dir / files.database)
    for tool in custom:
        write_custom_code(tool, (out_dir / files.tools_module).parent)
    _write_text(out_dir / files.tools_module, module)
    _write_text(out_dir / files.tests, tests)
    return files


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
