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
    TurnLayout,
    new_call_id,
    render_assistant,
    to_wire,
)
from nexforge.models.codecs.coerce import coerce_arguments, coerce_value
from nexforge.models.codecs.deepseek import DeepSeekCodec
from nexforge.models.codecs.glm import GlmCodec
from nexforge.models.codecs.hermes import HermesCodec
from nexforge.models.codecs.minimax import MiniMaxCodec
from nexforge.models.codecs.qwen3_coder import Qwen3CoderCodec
from nexforge.models.codecs.xml import XmlCodec

_CODECS: dict[str, Callable[[], ToolCallCodec]] = {
    "xml": XmlCodec,
    "hermes": HermesCodec,
    "qwen3-coder": Qwen3CoderCodec,
    "glm": GlmCodec,
    "minimax": MiniMaxCodec,
    "deepseek": DeepSeekCodec,
}
TEXT_FORMATS = tuple(_CODECS)
TOOL_CALL_FORMATS = ("structured", *TEXT_FORMATS)


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
    "DeepSeekCodec",
    "GlmCodec",
    "HermesCodec",
    "IdFactory",
    "MiniMaxCodec",
    "ParsedText",
    "Qwen3CoderCodec",
    "ToolCallCodec",
    "TurnLayout",
    "XmlCodec",
    "coerce_arguments",
    "coerce_value",
    "get_codec",
    "new_call_id",
    "render_assistant",
    "to_wire",
]
