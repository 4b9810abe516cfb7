"""Options of built-in tools as given in agent YAML: validated, with one-line errors."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nexforge.core.durations import Seconds
from nexforge.tools.base import DEFAULT_MAX_OUTPUT_CHARS, DEFAULT_TOOL_TIMEOUT_S


class CommonOptions(BaseModel):
    """Every built-in accepts these."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: Seconds = DEFAULT_TOOL_TIMEOUT_S
    max_output_chars: int = Field(default=DEFAULT_MAX_OUTPUT_CHARS, gt=0)


OptionsT = TypeVar("OptionsT", bound=CommonOptions)


def parse_options(tool: str, model: type[OptionsT], options: dict[str, Any] | None) -> OptionsT:
    """``options`` as ``model``; ValueError naming the tool and the option otherwise."""
    try:
        return model.model_validate(options or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            known = ", ".join(sorted(model.model_fields))
            raise ValueError(
                f"built-in tool '{tool}' has no option '{key}' (options: {known})"
            ) from None
        raise ValueError(f"built-in tool '{tool}': option '{key}': {first['msg']}") from None
