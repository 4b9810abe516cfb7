"""The exceptions NexForge raises to its callers.

Each carries a message fit for one line of output. Errors shown to a *model* are never
exceptions: they are tool messages with ``is_error=True`` (see ``nexforge.tools``).
"""

from __future__ import annotations

from pathlib import Path


class NexForgeError(Exception):
    """Base class of every error NexForge raises on purpose."""


class ConfigError(NexForgeError):
    """A configuration file is wrong: names the file, the line and the key when known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.key = key
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"


class ModelError(NexForgeError):
    """A model request failed for good (after retries and failover)."""


class ModelTimeoutError(ModelError):
    """A model request exceeded its wall-clock timeout."""


class ModelBusyError(ModelError):
    """A model refused a request because its queue is full; retrying later may succeed."""


class ModelHTTPError(ModelError):
    """An endpoint answered with an HTTP error status."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"HTTP {status}: {message}")


class ModelResponseError(ModelError):
    """An endpoint answered with a body that is not a valid completion."""


class ModelNotConfiguredError(NexForgeError):
    """No model could be resolved for an agent."""


class ToolCallFormatError(NexForgeError):
    """Model text looked like a tool call but could not be parsed; the message goes to the model."""


class ScriptError(AssertionError):
    """A ScriptedModel was called in a way its script did not allow (a test failure)."""


def describe_error(exc: BaseException) -> str:
    """``Type: message`` on one line (just ``Type`` when the message is empty)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
