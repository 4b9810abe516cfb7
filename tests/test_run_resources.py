"""Per-run resources: opened lazily once per run, never shared between runs, always closed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from nexforge.runtime import Agent
from nexforge.testing import ScriptedModel, calls, say
from nexforge.tools import RunInfo, tool_from_function


@dataclass
class Counter:
    run_id: str
    value: int = 0


@dataclass
class CounterResource:
    name: str = "counter"
    opened: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)

    async def open(self, run: RunInfo) -> Counter:
        await asyncio.sleep(0.01)  # let parallel callers pile up on the first open
        self.opened.append(run.run_id)
        return Counter(run.run_id)

    async def close(self, handle: Counter) -> None:
        self.closed.append(handle.run_id)


def make_agent(resource: CounterResource) -> Agent:
    async def bump(counter: Counter, by: int) -> int:
        """Add to the run's counter.

        Args:
            by: How much to add.
        """
        counter.value += by
        return counter.value

    tool = tool_from_function(bump, resources={"counter": resource})
    assert list(tool.spec.parameters["properties"]) == ["by"]  # the handle is not an argument
    script = ScriptedModel(
        lambda r: (
            calls(("bump", {"by": 1}), ("bump", {"by": 2}), ("bump", {"by": 3}))
            if r.messages[-1].role == "user"
            else say(max(int(m.content or 0) for m in r.messages if m.role == "tool").__str__())
        )
    )
    return Agent(name="a", tools=[tool], model=script)


async def test_parallel_calls_in_one_run_share_one_handle_opened_once() -> None:
    resource = CounterResource()
    result = await make_agent(resource).arun("go")
    assert result.final_output == "6"
    assert resource.opened == [result.trajectory.run_id]
    assert resource.closed == [result.trajectory.run_id]


async def test_concurrent_runs_get_their_own_handles() -> None:
    resource = CounterResource()
    agent = make_agent(resource)
    results = await asyncio.gather(*(agent.arun("go") for _ in range(5)))
    assert [r.final_output for r in results] == ["6"] * 5  # no run saw another's writes
    assert sorted(resource.opened) == sorted(r.trajectory.run_id for r in results)
    assert sorted(resource.closed) == sorted(resource.opened)


async def test_state_persists_across_turns_of_a_conversation() -> None:
    resource = CounterResource()
    async with make_agent(resource).conversation() as conversation:
        first = await conversation.send("go")
        second = await conversation.send("go")
    assert (first.final_output, second.final_output) == ("6", "12")
    assert len(resource.opened) == 1 and len(resource.closed) == 1


async def test_a_resource_that_fails_to_open_is_a_tool_error() -> None:
    class Broken(CounterResource):
        async def open(self, run: RunInfo) -> Counter:
            raise OSError("server binary not found")

    agent = make_agent(Broken())
    agent.model = ScriptedModel([calls(("bump", {"by": 1})), say("gave up")])
    result = await agent.arun("go")
    error = result.trajectory.root_episode().messages[3]
    assert error.is_error and "server binary not found" in (error.content or "")
