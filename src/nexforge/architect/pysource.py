"""Python source fragments for generated modules, laid out the way ``ruff format`` keeps them.

Everything a model wrote reaches generated code only through ``literal`` (a ``repr``,
checked by parsing it back) or ``doc_text`` (docstring text with no quote or backslash
left, so it cannot end the docstring). Identifiers are checked before they are emitted.

Layout: an expression is put on one line when it fits in ``LINE_LENGTH``; otherwise its
brackets are exploded one item per line with a trailing comma, which ``ruff format``
treats as "keep exploded". So the output is already a fixed point of the formatter.
"""

from __future__ import annotations

import ast
import keyword
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nexforge.architect.spec import is_identifier

LINE_LENGTH = 100
_TYPOGRAPHIC = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": "'", "\u201d": "'", "\u2013": "-", "\u2014": "-"}
)


def literal(value: Any) -> str:
    """A Python literal for a JSON-like value (str, int, float, bool, None, list, dict)."""
    if isinstance(value, str):
        text = _string(value)
    elif value is None or isinstance(value, bool | int):
        text = repr(value)
    elif isinstance(value, float):
        text = repr(value) if value == value and abs(value) != float("inf") else "None"
    elif isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    elif isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    else:
        raise TypeError(f"no literal for {type(value).__name__}")
    if ast.literal_eval(text) != value:
        raise ValueError(f"literal {text} does not round-trip")
    return text


def _string(value: str) -> str:
    # ruff format's choice: double quotes unless single quotes need fewer escapes.
    quote = "'" if value.count('"') > value.count("'") else '"'
    escaped = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", quote: "\\" + quote}
    body = "".join(escaped.get(ch, ch if ch.isprintable() else repr(ch)[1:-1]) for ch in value)
    return quote + body + quote


def identifier(name: str) -> str:
    """``name`` if it is an IDENTIFIER (a safe table, column or tool name); else ValueError."""
    if not is_identifier(name):
        raise ValueError(f"not an identifier: {name!r}")
    return name


def python_name(name: str) -> str:
    """``name`` as a Python name: an IDENTIFIER, ``_`` added after a keyword (``from_``)."""
    return f"{identifier(name)}_" if keyword.iskeyword(name) else name


def doc_text(text: str) -> str:
    """Model text made safe and tidy for a docstring: one line, no ``"`` or backslash."""
    text = text.translate(_TYPOGRAPHIC).replace('"', "'").replace("\\", "/")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())


def sentence(text: str) -> str:
    """``doc_text`` ending with a full stop (empty stays empty)."""
    text = doc_text(text)
    return text if not text or text[-1] in ".!?" else text + "."


def docstring(
    summary: str, args: list[tuple[str, str]], indent: int, *, more: Sequence[str] = ()
) -> list[str]:
    """A Google-style docstring (what ``tools.schema.parse_docstring`` reads), as lines:
    the summary, ``more`` paragraphs, then ``Args:``. All text goes through ``doc_text``."""
    pad = " " * indent
    summary = doc_text(summary) or "No description."
    width = LINE_LENGTH - indent
    one_line = f'{pad}"""{summary}"""'
    if not args and not more and len(one_line) <= LINE_LENGTH:
        return [one_line]
    wrapped = _wrap(summary, width - 3)
    lines = [f'{pad}"""{wrapped[0]}', *(f"{pad}{w}" for w in wrapped[1:])]
    for paragraph in more:
        lines += ["", *(f"{pad}{w}" for w in _wrap(doc_text(paragraph), width))]
    if args:
        lines += ["", f"{pad}Args:"]
        for name, description in args:
            entry = _wrap(f"{_parameter(name)}: {doc_text(description)}", width - 4)
            lines.append(f"{pad}    {entry[0]}")
            lines += [f"{pad}        {w}" for w in _wrap(" ".join(entry[1:]), width - 8)]
    lines.append(f'{pad}"""')
    for line in lines:
        if '"' in line.strip().strip('"') or "\\" in line:
            raise ValueError(f"unsafe docstring line: {line!r}")
    return lines


def _parameter(name: str) -> str:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"not a parameter name: {name!r}")
    return name


def _wrap(text: str, width: int) -> list[str]:
    if not text:
        return []
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]


@dataclass(frozen=True)
class Brackets:
    """A bracketed expression: ``open`` + items + ``close``, e.g. a call or a dict.

    An item is source text or a nested ``Brackets``, optionally after a ``prefix`` such as
    ``"key": `` (see ``Item``). ``explode`` forces one item per line.
    """

    open: str
    items: list[Item]
    close: str
    explode: bool = False


@dataclass(frozen=True)
class Item:
    value: str | Brackets
    prefix: str = ""


def call(function: str, *args: str | Brackets | Item) -> Brackets:
    return Brackets(f"{function}(", [_item(a) for a in args], ")")


def dict_of(pairs: Mapping[str, str | Brackets], *, explode: bool = False) -> Brackets:
    """A dict literal; keys are taken as strings to quote, values as source."""
    return Brackets("{", [Item(v, f"{literal(k)}: ") for k, v in pairs.items()], "}", explode)


def list_of(values: list[str], *, explode: bool = False) -> Brackets:
    return Brackets("[", [Item(v) for v in values], "]", explode)


def value_expr(value: Any) -> str | Brackets:
    """A JSON-like value as an expression whose lists and dicts ``statement`` can explode."""
    if isinstance(value, list) and value:
        return Brackets("[", [Item(value_expr(v)) for v in value], "]")
    if isinstance(value, dict) and value:
        items = [Item(value_expr(v), f"{literal(str(k))}: ") for k, v in value.items()]
        return Brackets("{", items, "}")
    return literal(value)


def _item(value: str | Brackets | Item) -> Item:
    return value if isinstance(value, Item) else Item(value)


def flat(expr: str | Brackets) -> str:
    if isinstance(expr, str):
        return expr
    return expr.open + ", ".join(i.prefix + flat(i.value) for i in expr.items) + expr.close


def statement(expr: str | Brackets, indent: int, prefix: str = "", suffix: str = "") -> list[str]:
    """``prefix + expr + suffix`` at ``indent``: one line if it fits, else exploded."""
    pad = " " * indent
    one = pad + prefix + flat(expr) + suffix
    if isinstance(expr, str):
        inner = " " * (indent + 4) + expr
        if len(one) > LINE_LENGTH and prefix.endswith(" = ") and len(inner) <= LINE_LENGTH:
            return [pad + prefix + "(", inner, pad + ")" + suffix]  # what ruff does
        return [one]
    if not expr.items or (len(one) <= LINE_LENGTH and not expr.explode):
        return [one]
    lines = [pad + prefix + expr.open]
    for item in expr.items:
        lines += statement(item.value, indent + 4, item.prefix, ",")
    lines.append(pad + expr.close + suffix)
    return lines
