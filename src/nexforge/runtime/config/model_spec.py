"""Model SPEC strings, shared by the YAML ``model:`` key and the CLI's ``--model`` flag."""

from __future__ import annotations

from nexforge.models.settings import ModelSettings

LOCAL_MODELS = ("tiny", "small")
SPEC_FORMS = "openai:NAME, local:tiny, local:small, local:/path/model.gguf or default"


def parse_model_spec(spec: str) -> ModelSettings | None:
    """Parse a SPEC: ``openai:NAME``, ``local:tiny|small``, ``local:PATH.gguf`` or ``default``.

    ``default`` returns None so model resolution decides later (parent, env, embedded).
    An ``openai`` spec names only the model: the endpoint comes from the environment.
    Raises ValueError naming the accepted forms for anything else.
    """
    text = spec.strip()
    if text == "default":
        return None
    provider, sep, rest = text.partition(":")
    rest = rest.strip()
    if sep and rest:
        if provider == "openai":
            return ModelSettings(provider="openai", model=rest)
        if provider == "local" and rest in LOCAL_MODELS:
            return ModelSettings(provider="local", model=rest)
        if provider == "local" and rest.lower().endswith(".gguf"):
            return ModelSettings(provider="local", path=rest)
    raise ValueError(f"invalid model spec {spec!r}; expected {SPEC_FORMS}")
