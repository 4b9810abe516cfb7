"""One tau2 task-trial: the NexForge runtime as the agent, on the task's own tau2 environment.

The turn-taking mirrors tau2's ``Orchestrator`` (not in solo mode): the agent greets, the
simulated user answers; each user text is one agent turn (``Conversation.send``: any
number of tool steps, run by tau2's environment, whose database changes), and the agent's
final text goes back to the user; a user's own tool calls run on the environment and
their results go back to the user. It ends when the user sends a stop token or a limit is
reached, as tau2's runs end. The exchange is recorded as tau2 messages, a
``SimulationRun`` that tau2's evaluators score.

Import this module only after ``nexforge.evaluation.tau2.require_tau2()``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tau2.data_model.message import AssistantMessage, ToolMessage, UserMessage
from tau2.data_model.message import ToolCall as Tau2ToolCall
from tau2.data_model.simulation import SimulationRun, TerminationReason
from tau2.data_model.tasks import Task
from tau2.environment.toolkit import ToolType
from tau2.utils.utils import get_now

from nexforge.core.errors import NexForgeError
from nexforge.core.messages import Message
from nexforge.evaluation.tau2_reward import EnvironmentConstructor, evaluate_simulation
from nexforge.evaluation.tau2_user import Tau2User, tool_spec
from nexforge.models.base import Model, ModelRequest, Sampling
from nexforge.runtime.agent import Agent
from nexforge.runtime.conversation import Conversation
from nexforge.runtime.limits import Limits
from nexforge.runtime.middleware import HookContext, Middleware
from nexforge.tools.base import Tool, ToolOutcome

AGENT_NAME = "tau2_agent"
# tau2.orchestrator.orchestrator.DEFAULT_FIRST_AGENT_MESSAGE's text.
GREETING = "Hi! How can I help you today?"
# tau2.agent.llm_agent.AGENT_INSTRUCTION and SYSTEM_PROMPT, verbatim.
AGENT_INSTRUCTION = """
You are a customer service agent that helps the user according to the <policy> provided below.
In each turn you can either:
- Send a message to the user.
- Make a tool call.
You cannot do both at the same time.

