"""Model resolution: which Model an agent talks to. First match wins:

1. the override (the CLI's ``--model``);
2. the agent's own ``model:`` (a Model, or settings to build one);
3. the parent agent's model (sub-agents inherit);
4. ``NEXFORGE_BASE_URL`` + ``NEXFORGE_MODEL`` (+ optional ``NEXFORGE_API_KEY``);
5. the embedded local model — not available yet: a clear error says how to configure one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from nexforge.core.errors import ModelNotConfiguredError
from nexforge.models.base import Model
from nexforge.models.settings import ModelSettings

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
    ) -> None:
        self._override = override
        self._env = os.environ if env is None else env

    def resolve(
        self, agent: str, agent_model: Model | ModelSettings | None, parent: Model | None
    ) -> Model:
        for candidate in (self._override, agent_model):
            if candidate is not None:
                return self._materialise(candidate, agent)
        if parent is not None:
            return parent
        if self._env.get("NEXFORGE_BASE_URL") and self._env.get("NEXFORGE_MODEL"):
            return self._materialise(ModelSettings(provider="openai"), agent)
        raise ModelNotConfiguredError(
            f"no model configured for agent {agent!r} (the embedded local model is not "
            f"available yet): {HOW_TO_CONFIGURE}"
        )

    def _materialise(self, candidate: Model | ModelSettings, agent: str) -> Model:
        if not isinstance(candidate, ModelSettings):
            return candidate
        settings = self._with_env(candidate)
        key = settings.model_dump_json()
        model = _shared_models.get(key)
        if model is None:
            model = _shared_models[key] = self._build(settings, agent)
        return model

    def _with_env(self, settings: ModelSettings) -> ModelSettings:
        if settings.provider != "openai":
            return settings
        return settings.model_copy(
            update={
                "base_url": settings.base_url or self._env.get("NEXFORGE_BASE_URL"),
                "model": settings.model or self._env.get("NEXFORGE_MODEL"),
                "api_key": settings.api_key or self._env.get("NEXFORGE_API_KEY"),
            }
        )

    def _build(self, settings: ModelSettings, agent: str) -> Model:
        if settings.provider == "local":
            raise ModelNotConfiguredError(
                f"agent {agent!r} asks for the local provider, which is not available yet: "
                f"{HOW_TO_CONFIGURE}"
            )
        from nexforge.models.openai import OpenAIChatModel

        try:
            return OpenAIChatModel.from_settings(settings)
        except ModelNotConfiguredError as exc:
            raise ModelNotConfiguredError(f"agent {agent!r}: {exc}") from exc
