"""Turn an MCP ``CallToolResult`` into the one string a model sees."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from nexforge.tools.base import ToolOutcome

if TYPE_CHECKING:
    from mcp_types import CallToolResult

NO_OUTPUT = "(no output)"


def outcome_from_result(result: CallToolResult) -> ToolOutcome:
    """Text blocks as text; structured content as JSON when there is no text; images,
    audio and resources described in one bracketed line so the model knows they exist."""
    parts = [_render_block(block) for block in result.content]
    text = "\n".join(p for p in parts if p)
    if not text and result.structured_content is not None:
        text = json.dumps(result.structured_content, ensure_ascii=False)
    if result.is_error:
        return ToolOutcome(text or "the server reported an error without a message", True)
    return ToolOutcome(text or NO_OUTPUT)


def _render_block(block: Any) -> str:
    kind = getattr(block, "type", None)
    if kind == "text":
        return str(block.text)
    if kind in ("image", "audio"):
        return f"[{kind}: {block.mime_type}, {_decoded_size(block.data)} bytes]"
    if kind == "resource":
        res = block.resource
        mime = f", {res.mime_type}" if res.mime_type else ""
        text = getattr(res, "text", None)
        if text is not None:
            return f"[resource: {res.uri}{mime}]\n{text}"
        return f"[resource: {res.uri}{mime}, {_decoded_size(res.blob)} bytes]"
    if kind == "resource_link":
        return f"[resource link: {block.uri} ({block.name})]"
    return f"[{kind or 'unknown'} content]"


def _decoded_size(b64: str) -> int:
    # Size of the bytes behind a base64 string, without decoding it.
    data = b64.strip()
    return max(0, len(data) * 3 // 4 - data[-2:].count("="))
