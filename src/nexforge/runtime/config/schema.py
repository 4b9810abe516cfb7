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

from pydantic import AwareDatetime, BaseModel, ConfigDict, Discriminator, Field, Tag

from nexforge.core.durations import Seconds
from nexforge.models.codecs import TOOL_CALL_FORMATS
from nexforge.models.settings import ModelSettings
from nexforge.runtime.config.python_refs import MODULE_NAME_PATTERN
from nexforge.runtime.limits import CompactionPolicy, Limits
from nexforge.tools.env_state import DEFAULT_EPOCH
from nexforge.tools.mcp.config import McpServerConfig

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "agent.schema.json"
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"
PYTHON_REF_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
PACKAGE_PATTERN = MODULE_NAME_PATTERN
MCP_REF_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*(/[^/\s]+)?$"
ENV_REF_PATTERN = r"^(\*|[A-Za-z0-9_-]{1,64})$"
PATTERN_HINTS = {
    NAME_PATTERN: "must start with a letter and hold only letters, digits, '_' and '-'",
    PYTHON_REF_PATTERN: "expected module:function, e.g. mytools.prices:lookup_price",
    MCP_REF_PATTERN: "expected SERVER (all its tools) or SERVER/TOOL, e.g. git/git_log",
    ENV_REF_PATTERN: "expected a tool of the environment, or '*' for all of them",
    PACKAGE_PATTERN: "expected a package or module name, e.g. mypkg or mypkg.tools",
}
ALLOW_PACKAGES_DESCRIPTION = (
    "Installed packages (or modules) whose functions `python:` tool entries may name; "
    "anything outside the config root must be listed. Never the standard library."
)

# Union branches are tagged explicitly so a validation error reports only the branch the
# user meant. Tags contain a hyphen so they can never be mistaken for a field name.
BUILTIN_TAG = "builtin-tool"
PYTHON_TAG = "python-tool"
MCP_TAG = "mcp-tool"
ENV_TAG = "env-tool"
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
    timeout_s: Seconds | None = None


class PythonToolEntry(_Strict):
    """``- python: module:function``, from the config root or an allowed package."""

    python: str = Field(pattern=PYTHON_REF_PATTERN, description="module:function")
    spec: str | None = Field(
        default=None, description="YAML file {description?, parameters, read_only?}."
    )
    read_only: bool | None = None
    timeout_s: Seconds | None = None


class McpToolEntry(_Strict):
    """``- mcp: SERVER`` (all its tools) or ``- mcp: SERVER/TOOL``; see ``mcp_servers``."""

    mcp: str = Field(pattern=MCP_REF_PATTERN, description="SERVER or SERVER/TOOL")


class EnvToolEntry(_Strict):
    """``- env: TOOL`` (one tool of the hierarchy's environment) or ``- env: "*"`` (all)."""

    env: str = Field(pattern=ENV_REF_PATTERN, description='TOOL, or "*" for all tools')


class ClockSpec(_Strict):
    """The run's deterministic clock: ``start`` plus ``step_s`` per state-changing call."""

    start: AwareDatetime = Field(default=DEFAULT_EPOCH, description="ISO 8601 with a zone")
    step_s: Seconds = 60.0


class EnvironmentSpec(_Strict):
    """Owned state and the tools over it; paths resolve from the declaring file's folder."""

    name: str | None = Field(default=None, pattern=NAME_PATTERN, description="Default: framework")
    seed: str | None = Field(default=None, description="SQLite file copied for each run.")
    files: str | None = Field(default=None, description="Folder copied for each run.")
    tools: str | list[str] = Field(description="Python file(s) of @env_tool functions.")
    clock: ClockSpec = Field(default_factory=ClockSpec)


def _tool_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "builtin" in value:
            return BUILTIN_TAG
        if "python" in value:
            return PYTHON_TAG
        if "mcp" in value:
            return MCP_TAG
        if "env" in value:
            return ENV_TAG
    elif isinstance(value, BuiltinToolEntry):
        return BUILTIN_TAG
    elif isinstance(value, PythonToolEntry):
        return PYTHON_TAG
    elif isinstance(value, McpToolEntry):
        return MCP_TAG
    elif isinstance(value, EnvToolEntry):
        return ENV_TAG
    return None


ToolEntry = Annotated[
    Annotated[BuiltinToolEntry, Tag(BUILTIN_TAG)]
    | Annotated[PythonToolEntry, Tag(PYTHON_TAG)]
    | Annotated[McpToolEntry, Tag(MCP_TAG)]
    | Annotated[EnvToolEntry, Tag(ENV_TAG)],
    Discriminator(
        _tool_kind,
        custom_error_type="tool_kind",
        custom_error_message="a tool entry is a mapping with one of the keys: "
        "builtin, python, mcp, env",
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
    allow_packages: list[Annotated[str, Field(pattern=PACKAGE_PATTERN)]] = Field(
        default_factory=list, description=ALLOW_PACKAGES_DESCRIPTION
    )
    mcp_servers: dict[Annotated[str, Field(pattern=NAME_PATTERN)], McpServerConfig] = Field(
        default_factory=dict, description="MCP servers by name, used by `- mcp:` tool entries."
    )
    sub_agents: list[SubAgentEntry] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    compaction: CompactionPolicy = Field(default_factory=CompactionPolicy)
    tool_call_format: str = Field(default="structured", description=", ".join(TOOL_CALL_FORMATS))
    sees_request: bool = Field(
        default=False,
        description="Called as a sub-agent, also receive the user's latest message after "
        "the task (for the ids and names a parent's task may leave out).",
    )
    environment: EnvironmentSpec | None = Field(
        default=None,
        description="Only in a standalone entry agent; under framework.yaml declare it there.",
    )


class ToolSpecFile(_Strict):
    """A python tool's explicit schema file (the ``spec:`` key)."""

    description: str | None = None
    parameters: dict[str, Any]
    read_only: bool | None = None


UNION_TAGS: dict[str, type[BaseModel] | None] = {
    BUILTIN_TAG: BuiltinToolEntry,
    PYTHON_TAG: PythonToolEntry,
    MCP_TAG: McpToolEntry,
    ENV_TAG: EnvToolEntry,
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
