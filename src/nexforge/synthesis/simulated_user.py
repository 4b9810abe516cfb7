"""The simulated user: a persona with a goal and private facts, answering an agent.

It reveals a fact only when the agent asks for it, so multi-turn rollouts hold the
clarifications and confirmations a one-shot query never shows. It sees the conversation
from its own side: the agent's replies are the user messages it answers, its own
messages are the assistant's; the agent's tool calls and sub-agents stay hidden from it.
Each of its turns is one structured answer (``ask``): the next message and whether to go
on, or end because the goal was met or cannot be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from nexforge.architect.ask import AskSettings, StageProblems, StageUsage, ask
from nexforge.core.messages import Message
from nexforge.models.base import Model
from nexforge.synthesis.records import QueryRecord

UserTurnStatus = Literal["continue", "goal_met", "abandoned"]
STAGE = "user_turn"
USER_TURN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {
            "type": "string",
            "description": "What you say to the assistant next (may be empty when you end).",
        },
        "status": {
            "type": "string",
            "enum": ["continue", "goal_met", "abandoned"],
            "description": (
                "continue: the conversation goes on with your message; goal_met: you got "
                "what you wanted; abandoned: it clearly cannot be done here."
            ),
        },
    },
    "required": ["message", "status"],
    "additionalProperties": False,
}
# Chat templates want a user message first; the simulator's opening is its query.
OPENING_CUE = "(You are connected to the assistant. Write your first message.)"
NO_REPLY = "(The assistant sent an empty reply.)"

_RULES = """\
How to play:
- Stay in character as this person; you are the user, never the assistant. Keep each \
message short, as this person would write it.
- Reveal a fact from your list only when the assistant asks for it; do not volunteer \
facts in advance.
- Never invent facts. If the assistant asks for something that is not in your list, say \
you do not know it.
- When the assistant asks you to confirm something that serves your goal, confirm it.
- End the conversation with status "goal_met" once the assistant has done or answered \
what you wanted, or "abandoned" when it clearly cannot be done (the assistant cannot \
help, refuses, or keeps failing). Otherwise use status "continue" with your next message.
Answer with one call to submit_user_turn."""


@dataclass(frozen=True)
class UserTurn:
    """One answer of the simulator: its message and whether the conversation goes on."""

    message: str
    status: UserTurnStatus


def _normalize_turn(answer: dict[str, Any]) -> UserTurn:
    message = str(answer["message"]).strip()
    status: UserTurnStatus = answer["status"]
    if status == "continue" and not message:
        raise StageProblems(["message is empty: write what you say next, or end the conversation"])
    return UserTurn(message, status)


def user_system_prompt(query: QueryRecord) -> str:
    """The simulator's instructions: persona, goal, the facts only the user knows, rules."""
    persona = query.persona or {}
    who = [f"- {key}: {value}" for key, value in persona.items() if key != "id" and value]
    goal = query.user.goal if query.user is not None else query.text
    facts = [f"- {fact}" for fact in (query.user.facts if query.user is not None else [])]
    parts = [
        "You are role-playing a user who is talking to an assistant, in a test conversation.",
        "Who you are:\n" + "\n".join(who) if who else "You are an ordinary user of this service.",
        f"What you want: {goal}",
        "Facts only you know (the assistant does not know them):\n" + "\n".join(facts)
        if facts
        else "You know no details beyond what you said in your first message.",
        _RULES,
    ]
    return "\n\n".join(parts)


class UserSimulator:
    """The user side of a conversation; ``reply`` answers the agent's latest message."""

    def __init__(
        self, query: QueryRecord, model: Model, *, settings: AskSettings | None = None
    ) -> None:
        self.model = model
        self.system_prompt = user_system_prompt(query)
        self.settings = settings or AskSettings()
        self.usage = StageUsage()
        self._history = [Message.user(OPENING_CUE), Message.assistant(query.text)]

    async def reply(self, agent_message: str) -> UserTurn:
        """The user's next turn. Raises ``StageFailed``; model errors propagate."""
        said = agent_message.strip() or NO_REPLY
        turn = await ask(
            self.model,
            stage=STAGE,
            system=self.system_prompt,
            prompt=said,
            schema=USER_TURN_SCHEMA,
            normalize=_normalize_turn,
            settings=self.settings,
            usage=self.usage,
            description="Submit your next message to the assistant and the conversation status.",
            history=self._history,
        )
        self._history += [Message.user(said), Message.assistant(turn.message)]
        return turn
