"""Build Tools from the ``tools:`` entries of an agent file."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema

from nexforge.runtime.config.paths import PathEscapeError, resolve_inside
from nexforge.runtime.config.python_refs import PythonRefError, resolve_python_ref
from nexforge.runtime.config.schema import BuiltinToolEntry, PythonToolEntry, ToolSpecFile
from nexforge.runtime.config.validation import validate_document
from nexforge.runtime.config.yaml_lines import Loc, YamlDocument, load_yaml
from nexforge.tools.base import Tool
from nexforge.tools.schema import tool_from_function

# Built-in options holding file system paths: resolved from the config's folder and kept
# inside the root here, so no built-in can be pointed at files outside the framework.
PATH_OPTION_KEYS = frozenset({"database", "path", "file", "dir", "directory", "root"})
PATH_OPTION_SUFFIXES = ("_path", "_file", "_dir", "_directory")


@dataclasses.dataclass
class ToolBuildContext:
    """What building a tool needs besides its entry: where the file is, where the root is."""

    doc: YamlDocument
    root: Path
    module_cache: dict[Path, ModuleType]
    allow_packages: frozenset[str] = frozenset()
    """Packages whose functions ``python:`` entries may name (besides root modules)."""

    @property
    def base_dir(self) -> Path:
        return self.doc.file.parent

    def resolve(self, loc: Loc, value: str, *, must_exist: bool) -> Path:
        """Resolve a path value found at ``loc``; escaping the root or missing is an error."""
        try:
            path = resolve_inside(self.root, self.base_dir, value)
        except PathEscapeError as exc:
            raise self.doc.error(loc, str(exc)) from exc
        if must_exist and not path.is_file():
            raise self.doc.error(loc, f"file not found: {value} (looked at {path})")
        return path


def build_tool(entry: BuiltinToolEntry | PythonToolEntry, loc: Loc, ctx: ToolBuildContext) -> Tool:
    if isinstance(entry, BuiltinToolEntry):
        return _builtin_tool(entry, loc, ctx)
    return _python_tool(entry, loc, ctx)


def _is_path_option(key: str) -> bool:
    return key in PATH_OPTION_KEYS or key.endswith(PATH_OPTION_SUFFIXES)


def _builtin_tool(entry: BuiltinToolEntry, loc: Loc, ctx: ToolBuildContext) -> Tool:
    # Imported here: the built-ins pull in aiohttp, which configs without them never need.
    from nexforge.tools.builtins import make_builtin

    options: dict[str, Any] = dict(entry.options)
    for key, value in entry.options.items():
        if isinstance(value, str) and _is_path_option(key):
            options[key] = str(ctx.resolve((*loc, "options", key), value, must_exist=False))
    try:
        tool = make_builtin(entry.builtin, options, base_dir=ctx.base_dir)
    except ValueError as exc:
        raise ctx.doc.error((*loc, "builtin"), str(exc)) from exc
    if entry.timeout_s is not None:
        tool = dataclasses.replace(tool, timeout_s=entry.timeout_s)
    return tool


def _python_tool(entry: PythonToolEntry, loc: Loc, ctx: ToolBuildContext) -> Tool:
    try:
        fn = resolve_python_ref(
            entry.python, ctx.root, ctx.module_cache, allow_packages=ctx.allow_packages
        )
    except PythonRefError as exc:
        raise ctx.doc.error((*loc, "python"), str(exc)) from exc
    kwargs: dict[str, Any] = {}
    read_only = entry.read_only
    if entry.spec is not None:
        spec_path = ctx.resolve((*loc, "spec"), entry.spec, must_exist=True)
        spec = load_spec_file(spec_path)
        kwargs["parameters"] = spec.parameters
        if spec.description is not None:
            kwargs["description"] = spec.description
        if read_only is None:
            read_only = spec.read_only
    if entry.timeout_s is not None:
        kwargs["timeout_s"] = entry.timeout_s
    try:
        return tool_from_function(fn, read_only=bool(read_only), **kwargs)
    except (TypeError, ValueError) as exc:
        raise ctx.doc.error((*loc, "python"), f"cannot build a tool: {exc}") from exc


def load_spec_file(path: Path) -> ToolSpecFile:
    """Load a ``spec:`` file; ``parameters`` must be a valid JSON Schema of type object."""
    doc = load_yaml(path)
    spec = validate_document(doc, ToolSpecFile)
    try:
        jsonschema.validators.validator_for(spec.parameters).check_schema(spec.parameters)
    except jsonschema.SchemaError as exc:
        where = ("parameters", *(p for p in exc.path if isinstance(p, str | int)))
        raise doc.error(where, f"not a valid JSON Schema: {exc.message}") from exc
    if spec.parameters.get("type") != "object":
        raise doc.error(
            ("parameters", "type"), "tool parameters must be a JSON Schema of type object"
        )
    return spec
