"""System prompts: the agent's Jinja template, rendered in a sandbox, plus the tool section."""

from __future__ import annotations

import datetime
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment

from nexforge.core.tools import ToolSpec

PROMPT_BUILTINS = frozenset({"agent", "description", "tools", "today"})
"""Variables every system prompt may use, besides the agent's own ``prompt_vars``."""
_ENV = SandboxedEnvironment(
    undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False
)


@lru_cache(maxsize=512)
def _template(source: str) -> Template:
    return _ENV.from_string(source)


def render_system_prompt(
    template: str,
    *,
    agent: str,
    description: str,
    tools: list[ToolSpec],
    variables: dict[str, Any],
) -> str:
    """Render with ``agent``, ``description``, ``tools``, ``today`` and the agent's own vars."""
    if "{" not in template:  # the common case: plain text, no template work at all
        return template
    context: dict[str, Any] = {
        "agent": agent,
        "description": description,
        "tools": [t.model_dump() for t in tools],
        "today": datetime.date.today().isoformat(),
        **variables,
    }
    return _template(template).render(context).strip()
