"""``load_agent``: build an Agent hierarchy from YAML files.

Each distinct sub-agent file is loaded once per ``load_agent`` call; a file used in two
branches (a diamond) yields the same Agent object in both places. Agents are definitions
and are not mutated by a run, so sharing is safe. Cycles are refused with the chain of files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import jinja2
import jinja2.meta
from jinja2 import nodes
from jinja2.sandbox import (
    UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES,
    UNSAFE_GENERATOR_ATTRIBUTES,
    SandboxedEnvironment,
)

from nexforge.core.errors import ConfigError
from nexforge.models.codecs import TOOL_CALL_FORMATS
from nexforge.models.settings import ModelSettings
from nexforge.runtime.agent import Agent
from nexforge.runtime.config.framework_file import (
    agent_environment,
    allowed_packages,
    env_tools,
    framework_environment,
    root_allowed_packages,
)
from nexforge.runtime.config.mcp_entries import build_mcp_tools, prefetch_mcp_servers
from nexforge.runtime.config.model_spec import parse_model_spec
from nexforge.runtime.config.paths import display_path, find_root
from nexforge.runtime.config.schema import AgentFile, EnvToolEntry, McpToolEntry
from nexforge.runtime.config.tool_entries import ToolBuildContext, build_tool
from nexforge.runtime.config.validation import validate_document
from nexforge.runtime.config.yaml_lines import YamlDocument, load_yaml, read_config_text
from nexforge.runtime.prompt import PROMPT_BUILTINS
from nexforge.tools.base import Tool
from nexforge.tools.environment import Environment

_UNSAFE_ATTRIBUTES = (
    UNSAFE_GENERATOR_ATTRIBUTES | UNSAFE_COROUTINE_ATTRIBUTES | UNSAFE_ASYNC_GENERATOR_ATTRIBUTES
)


def load_agent(path: str | Path, *, root: Path | None = None) -> Agent:
    """Load the agent in ``path`` with all its tools and sub-agents.

    ``root`` defaults to the nearest folder (from the config's own upwards) holding
    ``framework.yaml``, else the config's folder. Every problem is a ConfigError whose
    ``file`` is the absolute resolved path of the offending file.
    """
    config = Path(path).resolve()
    if not config.is_file():
        raise ConfigError("config file not found", file=config)
    base = root.resolve() if root is not None else find_root(config)
    if not config.is_relative_to(base):
        raise ConfigError(f"config file is outside the root {base}", file=config)
    loader = _Loader(base, allow_packages=root_allowed_packages(base))
    loader.environment = framework_environment(base, loader.module_cache)
    return loader.load(config, chain=())


@dataclass
class _Loader:
    root: Path
    allow_packages: frozenset[str] = frozenset()
    """Packages every agent may use (the command line's and framework.yaml's)."""
    agents: dict[Path, Agent] = field(default_factory=dict)
    name_owners: dict[str, Path] = field(default_factory=dict)
    module_cache: dict[Path, ModuleType] = field(default_factory=dict)
    environment: Environment | None = None
    """The hierarchy's one environment (from framework.yaml or the entry agent's file)."""

    def load(self, config: Path, chain: tuple[Path, ...]) -> Agent:
        loaded = self.agents.get(config)
        if loaded is not None:
            return loaded
        if not chain:
            # MCP servers are listed as their files load; start the whole hierarchy's at once.
            prefetch_mcp_servers(config, self.root)
        doc = load_yaml(config)
        spec = validate_document(doc, AgentFile)
        self._claim_name(doc, spec.name)
        if spec.environment is not None:
            self.environment = agent_environment(
                doc,
                spec.environment,
                self.root,
                self.module_cache,
                agent_name=spec.name,
                is_entry=not chain,
            )
        ctx = ToolBuildContext(
            doc=doc,
            root=self.root,
            module_cache=self.module_cache,
            allow_packages=allowed_packages(doc, spec.allow_packages, self.allow_packages),
        )
        tools = self._tools(doc, spec, ctx)
        agent = Agent(
            name=spec.name,
            system_prompt=self._system_prompt(doc, spec, ctx),
            description=spec.description,
            tools=tools,
            sub_agents=self._sub_agents(doc, spec, ctx, tools, (*chain, config)),
            model=self._model(doc, spec),
            limits=spec.limits,
            compaction=spec.compaction,
            tool_call_format=self._tool_call_format(doc, spec),
            prompt_vars=spec.prompt_vars,
            sees_request=spec.sees_request,
            source=str(config),
        )
        self.agents[config] = agent
        return agent

    def _claim_name(self, doc: YamlDocument, name: str) -> None:
        owner = self.name_owners.setdefault(name, doc.file)
        if owner != doc.file:
            other = display_path(owner, self.root)
            raise doc.error(("name",), f"agent name {name!r} is already used by {other}")

    def _tools(self, doc: YamlDocument, spec: AgentFile, ctx: ToolBuildContext) -> list[Tool]:
        tools: list[Tool] = []
        for i, entry in enumerate(spec.tools):
            if isinstance(entry, McpToolEntry):
                built = build_mcp_tools(entry, ("tools", i), ctx, spec.mcp_servers)
            elif isinstance(entry, EnvToolEntry):
                built = env_tools(entry, ("tools", i), doc, self.environment)
            else:
                built = [build_tool(entry, ("tools", i), ctx)]
            for tool in built:
                if any(t.name == tool.name for t in tools):
                    raise doc.error(("tools", i), f"duplicate tool name {tool.name!r}")
                tools.append(tool)
        return tools

    def _sub_agents(
        self,
        doc: YamlDocument,
        spec: AgentFile,
        ctx: ToolBuildContext,
        tools: list[Tool],
        chain: tuple[Path, ...],
    ) -> list[Agent]:
        children: list[Agent] = []
        for i, entry in enumerate(spec.sub_agents):
            loc = ("sub_agents", i, "config")
            path = ctx.resolve(loc, entry.config, must_exist=True)
            if path in chain:
                cycle = (*chain[chain.index(path) :], path)
                shown = " -> ".join(display_path(p, self.root) for p in cycle)
                raise doc.error(loc, f"sub-agent cycle: {shown}")
            child = self.load(path, chain)
            # Each sub-agent becomes a tool of its parent named after it.
            if any(t.name == child.name for t in tools):
                raise doc.error(loc, f"sub-agent name {child.name!r} clashes with a tool name")
            if any(c.name == child.name for c in children):
                raise doc.error(loc, f"duplicate sub-agent name {child.name!r}")
            children.append(child)
        return children

    def _system_prompt(self, doc: YamlDocument, spec: AgentFile, ctx: ToolBuildContext) -> str:
        if spec.system_prompt is not None and spec.system_prompt_file is not None:
            raise doc.error(
                ("system_prompt_file",), "give either system_prompt or system_prompt_file, not both"
            )
        if spec.system_prompt is not None:
            first_line = doc.text_lines.get(("system_prompt",)) or doc.line_of(("system_prompt",))
            _check_jinja(
                spec.system_prompt, doc.file, first_line, "system_prompt", set(spec.prompt_vars)
            )
            return spec.system_prompt
        if spec.system_prompt_file is None:
            raise doc.error(("system_prompt",), "required: system_prompt or system_prompt_file")
        path = ctx.resolve(("system_prompt_file",), spec.system_prompt_file, must_exist=True)
        text = read_config_text(path)
        _check_jinja(text, path, 1, None, set(spec.prompt_vars))
        return text

    def _model(self, doc: YamlDocument, spec: AgentFile) -> ModelSettings | None:
        model = spec.model
        if isinstance(model, str):
            try:
                model = parse_model_spec(model)
            except ValueError as exc:
                raise doc.error(("model",), str(exc)) from exc
        if model is not None and model.path is not None:
            # A local model file is usually large and kept outside the framework, so it is
            # resolved from the config's folder without the root check.
            model = model.model_copy(
                update={"path": str(doc.file.parent / Path(model.path).expanduser())}
            )
        return model

    def _tool_call_format(self, doc: YamlDocument, spec: AgentFile) -> str:
        if spec.tool_call_format not in TOOL_CALL_FORMATS:
            expected = ", ".join(TOOL_CALL_FORMATS)
            raise doc.error(
                ("tool_call_format",),
                f"unknown format {spec.tool_call_format!r} (expected one of: {expected})",
            )
        return spec.tool_call_format


def _check_jinja(
    template: str, file: Path, first_line: int | None, key: str | None, prompt_vars: set[str]
) -> None:
    """Parse (never render) the template. A syntax error, or a variable that is neither
    built in nor in ``prompt_vars`` (it would fail at run time), names the line in ``file``."""
    try:
        ast = SandboxedEnvironment().parse(template)
    except jinja2.TemplateSyntaxError as exc:
        line = first_line + exc.lineno - 1 if first_line is not None else None
        raise ConfigError(
            f"Jinja syntax error: {exc.message}", file=file, line=line, key=key
        ) from exc
    unsafe = next(_unsafe_attributes(ast), None)
    if unsafe is not None:
        name, lineno = unsafe
        line = first_line + lineno - 1 if first_line is not None else lineno
        raise ConfigError(
            f"template reads {name!r}: the sandbox refuses underscore and internal attributes",
            file=file,
            line=line,
            key=key,
        )
    unknown = sorted(jinja2.meta.find_undeclared_variables(ast) - PROMPT_BUILTINS - prompt_vars)
    if unknown:
        known = ", ".join(sorted(PROMPT_BUILTINS | prompt_vars))
        raise ConfigError(
            f"undefined template variable {unknown[0]!r} (known: {known}; add it to prompt_vars)",
            file=file,
            line=first_line,
            key=key,
        )


def _unsafe_attributes(ast: nodes.Template) -> Iterator[tuple[str, int]]:
    """Attribute names (with their template line) the sandbox would refuse at render time,
    as far as they are literal: ``x.__class__``, ``x['_y']``, ``x|attr('__z__')``."""
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name: object = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            first = node.args[0]
            name = first.value if isinstance(first, nodes.Const) else None
        if isinstance(name, str) and (name.startswith("_") or name in _UNSAFE_ATTRIBUTES):
            yield name, node.lineno
