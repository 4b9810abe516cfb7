"""ScriptedModel: a strict, deterministic Model for tests (yours and ours).

A script is an ordered list of steps, a dict of such lists keyed by agent name, or a
function of the request (which keeps parallel and concurrent tests deterministic). A
step is a final text, an assistant ``Message``, a full ``ModelResponse``, or a callable
taking the request and returning one of those (to assert on what the model was sent).

It fails loudly: a request the script did not expect raises ``ScriptError`` (an
``AssertionError``, so it escapes the runtime and fails the test), and ``assert_done()``
(or leaving a ``with`` block) fails when steps were left unconsumed.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from nexforge.core.errors import ScriptError
from nexforge.core.messages import Message, ToolCall
from nexforge.models.base import ModelRequest, ModelResponse, TokenUsage
from nexforge.models.settings import DEFAULT_CONTEXT_LENGTH

StepValue = str | Message | ModelResponse
Step = StepValue | Callable[[ModelRequest], StepValue]
Responder = Callable[[ModelRequest], StepValue | Awaitable[StepValue]]

_call_ids = itertools.count(1)


def say(text: str, *, reasoning: str | None = None) -> Message:
    """A final answer (or, for text-mode agents, raw text that may hold calls)."""
    return Message.assistant(text, reasoning=reasoning)


def call(name: str, /, **arguments: Any) -> Message:
    """One tool call (or sub-agent call: ``call("researcher", task="...")``)."""
    return calls((name, arguments))


def calls(*pairs: tuple[str, dict[str, Any]], content: str | None = None) -> Message:
    """Several tool calls in one reply (they run in parallel)."""
    return Message.assistant(
        content,
        [ToolCall(id=f"call_{next(_call_ids)}", name=n, arguments=a) for n, a in pairs],
    )


def estimate_tokens(text: str) -> int:
    """The crude, deterministic chars/4 estimate used for scripted usage."""
    return (len(text) + 3) // 4


def _as_response(value: StepValue, request: ModelRequest, model_name: str) -> ModelResponse:
    if isinstance(value, ModelResponse):
        return value
    message = value if isinstance(value, Message) else say(value)
    if message.role != "assistant":
        raise ScriptError(f"scripted step must be an assistant message, got role {message.role!r}")
    prompt = sum(estimate_tokens(m.content or "") for m in request.messages)
    completion = estimate_tokens(message.content or "") + sum(
        estimate_tokens(str(c.arguments)) for c in message.tool_calls
    )
    return ModelResponse(
        message=message,
        usage=TokenUsage(prompt_tokens=prompt, completion_tokens=completion),
        finish_reason="tool_calls" if message.tool_calls else "stop",
        model=model_name,
    )


class ScriptedModel:
    """A Model that replays a script; see the module docstring."""

    def __init__(
        self,
        script: Sequence[Step] | Mapping[str, Sequence[Step]] | Responder,
        *,
        name: str = "scripted",
        context_length: int = DEFAULT_CONTEXT_LENGTH,
        record_requests: bool = True,
    ) -> None:
        self._name = name
        self._record = record_requests
        self.context_length = context_length
        self._responder: Responder | None = None
        self._queues: dict[str | None, list[Step]] = {}
        if callable(script):
            self._responder = script
        elif isinstance(script, Mapping):
            self._queues = {agent: list(steps) for agent, steps in script.items()}
        else:
            self._queues = {None: list(script)}
        self.requests: list[ModelRequest] = []

    @property
    def name(self) -> str:
        return self._name

    async def complete(self, request: ModelRequest) -> ModelResponse:
        if self._record:
            self.requests.append(request)
        if self._responder is not None:
            value = self._responder(request)
            if inspect.isawaitable(value):
                value = await value
            return _as_response(value, request, self._name)
        step = self._next_step(request)
        value = step(request) if callable(step) else step
        return _as_response(value, request, self._name)

    def _next_step(self, request: ModelRequest) -> Step:
        key = None if None in self._queues else request.agent
        queue = self._queues.get(key)
        if queue is None:
            raise ScriptError(
                f"unexpected model call from agent {request.agent!r}: the script has steps only "
                f"for {sorted(k for k in self._queues if k is not None)}"
            )
        if not queue:
            last = request.messages[-1] if request.messages else None
            seen = f"; last message ({last.role}): {(last.content or '')[:120]!r}" if last else ""
            who = f" for agent {key!r}" if key is not None else ""
            raise ScriptError(f"unexpected model call: the script{who} is exhausted{seen}")
        return queue.pop(0)

    @property
    def remaining(self) -> dict[str | None, int]:
        return {agent: len(steps) for agent, steps in self._queues.items() if steps}

    def assert_done(self) -> None:
        """Fail if any scripted step was never consumed."""
        if self.remaining:
            raise ScriptError(f"scripted steps left unconsumed: {self.remaining}")

    def __enter__(self) -> ScriptedModel:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.assert_done()
