"""Turn a ``--model SPEC`` into a Model, the way every other command resolves one."""

from __future__ import annotations

from nexforge.core.errors import NexForgeError
from nexforge.evaluation.results import EvalError
from nexforge.models.base import Model
from nexforge.models.resolve import ModelResolver
from nexforge.runtime.config import parse_model_spec


def model_from_spec(spec: str | None, *, role: str = "agent", option: str = "--model") -> Model:
    """``openai:NAME``, ``local:tiny|small|PATH.gguf``, ``default`` or None (env, embedded).

    Raises EvalError naming the option for a bad spec or a model that is not available.
    """
    try:
        settings = None if spec is None else parse_model_spec(spec)
    except ValueError as exc:
        raise EvalError(f"{option}: {exc}") from exc
    try:
        return ModelResolver(settings).resolve(role, None, None)
    except NexForgeError as exc:
        raise EvalError(f"{option}: {exc}") from exc
