"""``${env.NAME}`` substitution inside YAML string values.

``${env.NAME}`` is replaced by the variable's value, ``${env.NAME:-default}`` falls back to
``default`` when the variable is unset or empty, and ``$${`` writes a literal ``${``. Any
other ``${...}`` is left alone so prompts can mention shell syntax.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_PATTERN = re.compile(r"\$\$\{|\$\{env\.([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class UnsetEnvVarError(LookupError):
    """A ``${env.NAME}`` reference without a default names an unset variable."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)


def expand_env(text: str, environ: Mapping[str, str]) -> str:
    """Return ``text`` with every ``${env.NAME}`` reference replaced."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "${"
        value = environ.get(name)
        default = match.group(2)
        if default is not None and not value:
            return default
        if value is None:
            raise UnsetEnvVarError(name)
        return value

    return _PATTERN.sub(replace, text)
