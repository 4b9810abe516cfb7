"""Pure data shared by every layer: messages, tool specs, trajectories, errors. No I/O."""

from nexforge.core.errors import (
    ConfigError,
    ModelBusyError,
    ModelError,
    ModelHTTPError,
    ModelNotConfiguredError,
    ModelResponseError,
    ModelTimeoutError,
    NexForgeError,
    ScriptError,
    ToolCallFormatError,
)
from nexforge.core.messages import Message, Role, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.core.trajectory import (
    STOP_REASONS,
    TRAJECTORY_SCHEMA_VERSION,
    Episode,
    Provenance,
    RunResult,
    Span,
    SpanKind,
    StopReason,
    Trajectory,
    Usage,
)

__all__ = [
    "STOP_REASONS",
    "TRAJECTORY_SCHEMA_VERSION",
    "ConfigError",
    "Episode",
    "Message",
    "ModelBusyError",
    "ModelError",
    "ModelHTTPError",
    "ModelNotConfiguredError",
    "ModelResponseError",
    "ModelTimeoutError",
    "NexForgeError",
    "Provenance",
    "Role",
    "RunResult",
    "ScriptError",
    "Span",
    "SpanKind",
    "StopReason",
    "ToolCall",
    "ToolCallFormatError",
    "ToolSpec",
    "Trajectory",
    "Usage",
]
