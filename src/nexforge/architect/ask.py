"""One structured answer from a model: a forced call to a ``submit_<stage>`` tool.

Every stage of a build asks the same way. The stage's JSON Schema becomes the parameters
of one tool, and ``tool_choice`` names it: the local provider turns that into constrained
decoding (llguidance), remote OpenAI-compatible endpoints into tool-call forcing. A model
that answers in text anyway is given one chance to have its JSON parsed from the text.

The answer is then checked against the schema and normalised by the stage. A problem the
normaliser cannot fix goes back to the model as the tool's error result, and the model
is asked again, a bounded number of times; after that the stage fails with the reasons.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from nexforge.core.errors import NexForgeError
from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.models.base import Model, ModelRequest, NamedToolChoice, Sampling
from nexforge.tools.validation import validate_arguments

T = TypeVar("T")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


class StageProblems(ValueError):
    """Raised by a normaliser: what is wrong with an answer, one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class StageFailed(NexForgeError):
    """A stage's answer was still unusable after its repairs."""

    def __init__(self, stage: str, problems: list[str]) -> None:
        shown = "; ".join(problems[:5]) + (
            f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        )
        super().__init__(f"stage {stage!r} failed after repairs: {shown}")
        self.stage = stage
        self.problems = problems


@dataclass
class StageUsage:
    """What one stage cost: model calls, tokens, seconds, repairs and the fixes applied."""

    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    repairs: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)

    def add(self, other: StageUsage) -> None:
        self.model_calls += other.model_calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.seconds += other.seconds
        self.repairs.extend(other.repairs)
        self.fixes.extend(other.fixes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_calls": self.model_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 3),
            "repairs": list(self.repairs),
            "fixes": list(self.fixes),
        }


@dataclass(frozen=True)
class AskSettings:
    """How stages talk to the model."""

    sampling: Sampling = field(default_factory=lambda: Sampling(temperature=0.0))
    max_repairs: int = 2
    timeout_s: float = 600.0
    max_tokens: int = 2048


async def ask(
    model: Model,
    *,
    stage: str,
    system: str,
    prompt: str,
    schema: dict[str, Any],
    normalize: Callable[[dict[str, Any]], T],
    settings: AskSettings,
    usage: StageUsage,
    description: str = "",
    history: Sequence[Message] = (),
) -> T:
    """Ask ``model`` to fill ``schema``; return ``normalize(answer)``.

    ``history`` goes between the system message and ``prompt`` (the last user message),
    for a stage that answers inside a running conversation.

    Raises ``StageFailed`` when every attempt was rejected (schema or normaliser) and
    lets model errors (``ModelError``) propagate: the provider already retried them.
    """
    tool = ToolSpec(
        name=f"submit_{stage}",
        description=description or f"Submit the {stage.replace('_', ' ')}.",
        parameters=schema,
    )
    messages = [Message.system(system), *history, Message.user(prompt)]
    sampling = settings.sampling
    if sampling.max_tokens is None:
        sampling = sampling.model_copy(update={"max_tokens": settings.max_tokens})
    problems: list[str] = []
    for attempt in range(settings.max_repairs + 1):
        request = ModelRequest(
            messages=messages,
            tools=[tool],
            tool_choice=NamedToolChoice(name=tool.name),
            sampling=sampling,
            agent=f"architect.{stage}",
            timeout_s=settings.timeout_s,
        )
        started = time.perf_counter()
        response = await model.complete(request)
        usage.seconds += time.perf_counter() - started
        usage.model_calls += 1
        usage.prompt_tokens += response.usage.prompt_tokens
        usage.completion_tokens += response.usage.completion_tokens
        answer, call, problems = _answer_of(response.message, tool)
        if not problems:
            assert answer is not None
            try:
                return normalize(answer)
            except StageProblems as exc:
                problems = exc.problems
        if attempt == settings.max_repairs:
            break
        usage.repairs.append(f"{stage} attempt {attempt + 1}: {'; '.join(problems)[:300]}")
        messages = [*messages, *_repair_turn(response.message, call, tool, problems)]
    raise StageFailed(stage, problems)


def _answer_of(
    message: Message, tool: ToolSpec
) -> tuple[dict[str, Any] | None, ToolCall | None, list[str]]:
    """The submitted arguments (or JSON found in the text), and what is wrong with them."""
    call = next((c for c in message.tool_calls if c.name == tool.name), None)
    if call is not None and call.invalid_arguments is not None:
        return None, call, [f"the arguments were not valid JSON: {call.invalid_arguments[:120]!r}"]
    if call is not None:
        answer: Any = call.arguments
    else:
        answer = _json_in_text(message.content or "")
        if answer is None:
            return None, None, [f"no call to {tool.name} and no JSON object in the answer"]
        if isinstance(answer, dict) and set(answer) == {"name", "arguments"}:
            answer = answer["arguments"]
    if not isinstance(answer, dict):
        return None, call, [f"expected a JSON object, got {type(answer).__name__}"]
    error = validate_arguments(tool, answer)
    return (None, call, [error]) if error else (answer, call, [])


def _json_in_text(text: str) -> Any:
    for candidate in [*_FENCE.findall(text), text]:
        start, end = candidate.find("{"), candidate.rfind("}")
        if start == -1 or end <= start:
            continue
        try:
            return json.loads(candidate[start : end + 1])
        except json.JSONDecodeError:
            continue
    return None


def _repair_turn(
    said: Message, call: ToolCall | None, tool: ToolSpec, problems: list[str]
) -> list[Message]:
    feedback = (
        f"Rejected: {'; '.join(problems)}. Call {tool.name} again with every problem fixed "
        "and everything else kept."
    )
    if call is None:
        return [said, Message.user(feedback)]
    # Only the submit call is answered: a repair turn must be a well-formed conversation.
    kept = said.model_copy(update={"tool_calls": [call]})
    return [kept, Message.tool(call.id, tool.name, feedback, is_error=True)]
