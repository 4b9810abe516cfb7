"""tool_from_function: JSON Schema from signatures and docstrings; argument conversion."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from nexforge.tools import ToolContext, execute_tool, tool_from_function, validate_arguments


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(BaseModel):
    x: int
    y: int = 0


class Segment(BaseModel):
    start: Point
    end: Point


def ctx() -> ToolContext:
    return ToolContext(workspace=Path("/tmp"))


def test_primitives_required_defaults_and_docstring() -> None:
    def greet(name: str, times: int = 2, loud: bool = False, ratio: float = 0.5) -> str:
        """Greet someone by name.

        Longer explanation that is not part of the description.

        Args:
            name: Who to greet,
                continued on a second line.
            times (int): How often.

        Returns:
            The greeting.
        """
        return name

    tool = tool_from_function(greet, read_only=True)

    assert tool.spec.name == "greet"
    assert tool.spec.description == "Greet someone by name."
    assert tool.spec.read_only is True
    assert tool.context_param is None
    assert tool.spec.parameters == {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Who to greet, continued on a second line."},
            "times": {"type": "integer", "description": "How often.", "default": 2},
            "loud": {"type": "boolean", "default": False},
            "ratio": {"type": "number", "default": 0.5},
        },
        "required": ["name"],
        "additionalProperties": False,
    }


def test_containers_literal_optional() -> None:
    def f(
        tags: list[str],
        scores: dict[str, float],
        pair: tuple[int, str],
        many: tuple[int, ...],
        mode: Literal["fast", "slow"],
        note: str | None = None,
        either: int | str = 1,
    ) -> None:
        return None

    props = tool_from_function(f).spec.parameters["properties"]

    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["scores"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert props["pair"] == {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "string"}],
        "minItems": 2,
        "maxItems": 2,
    }
    assert props["many"] == {"type": "array", "items": {"type": "integer"}}
    assert props["mode"] == {"enum": ["fast", "slow"], "type": "string"}
    assert props["note"] == {"type": ["string", "null"], "default": None}
    assert props["either"] == {"anyOf": [{"type": "integer"}, {"type": "string"}], "default": 1}


async def test_enum_tuple_and_model_arguments_are_converted_before_the_call() -> None:
    seen: dict[str, Any] = {}

    def draw(
        color: Color, segment: Segment, at: tuple[int, int], maybe: Point | None = None
    ) -> str:
        seen.update(color=color, segment=segment, at=at, maybe=maybe)
        return "ok"

    tool = tool_from_function(draw)
    params = tool.spec.parameters
    assert params["properties"]["color"] == {"enum": ["red", "blue"], "type": "string"}
    assert params["properties"]["segment"] == {"$ref": "#/$defs/Segment"}
    assert set(params["$defs"]) == {"Segment", "Point"}

    args = {"color": "blue", "segment": {"start": {"x": 1}, "end": {"x": 2, "y": 3}}, "at": [4, 5]}
    outcome = await execute_tool(tool, args, ctx())

    assert outcome.content == "ok" and not outcome.is_error
    assert seen["color"] is Color.BLUE
    assert seen["segment"] == Segment(start=Point(x=1), end=Point(x=2, y=3))
    assert seen["at"] == (4, 5)
    assert seen["maybe"] is None


def test_nested_model_refs_resolve_in_validation() -> None:
    def draw(segment: Segment) -> None:
        return None

    spec = tool_from_function(draw).spec

    assert validate_arguments(spec, {"segment": {"start": {"x": 1}, "end": {"x": 2}}}) is None
    assert validate_arguments(spec, {"segment": {"start": {"x": "a"}, "end": {"x": 2}}}) == (
        "argument 'segment.start.x': 'a' is not of type 'integer'"
    )


async def test_tool_context_is_hidden_and_passed() -> None:
    async def where(context: ToolContext, sub: str = ".") -> str:
        """Where am I."""
        return f"{context.workspace}/{sub}:{context.run_id}"

    tool = tool_from_function(where)

    assert tool.context_param == "context"
    assert list(tool.spec.parameters["properties"]) == ["sub"]
    run = ToolContext(workspace=Path("/w"), run_id="r1")
    assert (await execute_tool(tool, {}, run)).content == "/w/.:r1"


def test_overrides_and_explicit_parameters() -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}

    def search(ctx: ToolContext, **kwargs: Any) -> str:
        return ""

    with pytest.raises(TypeError, match="kwargs"):
        tool_from_function(search)

    def lookup(ctx: ToolContext, q: object) -> str:
        return str(q)

    tool = tool_from_function(lookup, name="find", description="Find.", parameters=schema)
    assert (tool.spec.name, tool.spec.description) == ("find", "Find.")
    assert tool.spec.parameters == schema
    assert tool.context_param == "ctx"


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (set[int], "unsupported type annotation"),
        (dict[int, str], "dict keys must be str"),
        (object, "unsupported type annotation"),
    ],
)
def test_unsupported_annotations_raise_type_error(annotation: Any, message: str) -> None:
    def f(x: Any) -> None:
        return None

    f.__annotations__["x"] = annotation
    with pytest.raises(TypeError, match=message) as info:
        tool_from_function(f)
    assert "parameter 'x'" in str(info.value)


def test_signature_errors() -> None:
    def star(*args: int) -> None:
        return None

    def bare(x) -> None:  # type: ignore[no-untyped-def]
        return None

    with pytest.raises(TypeError, match="\\*args"):
        tool_from_function(star)
    with pytest.raises(TypeError, match="no type annotation"):
        tool_from_function(bare)
    with pytest.raises(ValueError, match="tool name"):
        tool_from_function(bare, name="has space")
    with pytest.raises(TypeError, match="invalid parameters schema"):
        tool_from_function(bare, parameters={"type": "no-such-type"})
