"""Stage 4: one system prompt per agent.

The model writes what only it can: the agent's role statement and working guidelines.
The rest of the prompt follows from the structure and is composed deterministically, so
it is always right: the domain's policies, the agent's tools with their rules, whom it
delegates to (in order, for a pipeline) and its output contract.
"""

from __future__ import annotations

from typing import Any

from nexforge.architect.ask import StageProblems
from nexforge.architect.spec import AgentPlan, DomainSpec, HierarchyPlan, ToolPlan

PROMPT_SYSTEM = """You write the role section of an AI agent's system prompt.
Given the system, the agent's position in its team and its tools, write a role statement
(two or three sentences, second person: "You ...") and two to four concrete working
guidelines specific to this agent's job. Call submit_prompt."""


def prompt_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "role_statement": {"type": "string", "maxLength": 400},
            "guidelines": {
                "type": "array",
                "items": {"type": "string", "maxLength": 160},
                "minItems": 2,
                "maxItems": 4,
            },
        },
        "required": ["role_statement", "guidelines"],
        "additionalProperties": False,
    }


def prompt_request(
    domain: DomainSpec, plan: HierarchyPlan, agent: AgentPlan, tools: list[ToolPlan]
) -> str:
    by_name = {t.name: t for t in tools}
    parent = next((a.name for a in plan.agents if agent.name in a.delegates), None)
    tool_lines = "\n".join(f"- {n}: {by_name[n].description}" for n in agent.tools if n in by_name)
    team = "\n".join(f"- {d}: {plan.agent(d).role}" for d in agent.delegates)
    return (
        f"System: {domain.title}. {domain.purpose}\n"
        f"Agent: {agent.name} ({'the entry agent, talks to the user' if parent is None else f'called by {parent}'})\n"
        f"Role: {agent.role}\nResponsibilities: {'; '.join(agent.responsibilities)}\n"
        f"Tools:\n{tool_lines or '- none'}\nDelegates to:\n{team or '- nobody'}\n"
        f"Feedback from an earlier run (if any) is given below."
    )


def normalize_prompt(raw: dict[str, Any]) -> tuple[str, list[str]]:
    role = " ".join(str(raw.get("role_statement") or "").split())
    guidelines = [" ".join(str(g).split()) for g in raw.get("guidelines") or []]
    guidelines = [g for g in dict.fromkeys(guidelines) if g]
    if not role:
        raise StageProblems(["role_statement is empty"])
    return role, guidelines


def compose_prompt(
    domain: DomainSpec,
    plan: HierarchyPlan,
    agent: AgentPlan,
    tools: list[ToolPlan],
    role: str,
    guidelines: list[str],
    *,
    order: list[str] | None = None,
) -> str:
    """The agent's full system prompt (Markdown)."""
    by_name = {t.name: t for t in tools}
    is_entry = agent.name == plan.entry
    sections = [f"# Role\n\n{role}\n\nYou work for {domain.title}: {domain.purpose}"]
    if agent.responsibilities:
        sections.append("## Responsibilities\n\n" + _bullets(agent.responsibilities))
    if guidelines:
        sections.append("## Guidelines\n\n" + _bullets(guidelines))
    if domain.policies:
        sections.append("## Policy\n\n" + _bullets(domain.policies))
    if agent.tools:
        lines = [f"`{n}`: {by_name[n].description}" for n in agent.tools if n in by_name]
        rules = [
            "Look records up with a tool before you state or change them; never invent ids or values.",
            "Change something only when the request asks for it and the policy allows it.",
            "If a tool returns an error, read it, fix the arguments or explain the refusal.",
        ]
        sections.append("## Tools\n\n" + _bullets(lines) + "\n\nRules:\n" + _bullets(rules))
    if agent.delegates:
        lines = [f"`{d}`: {plan.agent(d).role}" for d in agent.delegates]
        how = (
            "Call them in this order: " + " -> ".join(f"`{d}`" for d in order) + "."
            if order
            else ("Delegate each part of the request to the agent whose role covers it.")
        )
        sections.append(
            "## Your team\n\n"
            + _bullets(lines)
            + f"\n\n{how} Give each the user's exact request with every id, name and number "
            "it needs; they cannot see the conversation."
        )
    contract = (
        "Answer the user in a few plain sentences: what you found or changed, with the ids "
        "and values the tools returned. Say plainly when something cannot be done and why."
        if is_entry
        else "Reply to the agent that called you with the facts it asked for and what you "
        "changed, quoting ids and values exactly as the tools returned them. No greetings."
    )
    sections.append(f"## Output\n\n{contract}")
    return "\n\n".join(sections) + "\n"


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)
