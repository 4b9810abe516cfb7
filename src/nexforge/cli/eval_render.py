"""What every ``nexforge eval`` command shares: output folder names and score tables."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.table import Table


def model_slug(spec: str | None) -> str:
    """A folder name for a model SPEC (``openai:qwen3`` -> ``openai-qwen3``)."""
    text = spec or "default"
    if text.lower().endswith(".gguf"):
        text = Path(text).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def score_table(title: str, categories: Mapping[str, Mapping[str, Any]]) -> Table:
    """category | accuracy | correct | total, ``overall`` last and bold."""
    table = Table(title=title, title_justify="left")
    table.add_column("category")
    table.add_column("accuracy", justify="right")
    table.add_column("correct", justify="right")
    table.add_column("total", justify="right")
    for name, score in categories.items():
        style = "bold" if name == "overall" else None
        table.add_row(
            name,
            percent(float(score["accuracy"])),
            str(score["correct"]),
            str(score["total"]),
            style=style,
        )
    return table
