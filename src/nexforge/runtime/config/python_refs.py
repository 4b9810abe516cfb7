"""Resolve ``python: module:function`` references: from the root, else installed packages.

The standard library is never a valid source: a config must not be able to hand a model
``os:system`` or ``builtins:eval`` as a tool, so the module's top-level name and the
target's ``__module__`` are both checked against ``sys.stdlib_module_names``.

A module under the root is imported by file location under a unique name
(``_nexforge_cfg_<hash>_<module>``); the root sits on ``sys.path`` only while the module
executes, so its absolute imports of sibling modules work without leaving the path changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from nexforge.runtime.config.paths import PathEscapeError, resolve_inside

_FORBIDDEN_TOP_LEVEL = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)


class PythonRefError(ValueError):
    """A ``module:function`` reference cannot be used as a tool."""


def is_stdlib(module_name: str) -> bool:
    return module_name.partition(".")[0] in _FORBIDDEN_TOP_LEVEL


def resolve_python_ref(
    ref: str, root: Path, module_cache: dict[Path, ModuleType] | None = None
) -> Callable[..., Any]:
    """Return the function named by ``ref`` (``module.path:function``).

    ``module_cache`` maps already imported root files to their modules so one load imports
    each file once. Raises PythonRefError with a one-line reason.
    """
    module_name, _, attr = ref.partition(":")
    if is_stdlib(module_name):
        raise PythonRefError(
            f"{module_name!r} is part of the Python standard library; "
            "tools must come from the config root or an installed package"
        )
    module = import_module_ref(module_name, root, {} if module_cache is None else module_cache)
    target = getattr(module, attr, None)
    if target is None:
        raise PythonRefError(f"module {module_name!r} has no attribute {attr!r}")
    if inspect.isclass(target) or not callable(target):
        raise PythonRefError(f"{ref!r} is a {type(target).__name__}, expected a function")
    origin = getattr(target, "__module__", None)
    if isinstance(origin, str) and is_stdlib(origin):
        raise PythonRefError(f"{ref!r} is a re-export of standard library {origin}.{attr}")
    fn: Callable[..., Any] = target
    return fn


def import_module_ref(module_name: str, root: Path, cache: dict[Path, ModuleType]) -> ModuleType:
    file = _root_module_file(module_name, root)
    if file is not None:
        cached = cache.get(file)
        if cached is None:
            cached = cache[file] = _import_file(file, module_name, root)
        return cached
    if _find_installed(module_name) is None:
        raise PythonRefError(
            f"module {module_name!r} not found under the config root {root} "
            "nor among installed packages"
        )
    try:
        return importlib.import_module(module_name)
    except Exception as exc:  # any error raised by the user's module at import time
        raise PythonRefError(f"importing {module_name!r} failed: {_one_line(exc)}") from exc


def _root_module_file(module_name: str, root: Path) -> Path | None:
    relative = Path(*module_name.split("."))
    for candidate in (relative.with_suffix(".py"), relative / "__init__.py"):
        if not (root / candidate).is_file():
            continue
        try:
            return resolve_inside(root, root, str(candidate))
        except PathEscapeError as exc:
            raise PythonRefError(f"module {module_name!r}: {exc}") from exc
    return None


def _find_installed(module_name: str) -> object | None:
    try:
        return importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        # find_spec imports parent packages; a missing parent means "not installed".
        return None


def _import_file(file: Path, module_name: str, root: Path) -> ModuleType:
    digest = hashlib.sha256(str(file).encode()).hexdigest()[:12]
    unique = f"_nexforge_cfg_{digest}_{module_name.replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(unique, file)
    if spec is None or spec.loader is None:
        raise PythonRefError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    # Registered before executing: dataclasses and typing look the module up by name.
    sys.modules[unique] = module
    try:
        with _on_sys_path(root):
            spec.loader.exec_module(module)
    except Exception as exc:  # any error raised by the user's module at import time
        sys.modules.pop(unique, None)
        raise PythonRefError(f"importing {module_name!r} failed: {_one_line(exc)}") from exc
    return module


@contextlib.contextmanager
def _on_sys_path(folder: Path) -> Iterator[None]:
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
