"""System prompts: the agent's Jinja template, rendered in a sandbox, plus the tool section."""

from __future__ import annotations

import datetime
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from nexforge.core.errors import ConfigError
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
    source: str | None = None,
) -> str:
    """Render with ``agent``, ``description``, ``tools``, ``today`` and the agent's own vars.

    A template that fails (the loader catches what it can see without rendering) is a
    ConfigError naming ``source``, the agent's file, and the line in the template.
    """
    if "{" not in template:  # the common case: plain text, no template work at all
        return template
    context: dict[str, Any] = {
        "agent": agent,
        "description": description,
        "tools": [t.model_dump() for t in tools],
        "today": datetime.date.today().isoformat(),
        **variables,
    }
    try:
        return _template(template).render(context).strip()
    except TemplateError as exc:
        line = _template_line(exc)
        where = f" (line {line} of the template)" if line is not None else ""
        raise ConfigError(
            f"cannot render the system prompt{where}: {exc}", file=source, key="system_prompt"
        ) from exc


def _template_line(exc: BaseException) -> int | None:
    """The template line Jinja put in the traceback (its frames are named ``<template>``)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
