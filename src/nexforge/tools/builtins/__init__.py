"""The packaged built-in tools, by the name agent YAML uses for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from nexforge.tools.base import Tool
from nexforge.tools.builtins.files import make_list_dir, make_read_file, make_write_file
from nexforge.tools.builtins.finish import FINISH_TOOL_NAME, make_finish
from nexforge.tools.builtins.http import make_http_get
from nexforge.tools.builtins.search import make_search_files
from nexforge.tools.builtins.shell import make_run_python, make_run_shell
from nexforge.tools.builtins.sqlite import make_sqlite_query


class BuiltinFactory(Protocol):
    """Builds a built-in from its YAML options; ``base_dir`` is the config file's folder."""

    def __call__(self, options: dict[str, Any] | None, base_dir: Path | None) -> Tool: ...


BUILTINS: dict[str, BuiltinFactory] = {
    "read_file": make_read_file,
    "write_file": make_write_file,
    "list_dir": make_list_dir,
    "search_files": make_search_files,
    "run_shell": make_run_shell,
    "run_python": make_run_python,
    "sqlite_query": make_sqlite_query,
    "http_get": make_http_get,
    FINISH_TOOL_NAME: make_finish,
}


def make_builtin(
    name: str, options: dict[str, Any] | None = None, *, base_dir: Path | None = None
) -> Tool:
    """The built-in ``name`` configured by ``options``; ValueError for unknown names/options."""
    factory = BUILTINS.get(name)
    if factory is None:
        known = ", ".join(sorted(BUILTINS))
        raise ValueError(f"unknown built-in tool '{name}' (known: {known})")
    if options is not None and not isinstance(options, dict):
        raise ValueError(f"built-in tool '{name}': options must be a mapping")
    return factory(options, base_dir)


__all__ = ["BUILTINS", "FINISH_TOOL_NAME", "BuiltinFactory", "make_builtin"]
