"""Resolve ``python: module:function`` references against an allowlist.

A reference may name a module under the config root, or a module of a package the user
allowed by name: ``allow_packages:`` in ``framework.yaml`` or the agent's file, or
``nexforge --allow-package NAME`` (which sets ``NEXFORGE_ALLOW_PACKAGES``). Everything
else is refused: installed packages are full of functions that run code
(``hypothesis.internal.reflection:source_exec_as_module`` ran ``os.system`` as a tool), so
no list of forbidden modules can be complete. The standard library can never be allowed.
The target's ``__module__`` is held to the same rule, so a root module cannot re-export a
function from a package that is not allowed.

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
import os
import re
import sys
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from nexforge.runtime.config.paths import PathEscapeError, resolve_inside

ALLOW_PACKAGES_ENV = "NEXFORGE_ALLOW_PACKAGES"
"""Comma-separated packages every config may reference (``nexforge --allow-package``)."""
MODULE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
_MODULE_NAME = re.compile(MODULE_NAME_PATTERN)
_FORBIDDEN_TOP_LEVEL = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)
_ROOT_MODULE_PREFIX = "_nexforge_cfg_"


class PythonRefError(ValueError):
    """A ``module:function`` reference cannot be used as a tool."""


def is_stdlib(module_name: str) -> bool:
    return module_name.partition(".")[0] in _FORBIDDEN_TOP_LEVEL


def package_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an allowed package, or None when it can."""
    if not _MODULE_NAME.match(name):
        return f"{name!r} is not a module name (expected e.g. mypkg or mypkg.tools)"
    if is_stdlib(name):
        return f"{name!r} is part of the Python standard library, which is never allowed"
    return None


def env_allowed_packages(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The packages ``NEXFORGE_ALLOW_PACKAGES`` allows; PythonRefError on a bad entry."""
    raw = (os.environ if environ is None else environ).get(ALLOW_PACKAGES_ENV, "")
    names = frozenset(part.strip() for part in raw.split(",") if part.strip())
    for name in sorted(names):
        problem = package_name_problem(name)
        if problem is not None:
            raise PythonRefError(f"{ALLOW_PACKAGES_ENV}: {problem}")
    return names


def in_packages(module_name: str, packages: Collection[str]) -> bool:
    """Whether ``module_name`` is one of ``packages`` or inside one of them."""
    return any(module_name == p or module_name.startswith(p + ".") for p in packages)


def resolve_python_ref(
    ref: str,
    root: Path,
    module_cache: dict[Path, ModuleType] | None = None,
    *,
    allow_packages: Collection[str] = (),
) -> Callable[..., Any]:
    """Return the function named by ``ref`` (``module.path:function``).

    The module must be under ``root`` or inside one of ``allow_packages``. ``module_cache``
    maps already imported root files to their modules so one load imports each file once.
    Raises PythonRefError with a one-line reason.
    """
    module_name, _, attr = ref.partition(":")
    if is_stdlib(module_name):
        raise PythonRefError(
            f"{module_name!r} is part of the Python standard library; "
            "tools must come from the config root or an allowed package"
        )
    cache = {} if module_cache is None else module_cache
    if _root_module_file(module_name, root) is None and not in_packages(
        module_name, allow_packages
    ):
        top = module_name.partition(".")[0]
        # Only the top-level name is looked up: finding a submodule would import (run)
        # the package of a module that is not allowed.
        if _find_installed(top) is None:
            raise PythonRefError(
                f"module {module_name!r} not found under the config root {root} "
                "nor among installed packages"
            )
        raise PythonRefError(
            f"{module_name!r} is not a module under the config root {root} nor in an allowed "
            f"package (to trust it: `allow_packages: [{top}]` in framework.yaml or this file, "
            f"or `nexforge --allow-package {top}`)"
        )
    module = import_module_ref(module_name, root, cache)
    target = getattr(module, attr, None)
    if target is None:
        raise PythonRefError(f"module {module_name!r} has no attribute {attr!r}")
    if inspect.isclass(target) or not callable(target):
        raise PythonRefError(f"{ref!r} is a {type(target).__name__}, expected a function")
    origin = getattr(target, "__module__", None)
    if not isinstance(origin, str):
        raise PythonRefError(f"{ref!r} does not say which module defines it")
    if is_stdlib(origin):
        raise PythonRefError(f"{ref!r} is a re-export of standard library {origin}.{attr}")
    if not (_is_root_module(origin, root) or in_packages(origin, allow_packages)):
        raise PythonRefError(
            f"{ref!r} is a re-export of {origin}.{attr}, from a package that is not allowed"
        )
    fn: Callable[..., Any] = target
    return fn


def import_module_ref(module_name: str, root: Path, cache: dict[Path, ModuleType]) -> ModuleType:
    """The module ``module_name``: its file under ``root`` if there is one, else the
    installed module (the caller decides whether an installed module may be used)."""
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


def _is_root_module(module_name: str, root: Path) -> bool:
    """A module imported from a file under ``root`` (by location, or as a sibling import)."""
    if module_name.startswith(_ROOT_MODULE_PREFIX):
        return True
    file = getattr(sys.modules.get(module_name), "__file__", None)
    return isinstance(file, str) and Path(file).resolve().is_relative_to(root)


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
    unique = f"{_ROOT_MODULE_PREFIX}{digest}_{module_name.replace('.', '_')}"
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
