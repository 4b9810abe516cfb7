"""Models: the Model protocol, providers and tool-call codecs."""

from nexforge.models.base import (
    FinishReason,
    Model,
    ModelRequest,
    ModelResponse,
    NamedToolChoice,
    Sampling,
    TokenUsage,
    ToolChoice,
)

__all__ = [
    "FinishReason",
    "Model",
    "ModelRequest",
    "ModelResponse",
    "NamedToolChoice",
    "Sampling",
    "TokenUsage",
    "ToolChoice",
]
