"""Building blocks of the stages' JSON Schemas.

Only keywords llguidance enforces during constrained decoding (type, enum, pattern,
maxLength, minItems/maxItems, required, additionalProperties), so what the local model
writes is exactly what the schema allows.
"""

from __future__ import annotations

from typing import Any


def text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length}


def array(item: dict[str, Any], min_items: int, max_items: int) -> dict[str, Any]:
    return {"type": "array", "items": item, "minItems": min_items, "maxItems": max_items}


def texts(item_max: int, min_items: int, max_items: int) -> dict[str, Any]:
    return array(text(item_max), min_items, max_items)


def closed_object(properties: dict[str, Any]) -> dict[str, Any]:
    """An object with exactly these keys, all required."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
