"""The agent YAML file format as pydantic models, and its published JSON Schema.

Every model forbids unknown keys. The JSON Schema is published as
``src/nexforge/schemas/agent.schema.json`` (a test keeps it equal to the models);
regenerate it after changing the models with::

    .venv/bin/python -m nexforge.runtime.config.schema

Semantic checks that need the file system or other modules (paths, python references,
tool-call formats, Jinja syntax) live in the loader, not here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from nexforge.models.settings import ModelSettings
from nexforge.runtime.limits import CompactionPolicy, Limits

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "agent.schema.json"
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"
PYTHON_REF_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
PATTERN_HINTS = {
    NAME_PATTERN: "must start with a letter and hold only letters, digits, '_' and '-'",
    PYTHON_REF_PATTERN: "expected module:function, e.g. mytools.prices:lookup_price",
}

# Union branches are tagged explicitly so a validation error reports only the branch the
# user meant. Tags contain a hyphen so they can never be mistaken for a field name.
BUILTIN_TAG = "builtin-tool"
PYTHON_TAG = "python-tool"
MODEL_MAPPING_TAG = "model-mapping"
MODEL_SPEC_TAG = "model-spec"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BuiltinToolEntry(_Strict):
    """``- builtin: NAME`` with the built-in's own options."""

    builtin: str = Field(description="Name of a packaged built-in tool.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the built-in; relative paths resolve from the config's folder.",
    )
    timeout_s: float | None = Field(default=None, gt=0)


class PythonToolEntry(_Strict):
    """``- python: module:function``, resolved from the root or from installed packages."""

    python: str = Field(pattern=PYTHON_REF_PATTERN, description="module:function")
    spec: str | None = Field(
        default=None, description="YAML file {description?, parameters, read_only?}."
    )
    read_only: bool | None = None
    timeout_s: float | None = Field(default=None, gt=0)


def _tool_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "builtin" in value:
            return BUILTIN_TAG
        if "python" in value:
            return PYTHON_TAG
    elif isinstance(value, BuiltinToolEntry):
        return BUILTIN_TAG
    elif isinstance(value, PythonToolEntry):
        return PYTHON_TAG
    return None


ToolEntry = Annotated[
    Annotated[BuiltinToolEntry, Tag(BUILTIN_TAG)] | Annotated[PythonToolEntry, Tag(PYTHON_TAG)],
    Discriminator(
        _tool_kind,
        custom_error_type="tool_kind",
        custom_error_message="a tool entry is a mapping with one of the keys: builtin, python",
    ),
]


def _model_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return MODEL_SPEC_TAG
    if isinstance(value, dict | ModelSettings):
        return MODEL_MAPPING_TAG
    return None


ModelField = Annotated[
    Annotated[ModelSettings, Tag(MODEL_MAPPING_TAG)] | Annotated[str, Tag(MODEL_SPEC_TAG)],
    Discriminator(
        _model_kind,
        custom_error_type="model_kind",
        custom_error_message="expected a mapping of model settings or a SPEC string",
    ),
]


class SubAgentEntry(_Strict):
    """``- config: other.yaml``."""

    config: str = Field(description="Path of the sub-agent's YAML file.")


class AgentFile(_Strict):
    """One agent's YAML file. Exactly one of ``system_prompt`` / ``system_prompt_file``."""

    model_config = ConfigDict(
        extra="forbid",
        title="NexForge agent",
        json_schema_extra={
            "oneOf": [{"required": ["system_prompt"]}, {"required": ["system_prompt_file"]}]
        },
    )

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    model: ModelField | None = Field(
        default=None,
        description="ModelSettings fields, or a SPEC: openai:NAME, local:tiny, "
        "local:small, local:/path/model.gguf, default.",
    )
    system_prompt: str | None = Field(default=None, description="A Jinja template.")
    system_prompt_file: str | None = Field(
        default=None, description="Path of a file holding the Jinja template."
    )
    prompt_vars: dict[str, Any] = Field(default_factory=dict)
    tools: list[ToolEntry] = Field(default_factory=list)
    sub_agents: list[SubAgentEntry] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    compaction: CompactionPolicy = Field(default_factory=CompactionPolicy)
    tool_call_format: str = Field(default="structured", description="structured, xml, hermes")


class ToolSpecFile(_Strict):
    """A python tool's explicit schema file (the ``spec:`` key)."""

    description: str | None = None
    parameters: dict[str, Any]
    read_only: bool | None = None


UNION_TAGS: dict[str, type[BaseModel] | None] = {
    BUILTIN_TAG: BuiltinToolEntry,
    PYTHON_TAG: PythonToolEntry,
    MODEL_MAPPING_TAG: ModelSettings,
    MODEL_SPEC_TAG: None,
}


def agent_config_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an agent YAML file."""
    schema = AgentFile.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def write_json_schema(path: Path = SCHEMA_PATH) -> None:
    """Write the published schema file (stable formatting so diffs stay small)."""
    text = json.dumps(agent_config_json_schema(), indent=2, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_json_schema()