Try to be helpful and always follow the policy. Always make sure you generate valid JSON only.
""".strip()
SYSTEM_PROMPT = """
<instructions>
{agent_instruction}
</instructions>
<policy>
{domain_policy}
</policy>
""".strip()
MAX_TOOL_OUTPUT_CHARS = 200_000
"""Above the runtime's default (20,000) so the model reads what tau2's record holds (its
largest answers, a user's full order history, are tens of KB), still bounding the context."""
"""Tool results are not capped: tau2's agent sees them whole, and its replay compares them."""


class EpisodeError(NexForgeError):
    """A task-trial could not run to an end (the agent's model failed): recorded, retried."""


@dataclass(frozen=True)
class EpisodeLimits:
    max_turns: int = 30
    """User messages (texts and tool calls) before the run ends as tau2's max_steps."""
    max_steps: int = 30
    """Agent model calls in one turn."""
    max_errors: int = 10
    """Tool errors in the run before it ends as too_many_errors (tau2's default)."""
    turn_timeout_s: float = 600.0
    temperature: float | None = 0.0
    max_tokens: int | None = None


@dataclass
class Tally:
    agent_turns: int = 0
    agent_model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: int = 0
    user_turns: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    """Agent calls the runtime answered itself (bad arguments, unknown tool): never run."""


@dataclass
class EpisodeOutcome:
    simulation: SimulationRun
    tally: Tally
    user_tokens: int = 0


def system_prompt(policy: str) -> str:
    text = SYSTEM_PROMPT.format(domain_policy=policy, agent_instruction=AGENT_INSTRUCTION)
    # The runtime renders system prompts as Jinja templates: a policy is plain text.
    return "{% raw %}" + text + "{% endraw %}" if "{" in text else text


@dataclass
class _Run:
    name: str
    arguments: dict[str, Any]
    result: ToolMessage


class DomainTools:
    """The domain's assistant tools as NexForge Tools, each call run by ``env.get_response``.

    Every call that reaches the environment is recorded in order, so the turn can be
    rebuilt as tau2 messages holding exactly what the environment answered.
    """

    def __init__(self, env: Any) -> None:
        self.env = env
        self.runs: list[_Run] = []
        self._taken = 0
        self.tools = [self._bind(tool) for tool in env.get_tools()]

    def _bind(self, tau2_tool: Any) -> Tool:
        spec = tool_spec(tau2_tool).model_copy(
            update={"read_only": self.env.tools.tool_type(tau2_tool.name) == ToolType.READ}
        )

        async def run(**arguments: Any) -> ToolOutcome:
            call = Tau2ToolCall(name=spec.name, arguments=arguments, requestor="assistant")
            result = self.env.get_response(call)
            self.runs.append(_Run(spec.name, arguments, result))
            return ToolOutcome(result.content or "", is_error=result.error)

        return Tool(spec=spec, fn=run, max_output_chars=MAX_TOOL_OUTPUT_CHARS)

    def take(self, name: str, arguments: dict[str, Any]) -> ToolMessage | None:
        """The environment's answer to the next call, if that call reached it.

        Calls run one at a time in call order (``max_parallel_tools=1``), so the next
        recorded run is this call's unless the runtime refused the call before running it.
        """
        if self._taken < len(self.runs):
            run = self.runs[self._taken]
            if run.name == name and run.arguments == arguments:
                self._taken += 1
                return run.result
        return None

    def to_tau2(self, messages: list[Message], refused: list[dict[str, Any]]) -> list[Any]:
        """One agent turn's new messages as tau2 messages; refused calls go to ``refused``."""
        answers = {m.tool_call_id: m.content for m in messages if m.role == "tool"}
        converted: list[Any] = []
        for message in messages:
            if message.role != "assistant":
                continue
            calls: list[Tau2ToolCall] = []
            results: list[ToolMessage] = []
            for call in message.tool_calls:
                result = self.take(call.name, call.arguments)
                if result is None:
                    refused.append(
                        {
                            "name": call.name,
                            "arguments": call.arguments,
                            "answer": answers.get(call.id),
                        }
                    )
                    continue
                calls.append(Tau2ToolCall(id=call.id, name=call.name, arguments=call.arguments))
                results.append(result.model_copy(update={"id": call.id}))
            text = message.content if (message.content or "").strip() else None
            if text is None and not calls:
                continue
            converted.append(
                AssistantMessage(role="assistant", content=text, tool_calls=calls or None)
            )
            # Re-stamped so timestamps follow the order (tau2 sorts by them).
            converted.extend(r.model_copy(update={"timestamp": get_now()}) for r in results)
        return converted


class _Tau2AgentView(Middleware):
    """What tau2's agent model sees besides the runtime's history: its greeting, its sampling."""

    def __init__(self, limits: EpisodeLimits) -> None:
        self.limits = limits

    async def before_model(self, ctx: HookContext, request: ModelRequest) -> ModelRequest:
        messages = list(request.messages)
        head = 1 if messages and messages[0].role == "system" else 0
        messages.insert(head, Message.assistant(GREETING))
        sampling = request.sampling.model_copy(
            update={
                "temperature": self.limits.temperature,
                "max_tokens": self.limits.max_tokens,
            }
        )
        return request.model_copy(update={"messages": messages, "sampling": sampling})


async def run_episode(
    task: Task,
    make_env: EnvironmentConstructor,
    agent_model: Model,
    user_model: Model,
    limits: EpisodeLimits,
    *,
    trial: int = 0,
) -> EpisodeOutcome:
    """Simulate ``task`` once on a fresh environment and score it with tau2's evaluators."""
    env = make_env()
    initial = task.initial_state
    env.set_state(
        initialization_data=initial.initialization_data if initial else None,
        initialization_actions=initial.initialization_actions if initial else None,
        message_history=[],
    )
    episode = _Episode(env, agent_model, user_model, task, limits)
    start_time, started = get_now(), time.perf_counter()
    termination = await episode.converse()
    for index, message in enumerate(episode.messages):
        message.turn_idx = index
    simulation = SimulationRun(
        id=str(uuid.uuid4()),
        task_id=task.id,
        start_time=start_time,
        end_time=get_now(),
        duration=time.perf_counter() - started,
        termination_reason=termination,
        messages=episode.messages,
        trial=trial,
    )
    # The replays build fresh environments: CPU work, kept off the event loop.
    simulation.reward_info = await asyncio.to_thread(
        evaluate_simulation, simulation, task, make_env
    )
    user = episode.user
    return EpisodeOutcome(
        simulation=simulation,
        tally=episode.tally,
        user_tokens=user.prompt_tokens + user.completion_tokens,
    )


class _Episode:
    """The conversation of one task-trial; ``messages`` grows into the tau2 record."""

    def __init__(
        self, env: Any, agent_model: Model, user_model: Model, task: Task, limits: EpisodeLimits
    ) -> None:
        self.env = env
        self.agent_model = agent_model
        self.limits = limits
        self.tools = DomainTools(env)
        self.agent = Agent(
            name=AGENT_NAME,
            system_prompt=system_prompt(env.get_policy()),
            tools=self.tools.tools,
            limits=Limits(
                max_steps=limits.max_steps, max_parallel_tools=1, timeout_s=limits.turn_timeout_s
            ),
        )
        self.user = Tau2User(
            user_model,
            str(task.user_scenario),
            tools=env.get_user_tools() if env.user_tools is not None else None,
            sampling=Sampling(temperature=limits.temperature, max_tokens=limits.max_tokens),
            timeout_s=limits.turn_timeout_s,
        )
        self.greeting = AssistantMessage(role="assistant", content=GREETING, cost=0.0)
        self.messages: list[Any] = [self.greeting]
        self.tally = Tally()
        self.errors = 0

    async def converse(self) -> TerminationReason:
        """Alternate user and agent until the user stops or a limit is reached."""
        to_user: list[Any] = [self.greeting]
        middleware = [_Tau2AgentView(self.limits)]
        async with Conversation(self.agent, model=self.agent_model, middleware=middleware) as chat:
            while True:
                if self.tally.user_turns >= self.limits.max_turns:
                    return TerminationReason.MAX_STEPS
                message = await self.user.reply(to_user)
                self.tally.user_turns += 1
                self.messages.append(message)
                if Tau2User.is_stop(message):
                    return TerminationReason.USER_STOP
                if message.is_tool_call():
                    to_user = self._run_user_calls(message)
                else:
                    reply = await self._agent_turn(chat, message.content or "")
                    if isinstance(reply, TerminationReason):
                        return reply
                    to_user = [reply]
                if self.errors >= self.limits.max_errors:
                    return TerminationReason.TOO_MANY_ERRORS

    def _run_user_calls(self, message: UserMessage) -> list[ToolMessage]:
        results = [self.env.get_response(call) for call in message.tool_calls]
        self.errors += sum(1 for r in results if r.error)
        self.messages.extend(results)
        return results

    async def _agent_turn(
        self, chat: Conversation, text: str
    ) -> AssistantMessage | TerminationReason:
        """One agent turn; its text for the user, or why the run ends here."""
        history = chat.trajectory.root_episode().messages if self.tally.agent_turns else []
        seen = len(history)
        result = await chat.send(text)
        self.tally.agent_turns += 1
        turn = self.tools.to_tau2(
            chat.trajectory.root_episode().messages[seen:], self.tally.refused
        )
        self.messages.extend(turn)
        self.errors += sum(1 for m in turn if isinstance(m, ToolMessage) and m.error)
        usage = result.usage
        self.tally.agent_model_calls += usage.model_calls
        self.tally.prompt_tokens += usage.prompt_tokens
        self.tally.completion_tokens += usage.completion_tokens
        self.tally.tool_calls += usage.tool_calls
        if result.stop_reason == "error":
            raise EpisodeError(f"the agent's model failed: {result.error}")
        if result.stop_reason != "completed":
            return TerminationReason.MAX_STEPS
        last = turn[-1] if turn else None
        if not isinstance(last, AssistantMessage) or last.is_tool_call():
            # An empty agent message fails tau2's validate(), which ends its run.
            return TerminationReason.AGENT_ERROR
        return last
