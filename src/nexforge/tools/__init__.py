"""Tools: schemas from functions, validated and time-limited execution, sandbox, built-ins."""

from __future__ import annotations

from nexforge.tools.base import Tool, ToolContext, ToolOutcome
from nexforge.tools.builtins import BUILTINS, FINISH_TOOL_NAME, BuiltinFactory, make_builtin
from nexforge.tools.environment import Environment, EnvState, env_tool
from nexforge.tools.errors import ToolInputError
from nexforge.tools.executor import execute_tool
from nexforge.tools.resources import Resource, RunInfo, RunResources
from nexforge.tools.sandbox import SubprocessResult, run_subprocess
from nexforge.tools.schema import tool_from_function
from nexforge.tools.validation import validate_arguments
from nexforge.tools.workspace import make_run_workspace, resolve_in_workspace

__all__ = [
    "BUILTINS",
    "FINISH_TOOL_NAME",
    "BuiltinFactory",
    "EnvState",
    "Environment",
    "Resource",
    "RunInfo",
    "RunResources",
    "SubprocessResult",
    "Tool",
    "ToolContext",
    "ToolInputError",
    "ToolOutcome",
    "env_tool",
    "execute_tool",
    "make_builtin",
    "make_run_workspace",
    "resolve_in_workspace",
    "run_subprocess",
    "tool_from_function",
    "validate_arguments",
]
