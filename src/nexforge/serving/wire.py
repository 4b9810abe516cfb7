"""The server side of the OpenAI chat wire format: request JSON -> ModelRequest, and back.

The client direction lives in ``nexforge.models.openai``; where the two are the same
(an assistant message on the wire, argument decoding) that module's helpers are reused.
Incoming requests are Pydantic models: invalid input becomes an ``InvalidRequest`` naming
the offending field (``param``) so the HTTP layer can answer 400 with a useful message.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec, empty_object_schema
from nexforge.models.base import (
    ModelRequest,
    ModelResponse,
    NamedToolChoice,
    Sampling,
    ToolChoice,
)

# The client direction's decoder: undecodable text is kept as ``invalid_arguments``.
from nexforge.models.openai import decode_arguments, message_to_wire


class InvalidRequest(ValueError):
    """A request the server cannot serve; ``param`` names the field, as OpenAI errors do."""

    def __init__(self, message: str, param: str | None = None) -> None:
        self.param = param
        super().__init__(message)


class _Wire(BaseModel):
    # Unknown fields are ignored: harnesses send options (user, logprobs, ...) we need not honour.
    model_config = ConfigDict(extra="ignore")


class WireFunctionCall(_Wire):
    name: str
    arguments: str = ""

    @field_validator("arguments", mode="before")
    @classmethod
    def _json_text(cls, value: Any) -> Any:
        # The spec says a JSON string; some clients send the object itself.
        return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value


class WireToolCall(_Wire):
    id: str
    type: Literal["function"] = "function"
    function: WireFunctionCall


class WireMessage(_Wire):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | None = None
    name: str | None = None
    tool_calls: list[WireToolCall] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _text_parts(cls, value: Any) -> Any:
        """Content parts (``[{"type": "text", "text": ...}]``) become one string."""
        if not isinstance(value, list):
            return value
        texts = []
        for part in value:
            if not isinstance(part, dict) or part.get("type") != "text":
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise ValueError(f"only text content parts are supported, got {kind!r}")
            texts.append(str(part.get("text") or ""))
        return "".join(texts)


class WireFunction(_Wire):
    name: str = Field(min_length=1)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=empty_object_schema)


class WireTool(_Wire):
    type: Literal["function"]
    function: WireFunction


class StreamOptions(_Wire):
    include_usage: bool = False


class ChatCompletionRequest(_Wire):
    """The body of ``POST /v1/chat/completions`` (the subset NexForge serves)."""

    model: str = ""
    messages: list[WireMessage] = Field(min_length=1)
    tools: list[WireTool] | None = None
    tool_choice: ToolChoice | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stop: list[str] | None = None
    n: int = 1
    stream: bool = False
    stream_options: StreamOptions | None = None

    @field_validator("tool_choice", mode="before")
    @classmethod
    def _tool_choice(cls, value: Any) -> Any:
        if value is None or value in ("auto", "none", "required"):
            return value
        if isinstance(value, dict) and value.get("type") == "function":
            function = value.get("function")
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                return NamedToolChoice(name=function["name"])
        raise ValueError(
            'expected "auto", "none", "required" or {"type": "function", "function": {"name": ...}}'
        )

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def parse_chat_request(body: Any) -> ChatCompletionRequest:
    """Validate a decoded JSON body; ``InvalidRequest`` names the first offending field."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    try:
        request = ChatCompletionRequest.model_validate(body)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        param = _param(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        raise InvalidRequest(f"{param}: {message}" if param else message, param) from exc
    if request.n != 1:
        raise InvalidRequest("n: only n=1 is supported", "n")
    return request


def to_model_request(request: ChatCompletionRequest, *, timeout_s: float | None) -> ModelRequest:
    """The canonical request a Model sees; checks what Pydantic alone cannot (cross-field rules)."""
    tools = [
        ToolSpec(
            name=t.function.name,
            description=t.function.description,
            parameters=t.function.parameters,
        )
        for t in request.tools or []
    ]
    choice: ToolChoice = request.tool_choice or "auto"
    if not tools and choice != "auto" and choice != "none":
        raise InvalidRequest("tool_choice requires tools", "tool_choice")
    if isinstance(choice, NamedToolChoice) and choice.name not in {t.name for t in tools}:
        raise InvalidRequest(f"tool_choice names unknown tool {choice.name!r}", "tool_choice")
    sampling = Sampling(
        temperature=request.temperature,
        top_p=request.top_p,
        max_tokens=request.max_completion_tokens or request.max_tokens,
        seed=request.seed,
        stop=request.stop,
    )
    return ModelRequest(
        messages=_canonical_messages(request.messages),
        tools=tools,
        tool_choice=choice,
        sampling=sampling,
        timeout_s=timeout_s,
    )


def _canonical_messages(wire: list[WireMessage]) -> list[Message]:
    messages: list[Message] = []
    # Wire tool messages carry only the call id; the canonical one also names the tool.
    call_names: dict[str, str] = {}
    for index, item in enumerate(wire):
        where = f"messages[{index}]"
        if item.role == "assistant":
            calls = [_tool_call(c) for c in item.tool_calls or []]
            call_names.update((c.id, c.name) for c in calls)
            messages.append(
                Message.assistant(item.content, calls, reasoning=item.reasoning_content)
            )
        elif item.role == "tool":
            if not item.tool_call_id:
                raise InvalidRequest(
                    f"{where}.tool_call_id: a tool message needs one", f"{where}.tool_call_id"
                )
            name = call_names.get(item.tool_call_id) or item.name
            if name is None:
                raise InvalidRequest(
                    f"{where}.tool_call_id: {item.tool_call_id!r} answers no earlier tool call",
                    f"{where}.tool_call_id",
                )
            messages.append(Message.tool(item.tool_call_id, name, item.content or ""))
        else:
            if item.content is None:
                raise InvalidRequest(
                    f"{where}.content: a {item.role} message needs content", f"{where}.content"
                )
            # "developer" is OpenAI's newer name for the system role.
            role = "system" if item.role == "developer" else item.role
            messages.append(Message(role=role, content=item.content))
    return messages


def _tool_call(wire: WireToolCall) -> ToolCall:
    arguments, invalid = decode_arguments(wire.function.arguments)
    return ToolCall(
        id=wire.id, name=wire.function.name, arguments=arguments, invalid_arguments=invalid
    )


def _param(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def assistant_to_wire(response: ModelResponse) -> dict[str, Any]:
    """``choices[0].message``: the client direction's wire message, plus reasoning if any."""
    wire = message_to_wire(response.message)
    if response.message.reasoning:
        wire["reasoning_content"] = response.message.reasoning  # vLLM / DeepSeek convention
    return wire


def usage_to_wire(response: ModelResponse) -> dict[str, int]:
    prompt, completion = response.usage.prompt_tokens, response.usage.completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_to_wire(
    response: ModelResponse, *, completion_id: str, created: int, model: str
) -> dict[str, Any]:
    """A ``chat.completion`` object for one ModelResponse."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": assistant_to_wire(response),
                "logprobs": None,
                "finish_reason": response.finish_reason,
            }
        ],
        "usage": usage_to_wire(response),
    }
