"""ToolSpec: the provider-neutral description of a tool."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def empty_object_schema() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


class ToolSpec(BaseModel):
    """Name, description and JSON Schema of a tool's arguments.

    ``read_only`` marks tools that never change state (query grounding uses only those).
    Adapted to a provider's wire format only at the provider boundary.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=empty_object_schema)
    read_only: bool = False
