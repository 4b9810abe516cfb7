"""Text styles: the conversation exactly as a text-mode model of that style sees it.

NexForge's runtime gives a text-mode model the episode's system prompt followed by the
codec's tool docs, each assistant turn as text (reasoning in the style's tags where the
style has a place for it), and each run of tool results as one user message in the
codec's result style. This renders any episode that way, whatever format it ran in: the
model's own ``raw`` text is used only when the episode ran in this very style, since
another style's raw text is not what a model of this style would write.
"""

from __future__ import annotations

from typing import Any

from nexforge.core.messages import Message
from nexforge.core.trajectory import Episode
from nexforge.export.episodes import base_system_prompt, dialogue
from nexforge.models.codecs import ToolCallCodec, get_codec
from nexforge.models.codecs.base import render_assistant


def text_messages(episode: Episode, style: str) -> list[dict[str, Any]]:
    codec = get_codec(style)
    docs = codec.system_prompt(episode.tools) if episode.tools else ""
    system = base_system_prompt(episode)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": f"{system}\n\n{docs}" if docs else system}
    ]
    own_style = episode.tool_call_format == style
    results: list[Message] = []
    for message in dialogue(episode):
        if message.role == "tool":
            results.append(message)
            continue
        _flush(codec, results, messages)
        if message.role == "assistant":
            text = _assistant_text(codec, message, own_style=own_style)
            messages.append({"role": "assistant", "content": text})
        else:
            messages.append({"role": message.role, "content": message.content or ""})
    _flush(codec, results, messages)
    return messages


def _assistant_text(codec: ToolCallCodec, message: Message, *, own_style: bool) -> str:
    """The turn as rendered by the codec, or (in the episode's own style) as the model wrote
    it: ``raw`` after the reasoning block, since providers hand reasoning back separately."""
    if not own_style or message.raw is None:
        return render_assistant(codec, message)
    thought = render_assistant(codec, Message.assistant(reasoning=message.reasoning))
    if thought and message.raw:
        return thought + codec.turn_layout.reasoning_to_rest + message.raw
    return thought + message.raw


def _flush(codec: ToolCallCodec, results: list[Message], messages: list[dict[str, Any]]) -> None:
    if results:
        messages.append({"role": "user", "content": codec.render_results(list(results))})
        results.clear()
