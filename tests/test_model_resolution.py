"""Model resolution, first match wins: override, agent, parent, environment, (embedded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexforge.core import ModelNotConfiguredError, NexForgeError
from nexforge.models.local import LocalModel
from nexforge.models.openai import OpenAIChatModel
from nexforge.models.resolve import ModelResolver
from nexforge.models.settings import ModelSettings
from nexforge.runtime import Agent
from nexforge.testing import MockOpenAIServer, MockReply, ScriptedModel, say

ENV = {"NEXFORGE_BASE_URL": "http://127.0.0.1:9/v1", "NEXFORGE_MODEL": "env-model"}


def test_override_beats_agent_parent_and_environment() -> None:
    override, own, parent = ScriptedModel([]), ScriptedModel([]), ScriptedModel([])
    resolver = ModelResolver(override, env=ENV)
    assert resolver.resolve("a", own, parent) is override


def test_agent_model_beats_parent_and_environment() -> None:
    own, parent = ScriptedModel([]), ScriptedModel([])
    assert ModelResolver(env=ENV).resolve("a", own, parent) is own


def test_sub_agents_inherit_the_parent_model() -> None:
    parent = ScriptedModel([])
    assert ModelResolver(env=ENV).resolve("a", None, parent) is parent


def test_environment_endpoint_is_used_when_nothing_else_is_set() -> None:
    model = ModelResolver(env={**ENV, "NEXFORGE_API_KEY": "k"}).resolve("a", None, None)
    assert isinstance(model, OpenAIChatModel)
    assert model.name == "env-model"
    assert model.endpoints[0].base_url == ENV["NEXFORGE_BASE_URL"]


def test_settings_fill_missing_fields_from_the_environment_and_are_shared() -> None:
    resolver = ModelResolver(env=ENV)
    first = resolver.resolve("a", ModelSettings(model="named"), None)
    again = ModelResolver(env=ENV).resolve("b", ModelSettings(model="named"), None)
    assert isinstance(first, OpenAIChatModel) and first.name == "named"
    assert first is again  # one client (and connection pool) per distinct endpoint


def test_without_endpoint_or_embedded_model_the_error_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NEXFORGE_HOME", str(tmp_path))
    with pytest.raises(ModelNotConfiguredError) as info:
        ModelResolver(env={}).resolve("lead", None, None)
    message = str(info.value)
    assert "'lead'" in message and "nexforge models install tiny" in message
    assert "NEXFORGE_BASE_URL" in message


def test_local_settings_with_a_missing_file_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(NexForgeError, match="no model file at"):
        ModelResolver(env={}).resolve(
            "a", ModelSettings(provider="local", path=str(tmp_path / "nope.gguf")), None
        )


def test_the_embedded_model_is_the_last_fallback(tiny_model_path: Path) -> None:
    model = ModelResolver(env={}).resolve("a", None, None)
    assert isinstance(model, LocalModel)
    assert model is ModelResolver(env={}).resolve("b", None, None)  # loaded once per process


async def test_mixed_hierarchy_over_http_and_scripted() -> None:
    """A child with its own scripted model; the lead talks to an HTTP endpoint."""
    child = Agent(name="helper", model=ScriptedModel([say("from the helper")]))
    async with MockOpenAIServer(
        [MockReply(tool_calls=[{"name": "helper", "arguments": {"task": "help"}}]), "lead done"]
    ) as server:
        lead = Agent(
            name="lead", sub_agents=[child], model=ModelSettings(base_url=server.url, model="m")
        )
        result = await lead.arun("go")
    assert result.final_output == "lead done"
    models = {e.agent: e.model for e in result.trajectory.episodes}
    assert models == {"lead": "m", "helper": "scripted"}
    assert server.requests[1]["messages"][-1]["content"] == "from the helper"


def test_a_base_url_without_a_model_name_is_an_error_not_a_silent_fallback() -> None:
    with pytest.raises(ModelNotConfiguredError, match="NEXFORGE_MODEL is not"):
        ModelResolver(env={"NEXFORGE_BASE_URL": "http://127.0.0.1:9/v1"}).resolve("a", None, None)
