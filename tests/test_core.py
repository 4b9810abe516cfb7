"""Core contracts: the shapes in the blueprint, and their JSON round trips."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nexforge.core import (
    ConfigError,
    Episode,
    Message,
    Provenance,
    RunResult,
    Span,
    ToolCall,
    ToolSpec,
    Trajectory,
    Usage,
)


def sample_trajectory() -> Trajectory:
    call = ToolCall(id="c1", name="lookup", arguments={"key": "k", "n": 2, "tags": ["a"]})
    root = Episode(
        episode_id="e1",
        agent="lead",
        model="m",
        tool_call_format="structured",
        system_prompt="sys",
        tools=[ToolSpec(name="lookup", description="d", read_only=True)],
        messages=[
            Message.system("sys"),
            Message.user("q"),
            Message.assistant(None, [call], reasoning="think"),
            Message.tool("c1", "lookup", "v", is_error=False),
            Message.assistant("answer", raw="answer"),
        ],
        final="answer",
    )
    child = root.model_copy(
        update={"episode_id": "e2", "parent_episode_id": "e1", "parent_tool_call_id": "c1"}
    )
    return Trajectory(
        run_id="r1",
        framework="fw",
        query="q",
        query_meta={"persona": "p"},
        started_at=1.0,
        ended_at=2.0,
        stop_reason="completed",
        final_output="answer",
        usage=Usage(prompt_tokens=3, completion_tokens=4, model_calls=2, tool_calls=1),
        provenance=Provenance(model="m", package_version="0.1.0", sampling={"temperature": 0}),
        spans=[Span(span_id="s1", kind="agent", name="lead", start=1.0, end=2.0)],
        episodes=[root, child],
    )


def test_trajectory_json_round_trip_is_lossless() -> None:
    trajectory = sample_trajectory()
    again = Trajectory.model_validate_json(trajectory.model_dump_json())
    assert again == trajectory
    assert again.root_episode().episode_id == "e1"
    assert [e.episode_id for e in again.children_of("e1")] == ["e2"]
    result = RunResult(
        final_output="answer", stop_reason="completed", steps=2, usage=Usage(), trajectory=again
    )
    assert RunResult.model_validate_json(result.model_dump_json()) == result


def test_tool_call_arguments_stay_a_dict_in_json() -> None:
    data = sample_trajectory().model_dump(mode="json")
    arguments = data["episodes"][0]["messages"][2]["tool_calls"][0]["arguments"]
    assert arguments == {"key": "k", "n": 2, "tags": ["a"]}


def test_unknown_fields_and_stop_reasons_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Message.model_validate({"role": "assistant", "content": "x", "colour": "red"})
    with pytest.raises(ValidationError):
        Trajectory.model_validate({**sample_trajectory().model_dump(), "stop_reason": "done"})


def test_config_error_names_file_line_and_key() -> None:
    error = ConfigError("unknown key", file="a.yaml", line=3, key="limits.max_stepz")
    assert str(error) == "a.yaml:3: limits.max_stepz: unknown key"
    assert (error.file, error.line, error.key) == ("a.yaml", 3, "limits.max_stepz")
    assert str(ConfigError("bad")) == "bad"
