"""What a run observed and did, read off its trajectory: the texts its tools returned, the
tools it called, the state-changing calls that succeeded and the sub-agents it used.

"Observed" means returned by a tool of the environment (or of the hierarchy's other
tools), in any episode. A sub-agent's answer, handed back to its parent as a tool result,
is not an observation: it was written by a model, so it is followed into the sub-agent's
own episode instead. The query and the simulated user's turns are what the person said.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nexforge.core.trajectory import Trajectory
from nexforge.synthesis.facts import states, tokens

FINISH_TOOL = "finish"


@dataclass(frozen=True)
class Call:
    episode: str
    agent: str
    name: str
    ok: bool
    writes: bool


@dataclass
class Observations:
    tool_texts: list[str] = field(default_factory=list)
    """What environment tools returned (errors included: a refusal is an observation)."""
    user_texts: list[str] = field(default_factory=list)
    """The query and the simulated user's later turns (root episode only)."""
    calls: list[Call] = field(default_factory=list)
    """Every call to a tool that is not a sub-agent, in episode order."""
    sub_agents: list[str] = field(default_factory=list)
    """The agent of each sub-agent episode."""

    @classmethod
    def of(cls, trajectory: Trajectory) -> Observations:
        seen = cls()
        delegations = {
            (e.parent_episode_id, e.parent_tool_call_id): e.agent
            for e in trajectory.episodes
            if e.parent_episode_id is not None
        }
        seen.sub_agents = [e.agent for e in trajectory.episodes if e.parent_episode_id]
        for episode in trajectory.episodes:
            specs = {t.name: t for t in episode.tools}
            failed = {m.tool_call_id for m in episode.messages if m.role == "tool" and m.is_error}
            delegated = {
                call_id for (parent, call_id) in delegations if parent == episode.episode_id
            }
            if episode.parent_episode_id is None:
                seen.user_texts += [m.content or "" for m in episode.messages if m.role == "user"]
            for message in episode.messages:
                if message.role == "assistant":
                    for call in message.tool_calls or []:
                        if call.id in delegated or call.name == FINISH_TOOL:
                            continue
                        spec = specs.get(call.name)
                        seen.calls.append(
                            Call(
                                episode=episode.episode_id,
                                agent=episode.agent,
                                name=call.name,
                                ok=call.id not in failed,
                                writes=spec is not None and not spec.read_only,
                            )
                        )
                elif (
                    message.role == "tool"
                    and message.tool_call_id not in delegated
                    and message.name != FINISH_TOOL
                ):
                    seen.tool_texts.append(message.content or "")
        return seen

    @property
    def tools_called(self) -> list[str]:
        return list(dict.fromkeys(c.name for c in self.calls))

    @property
    def writes_made(self) -> list[str]:
        """Names of the state-changing calls that succeeded."""
        return [c.name for c in self.calls if c.writes and c.ok]

    def observed(self, fact: str) -> bool:
        """Whether a tool returned ``fact`` (see ``synthesis.facts.states``)."""
        return any(states(text, fact) for text in self.tool_texts)

    def observed_tokens(self) -> set[str]:
        return {t for text in self.tool_texts for t in tokens(text)}

    def said_tokens(self) -> set[str]:
        return {t for text in self.user_texts for t in tokens(text)}
