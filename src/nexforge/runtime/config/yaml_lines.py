"""Load a YAML file into plain Python values while remembering the line of every key.

PyYAML's constructors forget where values came from, so this walks the composed node tree
itself (``yaml.compose`` with ``SafeLoader``). Every location is a path of keys and list
indices, e.g. ``("tools", 2, "builtin")``; errors are reported at the closest known line.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nexforge.core.errors import ConfigError
from nexforge.runtime.config.env_vars import UnsetEnvVarError, expand_env

Loc = tuple[str | int, ...]

# No real config comes near these; each keeps a hostile file from costing minutes and
# gigabytes (a 60 MB file took 85 s and 590 MB) or the parser's stack (deep nesting).
MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 100
# Aliases can expand a small file exponentially ("billion laughs").
MAX_NODES = 100_000
# Numbers reach clocks, rlimits and C calls: infinity or 1e300 there is an OverflowError
# at run time instead of an error here. Fields with a natural bound (timeouts) have their own.
MAX_NUMBER = 10**15


def format_loc(loc: Loc) -> str:
    """``("tools", 2, "builtin")`` -> ``"tools[2].builtin"`` (indices are 0-based)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass
class YamlDocument:
    """A loaded YAML file: its data plus the 1-based line of each location."""

    file: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    # For string values: the line where the text itself starts (after a ``|`` or ``>``).
    text_lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """The line of ``loc`` or, when it has none (e.g. a missing key), of its nearest parent."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        return None

    def error(self, loc: Loc, message: str) -> ConfigError:
        """A ConfigError for ``loc`` in this file."""
        return ConfigError(
            message, file=self.file, line=self.line_of(loc), key=format_loc(loc) or None
        )


def load_yaml(path: Path, *, environ: Mapping[str, str] | None = None) -> YamlDocument:
    """Parse ``path``; duplicate keys, non-scalar keys, unset env variables and files too
    large or too deeply nested are ConfigErrors."""
    text = read_config_text(path)
    try:
        root = yaml.compose(text, Loader=_BoundedLoader)
    except _TooLargeError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise ConfigError(str(exc.problem), file=path, line=line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"YAML syntax error: {problem}", file=path, line=line) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML syntax error: {exc}", file=path) from exc
    doc = YamlDocument(file=path, data=None)
    if root is None:
        return doc
    builder = _Builder(doc, os.environ if environ is None else environ)
    doc.data = builder.build(root, ())
    return doc


def read_config_text(path: Path) -> str:
    """The UTF-8 text of a config file (YAML or prompt) of at most ``MAX_FILE_BYTES``."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc}", file=path) from exc
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            f"file too large: a config file may hold at most {MAX_FILE_BYTES // 1024} KiB",
            file=path,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read file: {exc}", file=path) from exc


class _TooLargeError(yaml.MarkedYAMLError):
    """The document nests deeper than ``MAX_DEPTH`` or holds more than ``MAX_NODES`` values."""


class _BoundedLoader(yaml.SafeLoader):
    """Composition recurses once per level of nesting and costs time per value: stop a
    hostile document at the bound instead of after the stack or the whole file."""

    _depth = 0
    _nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        self._nodes += 1
        try:
            problem = None
            if self._depth > MAX_DEPTH:
                problem = f"nested more than {MAX_DEPTH} levels deep"
            elif self._nodes > MAX_NODES:
                problem = f"document too large (more than {MAX_NODES} values)"
            if problem is not None:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise _TooLargeError(problem=problem, problem_mark=event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Builder:
    def __init__(self, doc: YamlDocument, environ: Mapping[str, str]) -> None:
        self.doc = doc
        self.environ = environ
        self.constructor = yaml.SafeLoader("")
        self.active: set[int] = set()
        self.count = 0

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.doc.error(loc, f"document too large (more than {MAX_NODES} values)")
        self.doc.lines.setdefault(loc, node.start_mark.line + 1)
        if id(node) in self.active:
            raise self.doc.error(loc, "recursive YAML alias")
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
            return self._scalar(node, loc)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                line = key_node.start_mark.line + 1
                raise ConfigError(
                    "keys must be plain strings",
                    file=self.doc.file,
                    line=line,
                    key=format_loc(loc) or None,
                )
            # The raw text, never a resolved bool/int: YAML 1.1 reads `on:` as True.
            key = str(key_node.value)
            child = (*loc, key)
            if key in out:
                first = self.doc.lines[child]
                self.doc.lines[child] = key_node.start_mark.line + 1
                raise self.doc.error(child, f"duplicate key (first defined on line {first})")
            self.doc.lines[child] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, child)
        return out

    def _scalar(self, node: yaml.Node, loc: Loc) -> Any:
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise self.doc.error(loc, f"invalid value: {problem}") from exc
        is_number = isinstance(value, float | int) and not isinstance(value, bool)
        if is_number and (not math.isfinite(value) or abs(value) > MAX_NUMBER):
            raise self.doc.error(
                loc, f"expected a finite number of at most {MAX_NUMBER:.0e} in magnitude"
            )
        if not isinstance(value, str):
            return value
        block = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
        self.doc.text_lines[loc] = node.start_mark.line + (2 if block else 1)
        try:
            return expand_env(value, self.environ)
        except UnsetEnvVarError as exc:
            hint = f"use ${{env.{exc.name}:-default}} for a default, $${{ for a literal"
            raise self.doc.error(
                loc, f"environment variable {exc.name} is not set ({hint})"
            ) from exc
