"""Stage 4: one system prompt per agent.

The prompt is composed from the structure, so what it says about the domain, the tools
and the team is always right: the agent's responsibilities, the domain's policies, its
tools with their rules, whom it delegates to (in order, for a pipeline) and its output
contract. The model writes only the short job-specific parts: a role statement and two
working habits. Asked with no worked example, the 0.5B model wrote "Submit the prompt."
and habits about "the prompt"; so the request shows one, and the composed prompt is
checked with the quality rung's prompt checks, whose reasons go back to the model. What
is still wrong after the repairs is replaced by a role statement written from the
structure (``fallback_role``) and habits are dropped.
"""

from __future__ import annotations

from typing import Any

from nexforge.architect.ask import StageProblems
from nexforge.architect.nouns import singular
from nexforge.architect.quality_rung import (
    AgentInfo,
    FrameworkContent,
    agent_prompt_problems,
    spec_content,
)
from nexforge.architect.schema_parts import array, closed_object, text
from nexforge.architect.similarity import word_similarity
from nexforge.architect.spec import AgentPlan, DomainSpec, HierarchyPlan, ToolPlan

EXAMPLE_HABITS = (
    "Confirm the plate and the customer's name before you close a rental.",
    "Quote the daily rate and the days charged when you explain a bill.",
)
"""The worked example's habits: a habit that repeats one (the 0.5B model wrote "Quote the
daily rate and the days charged" for a bike shop that has neither) is dropped."""

PROMPT_SYSTEM = f"""You write the opening of an AI agent's instructions, speaking to the
agent ("You ..."): two sentences on whom it serves and what it handles, then two working
habits for this job. Write about the work, never about prompts or instructions.
Example. Agent rental_specialist at a car rental desk handles rentals and returns.
{{"role": "You handle rentals and returns for the customers of a car rental desk. You
check each rental before you change it and explain what happened in plain words.",
"habits": ["{EXAMPLE_HABITS[0]}",
"{EXAMPLE_HABITS[1]}"]}}
Call submit_prompt."""


COPY_SIMILARITY = 0.5


def prompt_schema() -> dict[str, Any]:
    return closed_object({"role": text(300), "habits": array(text(140), 2, 2)})


def prompt_request(domain: DomainSpec, plan: HierarchyPlan, agent: AgentPlan) -> str:
    """One line shaped like the worked example (the 0.5B model copied anything else)."""
    people = next((e.name for e in domain.entities if e.kind == "person"), "users")
    place = domain.title[:1].lower() + domain.title[1:]
    if agent.delegates:
        work = f"talks to {people.replace('_', ' ')} and hands work to {', '.join(agent.delegates)}"
    else:
        work = agent.role.rstrip(".").split(":")[0].lower()
    return f"Agent {agent.name} at the {place} {work}."


def copies(text: str, source: str) -> bool:
    """Whether ``text`` mostly repeats ``source`` (a small model's echo of its request)."""
    return word_similarity(text, source) >= COPY_SIMILARITY


def normalize_prompt(raw: dict[str, Any]) -> tuple[str, list[str]]:
    role = " ".join(str(raw.get("role") or "").split())
    habits = [" ".join(str(h).split()) for h in raw.get("habits") or []]
    if not role:
        raise StageProblems(["role is empty"])
    return role, [h for h in dict.fromkeys(habits) if h]


def prompt_problems(prompt: str, agent: AgentPlan, content: FrameworkContent) -> list[str]:
    """The quality rung's reasons against one composed prompt."""
    info = AgentInfo(agent.name, prompt, list(agent.tools), list(agent.delegates))
    return [p.what for p in agent_prompt_problems(info, content)]


def prompt_content(domain: DomainSpec, tools: list[ToolPlan]) -> FrameworkContent:
    """What a prompt is checked against: the domain's tables and tools."""
    return spec_content("", domain, None, tools)


def fallback_role(domain: DomainSpec, plan: HierarchyPlan, agent: AgentPlan) -> str:
    """A role statement written from the structure, for when the model's is unusable."""
    people = next((e.name for e in domain.entities if e.kind == "person"), "users")
    place = domain.title
    if agent.delegates:
        return (
            f"You run {place} for its {people.replace('_', ' ')}: you find out what each "
            "request needs and hand the work to the teammate whose role covers it. You "
            "answer with what they found or changed, and say plainly when something "
            "cannot be done."
        )
    handled = agent.role.rstrip(".")
    return (
        f"You work at {place} for its {people.replace('_', ' ')}. {handled}; you look "
        "records up before you state or change them and report exactly what you found."
    )


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
            *_finding_rules(agent.tools, by_name),
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
        blind = (
            " You cannot see the records yourself: hand every request to a teammate before "
            "you answer, and answer only with what they report."
            if not agent.tools
            else ""
        )
        sections.append(
            "## Your team\n\n"
            + _bullets(lines)
            + f"\n\n{how} Give each the user's exact request with every id, name and number "
            f"it needs; they see the user's latest message, but nothing else of the "
            f"conversation.{blind}"
        )
    contract = (
        "Answer the user in a few plain sentences: what you found or changed, with the ids "
        "and values the tools returned. Say plainly when something cannot be done and why."
        if is_entry
        else "Do the task you are given; the user's message that comes with it is for the "
        "ids, names and numbers the task may leave out. Reply to the agent that called you "
        "with the facts it asked for and what you changed, quoting ids and values exactly as "
        "the tools returned them. No greetings."
    )
    sections.append(f"## Output\n\n{contract}")
    return "\n\n".join(sections) + "\n"


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


def _finding_rules(names: list[str], tools: dict[str, ToolPlan]) -> list[str]:
    """How to find a record the request names without its id, per entity the agent can
    search ("a bike named in words is found with search_bikes, then used by its id")."""
    rules = []
    for name in names:
        tool = tools.get(name)
        if tool is None or tool.kind != "search" or tool.entity is None:
            continue
        noun = singular(tool.entity).replace("_", " ")
        rules.append(
            f"When a request names a {noun} by its name rather than its id, find it with "
            f"`{name}` first and use the id it returns; an id is a number the request or a "
            "tool gave you, never a guess."
        )
    return rules
