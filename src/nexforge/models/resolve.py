"""Model resolution: which Model an agent talks to. First match wins:

1. the override (the CLI's ``--model``);
2. the agent's own ``model:`` (a Model, or settings to build one);
3. the parent agent's model (sub-agents inherit);
4. ``NEXFORGE_BASE_URL`` + ``NEXFORGE_MODEL`` (+ optional ``NEXFORGE_API_KEY``);
5. the embedded local model (``tiny``), if installed; else a clear error says how to get
   it or how to configure an endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from nexforge.core.errors import ModelNotConfiguredError
from nexforge.models.base import Model
from nexforge.models.install import ModelFileError
from nexforge.models.settings import ModelSettings

EMBEDDED_DEFAULT = "tiny"
HOW_TO_CONFIGURE = (
    "set NEXFORGE_BASE_URL and NEXFORGE_MODEL (and NEXFORGE_API_KEY if the endpoint needs "
    "one) to any OpenAI-compatible endpoint, add a `model:` block to the agent's YAML, or "
    "pass --model openai:NAME"
)


# Models built from settings are shared by every run in the process: concurrent runs then
# share one connection pool per event loop instead of opening one each.
_shared_models: dict[str, Model] = {}


class ModelResolver:
    """Resolves agents' models for one run; equal settings share one Model process-wide."""

    def __init__(
        self,
        override: Model | ModelSettings | None = None,
        *,
        env: Mapping[str, str] | None = None,
        wrap: Callable[[Model], Model] | None = None,
    ) -> None:
        self._override = override
        self._env = os.environ if env is None else env
        self._wrap = wrap
        self._wrapped: dict[int, Model] = {}

    def resolve(
        self, agent: str, agent_model: Model | ModelSettings | None, parent: Model | None
    ) -> Model:
        for candidate in (self._override, agent_model):
            if candidate is not None:
                return self._wrapped_model(self._materialise(candidate, agent))
        if parent is not None:
            return parent
        if self._env.get("NEXFORGE_BASE_URL"):
            if not self._env.get("NEXFORGE_MODEL"):
                # Half a configuration is a mistake, not a request for the embedded model.
                raise ModelNotConfiguredError(
                    "NEXFORGE_BASE_URL is set but NEXFORGE_MODEL is not: set both to use the "
                    "endpoint, or unset NEXFORGE_BASE_URL to use the embedded model"
                )
            return self._wrapped_model(self._materialise(ModelSettings(provider="openai"), agent))
        try:
            local = self._materialise(
                ModelSettings(provider="local", model=EMBEDDED_DEFAULT), agent
            )
            return self._wrapped_model(local)
        except ModelFileError as exc:
            raise ModelNotConfiguredError(
                f"no model configured for agent {agent!r} and the embedded model is not "
                f"available ({exc}); or {HOW_TO_CONFIGURE}"
            ) from exc

    def _wrapped_model(self, model: Model) -> Model:
        """``wrap(model)``, made once per underlying model for the life of this resolver."""
        if self._wrap is None:
            return model
        wrapped = self._wrapped.get(id(model))
        if wrapped is None:
            wrapped = self._wrapped[id(model)] = self._wrap(model)
        return wrapped

    def _materialise(self, candidate: Model | ModelSettings, agent: str) -> Model:
        if not isinstance(candidate, ModelSettings):
            return candidate
        if candidate.provider == "local":
            # Resolve the file every time (a stat); LocalModel.shared keeps one per file.
            return _local_model(candidate)
        settings = self._with_env(candidate)
        key = settings.model_dump_json()
        model = _shared_models.get(key)
        if model is None:
            model = _shared_models[key] = self._build(settings, agent)
        return model

    def _with_env(self, settings: ModelSettings) -> ModelSettings:
        return settings.model_copy(
            update={
                "base_url": settings.base_url or self._env.get("NEXFORGE_BASE_URL"),
                "model": settings.model or self._env.get("NEXFORGE_MODEL"),
                "api_key": settings.api_key or self._env.get("NEXFORGE_API_KEY"),
            }
        )

    def _build(self, settings: ModelSettings, agent: str) -> Model:
        from nexforge.models.openai import OpenAIChatModel

        try:
            return OpenAIChatModel.from_settings(settings)
        except ModelNotConfiguredError as exc:
            raise ModelNotConfiguredError(f"agent {agent!r}: {exc}") from exc


def _local_model(settings: ModelSettings) -> Model:
    """The embedded llama.cpp provider; deterministic (temperature 0) unless told otherwise."""
    from nexforge.models.install import resolve_model_file
    from nexforge.models.local import LocalModel

    path = resolve_model_file(settings.path or settings.model or EMBEDDED_DEFAULT)
    options: dict[str, float | int] = {
        "temperature": 0.0 if settings.temperature is None else settings.temperature,
        "timeout_s": settings.timeout_s,
    }
    if settings.max_tokens is not None:
        options["default_max_tokens"] = settings.max_tokens
    return LocalModel.shared(path, **options)
