"""Tool-call codecs: how text-mode models write tool calls and read tool results.

``structured`` mode uses the provider's native ``tool_calls`` and has no codec; every other
format names a text codec used by the runtime for text-mode models and by the exporters.
"""

from __future__ import annotations

from collections.abc import Callable

from nexforge.models.codecs.base import (
    IdFactory,
    ParsedText,
    ToolCallCodec,
    new_call_id,
    to_wire,
)
from nexforge.models.codecs.coerce import coerce_arguments, coerce_value
from nexforge.models.codecs.hermes import HermesCodec
from nexforge.models.codecs.xml import XmlCodec

TEXT_FORMATS = ("xml", "hermes")
TOOL_CALL_FORMATS = ("structured", *TEXT_FORMATS)

_CODECS: dict[str, Callable[[], ToolCallCodec]] = {"xml": XmlCodec, "hermes": HermesCodec}


def get_codec(name: str) -> ToolCallCodec:
    """The codec for a text tool-call format; ValueError (never KeyError) names valid ones."""
    if name == "structured":
        raise ValueError(
            "tool call format 'structured' has no codec: it uses the model's native tool_calls"
        )
    factory = _CODECS.get(name)
    if factory is None:
        raise ValueError(
            f"unknown tool call format {name!r}; expected one of: {', '.join(TOOL_CALL_FORMATS)}"
        )
    return factory()


__all__ = [
    "TEXT_FORMATS",
    "TOOL_CALL_FORMATS",
    "HermesCodec",
    "IdFactory",
    "ParsedText",
    "ToolCallCodec",
    "XmlCodec",
    "coerce_arguments",
    "coerce_value",
    "get_codec",
    "new_call_id",
    "to_wire",
]
