"""tau2's user simulator, with its model calls made through a NexForge Model.

tau2's own ``UserSimulator`` cannot be imported without litellm (its module imports
``tau2.utils.llm_utils`` at the top), so this keeps its behaviour by reusing its parts:
the simulation guidelines shipped in tau2's data folder, its system prompt template, its
``UserState.flip_roles`` (the simulated user sees the agent as "user" and itself as
"assistant"), its stop tokens and its retries on an empty reply. Only tau2's one
``generate`` call is replaced, by ``Model.complete``.

Import this module only after ``nexforge.evaluation.tau2.require_tau2()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tau2.config import DEFAULT_MAX_RETRIES
from tau2.data_model.message import (
    AssistantMessage,
    SystemMessage,
    ToolMessage,
    UserMessage,
)
from tau2.data_model.message import ToolCall as Tau2ToolCall
from tau2.user.base import OUT_OF_SCOPE, STOP, TRANSFER, UserState
from tau2.utils import DATA_DIR

from nexforge.core.errors import NexForgeError
from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.models.base import Model, ModelRequest, Sampling

USER_AGENT_NAME = "user_simulator"
GUIDELINES_DIR = Path(DATA_DIR) / "tau2" / "user_simulator"

# tau2.user.user_simulator.SYSTEM_PROMPT, verbatim.
SYSTEM_PROMPT = """
{global_user_sim_guidelines}

<scenario>
{instructions}
</scenario>
""".strip()


class UserSimulatorError(NexForgeError):
    """The simulated user could not produce a message (tau2 ends such a run as user_error)."""


def guidelines(use_tools: bool) -> str:
    """tau2's global user-simulation guidelines (the tool variant when the user has tools)."""
    name = "simulation_guidelines_tools.md" if use_tools else "simulation_guidelines.md"
    return (GUIDELINES_DIR / name).read_text(encoding="utf-8")


def tool_spec(tool: Any) -> ToolSpec:
    """A NexForge ToolSpec from a tau2 Tool's OpenAI schema (name, description, parameters)."""
    function = tool.openai_schema["function"]
    return ToolSpec(
        name=function["name"],
        description=function.get("description") or "",
        parameters=function["parameters"],
    )


class Tau2User:
    """One task's simulated user: tau2's prompt and state, any NexForge Model behind it."""

    def __init__(
        self,
        model: Model,
        instructions: str,
        *,
        tools: list[Any] | None = None,
        sampling: Sampling | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self.model = model
        self.timeout_s = timeout_s
        self.specs = [tool_spec(t) for t in tools] if tools else []
        self.sampling = sampling or Sampling()
        prompt = SYSTEM_PROMPT.format(
            global_user_sim_guidelines=guidelines(use_tools=tools is not None),
            instructions=instructions,
        )
        self.state = UserState(
            system_messages=[SystemMessage(role="system", content=prompt)], messages=[]
        )
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.model_calls = 0

    @staticmethod
    def is_stop(message: UserMessage) -> bool:
        """tau2's rule: a text message holding ###STOP###, ###TRANSFER### or ###OUT-OF-SCOPE###."""
        if message.is_tool_call() or message.content is None:
            return False
        return any(token in message.content for token in (STOP, TRANSFER, OUT_OF_SCOPE))

    async def reply(self, incoming: list[AssistantMessage | ToolMessage]) -> UserMessage:
        """The user's next message after the agent's text or the user's own tool results."""
        self.state.messages.extend(incoming)
        request = ModelRequest(
            messages=self._model_messages(),
            tools=self.specs,
            sampling=self.sampling,
            agent=USER_AGENT_NAME,
            timeout_s=self.timeout_s,
        )
        for _ in range(DEFAULT_MAX_RETRIES + 1):
            response = await self.model.complete(request)
            self.model_calls += 1
            self.prompt_tokens += response.usage.prompt_tokens
            self.completion_tokens += response.usage.completion_tokens
            answer = response.message
            if (answer.content or "").strip() or answer.tool_calls:
                break
        else:
            raise UserSimulatorError(
                f"the user model returned an empty message {DEFAULT_MAX_RETRIES + 1} times"
            )
        calls = [
            Tau2ToolCall(id=c.id, name=c.name, arguments=c.arguments, requestor="user")
            for c in answer.tool_calls
        ]
        message = UserMessage(
            role="user",
            content=answer.content,
            tool_calls=calls or None,
            usage={
                "prompt_tokens": response.usage.prompt_tokens,
                "completion_tokens": response.usage.completion_tokens,
            },
        )
        self.state.messages.append(message)
        return message

    def _model_messages(self) -> list[Message]:
        """tau2's flipped view (system, then agent as "user", the user as "assistant")."""
        names = {
            call.id: call.name
            for m in self.state.messages
            if isinstance(m, UserMessage) and m.tool_calls
            for call in m.tool_calls
        }
        converted: list[Message] = []
        for m in self.state.system_messages + self.state.flip_roles():
            if isinstance(m, SystemMessage):
                converted.append(Message.system(m.content or ""))
            elif isinstance(m, UserMessage):
                converted.append(Message.user(m.content or ""))
            elif isinstance(m, AssistantMessage):
                calls = [
                    ToolCall(id=c.id, name=c.name, arguments=c.arguments)
                    for c in m.tool_calls or []
                ]
                converted.append(Message.assistant(m.content, calls))
            else:
                converted.append(Message.tool(m.id, names.get(m.id, ""), m.content or ""))
        return converted
