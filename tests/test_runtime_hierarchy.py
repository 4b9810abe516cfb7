"""The runtime as specified: hierarchies, isolation, parallel sub-agents, trajectories."""

from __future__ import annotations

from nexforge.core import Trajectory
from nexforge.runtime import Agent, Limits
from nexforge.testing import ScriptedModel, call, calls, say
from nexforge.tools import tool_from_function


def word_count(text: str) -> int:
    """Count the words in a text.

    Args:
        text: The text to count.
    """
    return len(text.split())


def make_team(model: ScriptedModel) -> Agent:
    counter = Agent(
        name="counter",
        description="Counts words.",
        system_prompt="You count words.",
        tools=[tool_from_function(word_count)],
    )
    writer = Agent(name="writer", description="Writes a line.", system_prompt="You write.")
    analyst = Agent(
        name="analyst",
        description="Analyses text with helpers.",
        system_prompt="You analyse.",
        sub_agents=[counter],
    )
    return Agent(
        name="lead",
        system_prompt="You lead {{ team }}.",
        prompt_vars={"team": "the text team"},
        sub_agents=[analyst, writer],
        model=model,
    )


async def test_three_level_hierarchy_with_parallel_sub_agents() -> None:
    model = ScriptedModel(
        {
            "lead": [
                calls(("analyst", {"task": "count 'a b c'"}), ("writer", {"task": "a haiku"})),
                say("3 words; haiku written"),
            ],
            "analyst": [call("counter", task="count 'a b c'"), say("it has 3 words")],
            "counter": [call("word_count", text="a b c"), say("3")],
            "writer": [say("old pond")],
        }
    )
    with model:
        result = await make_team(model).arun("Analyse 'a b c' and write a haiku")

    assert result.stop_reason == "completed"
    assert result.final_output == "3 words; haiku written"
    trajectory = result.trajectory
    by_agent = {e.agent: e for e in trajectory.episodes}
    assert set(by_agent) == {"lead", "analyst", "writer", "counter"}
    lead, analyst, counter = by_agent["lead"], by_agent["analyst"], by_agent["counter"]
    assert lead.parent_episode_id is None
    assert analyst.parent_episode_id == lead.episode_id
    assert counter.parent_episode_id == analyst.episode_id
    # The child's tool call id is the parent's call that started it.
    lead_calls = {c.id: c.name for c in lead.messages[2].tool_calls}
    assert lead_calls[analyst.parent_tool_call_id or ""] == "analyst"
    # The system prompt was rendered and is the first message each model saw.
    assert lead.system_prompt == "You lead the text team."
    assert lead.messages[0].role == "system"
    # Isolation: the lead sees only the sub-agents' answers, never their inner steps.
    lead_tool_results = [m for m in lead.messages if m.role == "tool"]
    assert [m.content for m in lead_tool_results] == ["it has 3 words", "old pond"]
    assert all(m.name != "word_count" for m in lead.messages)
    assert [m.role for m in counter.messages] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    assert counter.messages[3].content == "3"
    assert counter.final == "3"
    # Each sub-agent is offered as a tool taking one `task` string.
    offered = {t.name: t.parameters for t in lead.tools}
    assert offered["analyst"]["required"] == ["task"]
    assert result.usage.model_calls == 7
    assert result.usage.tool_calls == 4


async def test_trajectory_round_trips_through_json() -> None:
    model = ScriptedModel(
        {
            "lead": [call("writer", task="write"), say("done")],
            "writer": [say("a line")],
        }
    )
    result = await make_team(model).arun("go")
    text = result.trajectory.model_dump_json()
    again = Trajectory.model_validate_json(text)
    assert again == result.trajectory
    assert again.schema_version == 1
    kinds = [s.kind for s in again.spans]
    assert kinds.count("agent") == 2 and kinds.count("llm") == 3 and kinds.count("tool") == 1
    assert all(s.end is not None for s in again.spans)
    span_ids = {s.span_id for s in again.spans}
    assert all(s.parent_id is None or s.parent_id in span_ids for s in again.spans)


async def test_max_depth_refuses_a_deeper_sub_agent_as_a_tool_error() -> None:
    model = ScriptedModel(
        {
            "lead": [call("analyst", task="x"), say("gave up")],
            "analyst": [call("counter", task="x"), say("counter unavailable")],
        }
    )
    team = make_team(model)
    team.limits = Limits(max_depth=1)
    with model:
        result = await team.arun("go")
    analyst = next(e for e in result.trajectory.episodes if e.agent == "analyst")
    refusal = analyst.messages[3]
    assert refusal.role == "tool" and refusal.is_error
    assert "depth 1" in (refusal.content or "")
    assert result.stop_reason == "completed"


async def test_function_script_serves_concurrent_runs_deterministically() -> None:
    def respond(request):  # type: ignore[no-untyped-def]
        last = request.messages[-1]
        if last.role == "user":
            return call("word_count", text=last.content)
        return say(f"count={last.content}")

    agent = Agent(name="solo", tools=[tool_from_function(word_count)], model=ScriptedModel(respond))
    import asyncio

    results = await asyncio.gather(*(agent.arun("w " * n) for n in range(1, 21)))
    assert [r.final_output for r in results] == [f"count={n}" for n in range(1, 21)]


async def test_a_sub_agent_that_sees_the_request_gets_the_users_message_after_its_task() -> None:
    model = ScriptedModel(
        {
            "lead": [call("analyst", task="get_word_count"), say("done")],
            "analyst": [call("counter", task="count them"), say("3")],
            "counter": [say("3")],
            "writer": [],
        }
    )
    team = make_team(model)
    analyst = team.sub_agents[0]
    analyst.sees_request = True
    analyst.sub_agents[0].sees_request = True
    with model:
        result = await team.arun("How many words are in 'a b c'?")

    by_agent = {e.agent: e for e in result.trajectory.episodes}
    analyst_task = by_agent["analyst"].messages[1].content or ""
    counter_task = by_agent["counter"].messages[1].content or ""
    assert analyst_task.startswith("get_word_count\n\n")
    assert analyst_task.endswith("\nHow many words are in 'a b c'?")  # from the root, any depth
    assert counter_task.endswith("\nHow many words are in 'a b c'?")
    assert [m.role for m in by_agent["analyst"].messages[:2]] == ["system", "user"]
    # Only the message: none of the parent's history reaches the child.
    assert "done" not in analyst_task and "analyst" not in analyst_task


async def test_a_sub_agent_is_not_given_the_request_twice_or_unasked() -> None:
    question = "How many words are in 'a b c'?"
    model = ScriptedModel(
        {
            "lead": [
                call("analyst", task=f"Answer: {question}"),
                call("writer", task="a line"),
                say("ok"),
            ],
            "analyst": [say("3")],
            "writer": [say("old pond")],
        }
    )
    team = make_team(model)
    team.sub_agents[0].sees_request = True
    with model:
        result = await team.arun(question)

    by_agent = {e.agent: e for e in result.trajectory.episodes}
    assert by_agent["analyst"].messages[1].content == f"Answer: {question}"
    assert by_agent["writer"].messages[1].content == "a line"
