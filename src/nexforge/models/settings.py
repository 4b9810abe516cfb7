"""ModelSettings: how a config names a model (the YAML ``model:`` block or a ``--model`` SPEC)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from nexforge.core.durations import Seconds

Provider = Literal["openai", "local"]
DEFAULT_CONTEXT_LENGTH = 32_768


class ModelSettings(BaseModel):
    """``{provider, base_url, api_key, model, path, temperature, max_tokens}``.

    For ``openai`` a missing ``base_url``/``model``/``api_key`` falls back to
    ``NEXFORGE_BASE_URL``/``NEXFORGE_MODEL``/``NEXFORGE_API_KEY``. ``fallback_base_urls``
    lists further endpoints tried in order when one fails (failover).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    provider: Provider = "openai"
    base_url: str | None = None
    fallback_base_urls: list[str] = []
    api_key: str | None = None
    model: str | None = None
    path: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout_s: Seconds = 120.0
    max_retries: int = 4
    context_length: int = DEFAULT_CONTEXT_LENGTH
