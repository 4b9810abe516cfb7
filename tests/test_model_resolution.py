"""Model resolution, first match wins: override, agent, parent, environment, (embedded)."""

from __future__ import annotations

import pytest

from nexforge.core import ModelNotConfiguredError
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


def test_no_model_anywhere_says_how_to_configure_one() -> None:
    with pytest.raises(ModelNotConfiguredError, match="NEXFORGE_BASE_URL") as info:
        ModelResolver(env={}).resolve("lead", None, None)
    assert "'lead'" in str(info.value)


def test_local_provider_is_refused_clearly_until_it_exists() -> None:
    with pytest.raises(ModelNotConfiguredError, match="local provider"):
        ModelResolver(env={}).resolve("a", ModelSettings(provider="local", model="tiny"), None)


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
