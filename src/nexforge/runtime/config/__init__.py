"""Agent YAML configs: load a hierarchy of agents, parse model SPECs, publish the schema."""

from nexforge.runtime.config.framework import Framework, load_framework
from nexforge.runtime.config.loader import load_agent
from nexforge.runtime.config.model_spec import parse_model_spec
from nexforge.runtime.config.schema import agent_config_json_schema

__all__ = [
    "Framework",
    "agent_config_json_schema",
    "load_agent",
    "load_framework",
    "parse_model_spec",
]
