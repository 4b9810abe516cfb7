"""Agent runs over real HTTP: faults are retried, endpoints fail over, failures are recorded."""

from __future__ import annotations

from nexforge.models.settings import ModelSettings
from nexforge.runtime import Agent
from nexforge.testing import MockOpenAIServer, MockReply
from nexforge.tools import tool_from_function


def lookup(key: str) -> str:
    """Look a key up.

    Args:
        key: The key.
    """
    return f"value-of-{key}"


SCRIPT = [MockReply(tool_calls=[{"name": "lookup", "arguments": {"key": "k"}}]), "found it"]


def agent_for(*urls: str, retries: int = 4) -> Agent:
    return Agent(
        name="a",
        tools=[tool_from_function(lookup)],
        model=ModelSettings(
            base_url=urls[0],
            fallback_base_urls=list(urls[1:]),
            model="mock-model",
            max_retries=retries,
            # Only an injected "timeout" fault (which never answers) waits this out; local
            # answers need far less even on a loaded machine.
            timeout_s=1.5,
        ),
    )


async def test_a_run_survives_injected_faults() -> None:
    async with MockOpenAIServer(
        SCRIPT, faults=["429", "500", "malformed", None, "timeout"]
    ) as server:
        result = await agent_for(server.url).arun("find k")
    assert result.stop_reason == "completed" and result.final_output == "found it"
    assert result.usage.model_calls == 2
    assert server.stats["429"] == 1 and server.stats["500"] == 1 and server.stats["timeout"] == 1


async def test_a_failing_endpoint_fails_over_to_the_next() -> None:
    async with (
        MockOpenAIServer(faults=["500"] * 20) as broken,
        MockOpenAIServer(SCRIPT) as healthy,
    ):
        result = await agent_for(broken.url, healthy.url).arun("find k")
    assert result.final_output == "found it"
    assert len(healthy.requests) == 2


async def test_retries_exhausted_end_the_run_with_error_and_keep_the_trace() -> None:
    async with MockOpenAIServer(faults=["500"] * 10) as server:
        result = await agent_for(server.url, retries=2).arun("find k")
    assert result.stop_reason == "error"
    assert result.error is not None and "500" in result.error
    llm = [s for s in result.trajectory.spans if s.kind == "llm"]
    assert len(llm) == 1 and llm[0].error is not None
    assert result.trajectory.stop_reason == "error"
