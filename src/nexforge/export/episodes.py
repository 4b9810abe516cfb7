"""An episode as training data sees it: its own system prompt, its dialogue, one call per turn.

Shared by every format, so they agree on what a sample holds before they differ on shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from nexforge.core.messages import Message
from nexforge.core.trajectory import Episode
from nexforge.export.options import ParallelMode
from nexforge.models.codecs import get_codec

SKIP_PARALLEL = "parallel tool calls (--parallel skip)"


def base_system_prompt(episode: Episode) -> str:
    """The system prompt without the tool docs a text-mode runtime appended to it.

    Structured formats pass the tools separately (the chat template renders them) and text
    styles append their own docs, so neither may keep another style's instructions.
    """
    prompt = episode.system_prompt
    if episode.tool_call_format == "structured" or not episode.tools:
        return prompt
    try:
        docs = get_codec(episode.tool_call_format).system_prompt(episode.tools)
    except ValueError:  # a format this NexForge no longer knows: keep the prompt as run
        return prompt
    suffix = f"\n\n{docs}"
    return prompt[: -len(suffix)] if docs and prompt.endswith(suffix) else prompt


def dialogue(episode: Episode) -> list[Message]:
    """The messages after the system prompt (the runtime stores it as the first message)."""
    messages = episode.messages
    if messages and messages[0].role == "system":
        return list(messages[1:])
    return list(messages)


def has_parallel_calls(messages: list[Message]) -> bool:
    return any(len(m.tool_calls) > 1 for m in messages if m.role == "assistant")


@dataclass(frozen=True)
class ShapedDialogue:
    messages: list[Message]
    split_turns: int = 0
    skip_reason: str | None = None


def shape_calls(messages: list[Message], mode: ParallelMode) -> ShapedDialogue:
    """Apply ``--parallel``: keep parallel calls, split them into single-call turns, or skip."""
    if mode == "keep" or not has_parallel_calls(messages):
        return ShapedDialogue(messages)
    if mode == "skip":
        return ShapedDialogue([], skip_reason=SKIP_PARALLEL)
    return _split(messages)


def _split(messages: list[Message]) -> ShapedDialogue:
    """Each N-call assistant message becomes N (assistant call_i, result_i) pairs.

    Content and reasoning stay on the first call: they were written before any of them.
    Results are matched by call id; a result no call claims keeps its place after them.
    """
    shaped: list[Message] = []
    split_turns = 0
    index = 0
    while index < len(messages):
        message = messages[index]
        index += 1
        if message.role != "assistant" or len(message.tool_calls) < 2:
            shaped.append(message)
            continue
        results: list[Message] = []
        while index < len(messages) and messages[index].role == "tool":
            results.append(messages[index])
            index += 1
        by_id = {r.tool_call_id: r for r in results}
        for position, call in enumerate(message.tool_calls):
            first = position == 0
            shaped.append(
                Message.assistant(
                    message.content if first else None,
                    [call],
                    reasoning=message.reasoning if first else None,
                )
            )
            result = by_id.pop(call.id, None)
            if result is not None:
                shaped.append(result)
        shaped.extend(r for r in results if r.tool_call_id in by_id)
        split_turns += 1
    return ShapedDialogue(shaped, split_turns=split_turns)
