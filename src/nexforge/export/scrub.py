"""Secrets out of exported data: known token shapes, ``password=``-style assignments and the
values of secret-named environment variables, each replaced by ``[REDACTED]``.

Runs on each sample's JSON text, so no pattern may cross a ``"`` or a backslash escape: a
match stays inside one JSON string and ``[REDACTED]`` needs no escaping.

Speed matters (every sample passes through here): token shapes and env values are one
combined regex whose branches all start with a literal character, so ``re`` skips ahead
on a first-character set instead of trying every branch at every position (~20x faster;
hence word boundaries are checked on the rare matches, not with ``\\b``). Assignment names
start with common letters and would undo that, so their regex runs only on texts that
mention one (a lower-cased substring check).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"
MIN_ENV_VALUE = 8
SECRET_ENV_NAME = re.compile(
    r"(?:^|[_.-])[A-Z0-9]*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|CREDENTIAL)S?(?:$|[_.-])",
    re.IGNORECASE,
)
"""A name part (between ``_ . -``) ending in a secret word: ``OPENAI_API_KEY``, ``PGPASSWORD``,
``DB_PASS``, ``GOOGLE_CREDENTIALS``; not ``TOKENIZERS_PARALLELISM``, ``TOX_TESTENV_PASSENV``."""

TOKEN_PATTERNS: dict[str, str] = {
    "private key": (
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:[^\"\\]|\\.)*?"
        r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----"
    ),
    "openai / anthropic": r"sk-[A-Za-z0-9_\-]{20,}",
    "github": r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}",
    "aws access key": r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z])",
    "slack": r"xox[abposr]-[A-Za-z0-9\-]{10,}",
    "hugging face": r"hf_[A-Za-z0-9]{30,}",
    "google": r"AIza[0-9A-Za-z_\-]{35}",
    "bearer": r"Bearer[ \t]+[A-Za-z0-9._~+/\-]{8,}=*",
}
"""Token shapes (a ``Bearer `` prefix is kept, the rest replaced whole)."""

ASSIGNMENT = re.compile(
    r"(?P<name>(?:password|passwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token)"
    r"(?:\\?[\"'])?[ \t]*[:=][ \t]*(?:\\?[\"'])?)[^\s\"'\\,;&<>{}\[\]]{6,}",
    re.IGNORECASE,
)
"""``password=v``, ``API_KEY: 'v'``, ``"apiKey": "v"`` (also ``client_secret``): the name stays."""


ASSIGNMENT_STARTS = ("passw", "secret", "api", "access", "auth")
"""Where an assignment can start, lower-cased: found with ``str.find``, then matched there."""
_BEARER = re.compile(r"Bearer[ \t]+")


def secret_env_values(environ: Mapping[str, str]) -> list[str]:
    """Values (>= 8 chars) of variables whose names look secret, longest first."""
    values = {
        value
        for name, value in environ.items()
        if SECRET_ENV_NAME.search(name) and len(value) >= MIN_ENV_VALUE
    }
    return sorted(values, key=len, reverse=True)


def _inside_word(text: str, start: int, *, underscore: bool) -> bool:
    """Whether ``text[start]`` continues a word (a JSON escape such as ``\\n`` does not)."""
    if start == 0:
        return False
    before = text[start - 1]
    if before.isalnum():
        return not (start > 1 and text[start - 2] == "\\")
    return underscore and before == "_"


class Scrubber:
    """Replace secrets with ``[REDACTED]``; ``environ`` defaults to the process environment."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        # Values as they appear inside a JSON string (quotes and backslashes escaped).
        self._literals = {
            json.dumps(value, ensure_ascii=False)[1:-1]
            for value in secret_env_values(os.environ if environ is None else environ)
        }
        literals = [re.escape(v) for v in sorted(self._literals, key=len, reverse=True)]
        self._pattern = re.compile("|".join([*literals, *TOKEN_PATTERNS.values()]))

    def scrub(self, text: str) -> tuple[str, int]:
        """``text`` with every secret replaced, and how many were."""
        found = 0

        def token(match: re.Match[str]) -> str:
            nonlocal found
            secret = match.group()
            if secret not in self._literals and _inside_word(text, match.start(), underscore=True):
                return secret  # "task-..." holds "sk-" but is no key
            found += 1
            bearer = _BEARER.match(secret)
            return (bearer.group() if bearer else "") + REDACTED

        scrubbed = self._pattern.sub(token, text)
        lowered = scrubbed.lower()
        if len(lowered) != len(scrubbed):  # a letter whose lower case is longer: no offsets
            starts = [m.start() for m in ASSIGNMENT.finditer(scrubbed)]
        else:
            starts = sorted({i for name in ASSIGNMENT_STARTS for i in _find_all(lowered, name)})
        if not starts:
            return scrubbed, found
        pieces: list[str] = []
        done = 0
        for start in starts:
            match = ASSIGNMENT.match(scrubbed, start) if start >= done else None
            if match is None or _inside_word(scrubbed, start, underscore=False):
                continue
            pieces += [scrubbed[done : match.end("name")], REDACTED]
            done = match.end()
            found += 1
        return "".join([*pieces, scrubbed[done:]]), found

    def scrub_value(self, value: Any) -> tuple[Any, int]:
        """``value`` with each string in it scrubbed on its own (the slow, always-valid path).

        For the rare text where a fast whole-text match broke the JSON (an env value that
        is also a number, or that ends inside an escape): a string that cannot be scrubbed
        cleanly is replaced whole.
        """
        if isinstance(value, str):
            scrubbed, found = self.scrub(json.dumps(value, ensure_ascii=False))
            if not found:
                return value, 0
            try:
                return json.loads(scrubbed), found
            except ValueError:
                return REDACTED, found
        if isinstance(value, dict):
            pairs = [(key, self.scrub_value(item)) for key, item in value.items()]
            return {key: item for key, (item, _) in pairs}, sum(n for _, (_, n) in pairs)
        if isinstance(value, list):
            items = [self.scrub_value(item) for item in value]
            return [item for item, _ in items], sum(n for _, n in items)
        return value, 0


def _find_all(text: str, needle: str) -> list[int]:
    found: list[int] = []
    at = text.find(needle)
    while at >= 0:
        found.append(at)
        at = text.find(needle, at + 1)
    return found
