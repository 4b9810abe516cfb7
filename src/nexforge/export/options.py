"""What ``nexforge export`` is asked to do: the format, the output and the filters."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nexforge.core.errors import NexForgeError
from nexforge.quality.policy import FILTERS, FilterName

ArgsEncoding = Literal["dict", "string"]
ParallelMode = Literal["keep", "split", "skip"]

CHAT_FORMATS = ("openai", "trl", "sharegpt")
TEXT_STYLES = ("xml", "hermes", "qwen3-coder", "glm", "minimax", "deepseek")
FORMATS: tuple[str, ...] = (*CHAT_FORMATS, *TEXT_STYLES, "rl")
ALIASES = {"hf": "trl"}
SUFFIXES = (".jsonl", ".parquet")
_SPLIT_NAME = re.compile(r"[A-Za-z0-9_-]+")


class ExportError(NexForgeError):
    """The export was asked for something it cannot do (format, output, split, missing extra)."""


@dataclass
class ExportOptions:
    """One export. ``format`` may be an alias (``hf``); ``output`` ends in .jsonl or .parquet.

    ``split`` maps split names to weights (normalised); ``args_encoding`` and ``parallel``
    shape tool calls for trainers that need it (see ``nexforge.export.chat``).
    """

    format: str
    output: Path
    filter: FilterName = "default"
    min_score: float | None = None
    split: dict[str, float] | None = None
    args_encoding: ArgsEncoding = "dict"
    parallel: ParallelMode = "keep"
    shard_rows: int = 100_000
    seed: int = 0

    @property
    def canonical_format(self) -> str:
        return ALIASES.get(self.format, self.format)

    def validate(self) -> None:
        """Raise ExportError naming the first thing wrong; nothing is written before this."""
        if self.canonical_format not in FORMATS:
            valid = ", ".join([*FORMATS, *ALIASES])
            raise ExportError(f"unknown format {self.format!r}; expected one of: {valid}")
        if Path(self.output).suffix not in SUFFIXES:
            raise ExportError(
                f"cannot tell the file type of {self.output}: the name must end in "
                f"{' or '.join(SUFFIXES)}"
            )
        if self.filter not in FILTERS:
            raise ExportError(
                f"unknown filter {self.filter!r}; expected one of: {', '.join(FILTERS)}"
            )
        if self.args_encoding not in ("dict", "string"):
            raise ExportError(f"args encoding must be dict or string, got {self.args_encoding!r}")
        if self.parallel not in ("keep", "split", "skip"):
            raise ExportError(f"parallel must be keep, split or skip, got {self.parallel!r}")
        if self.shard_rows < 1:
            raise ExportError(f"shard rows must be at least 1, got {self.shard_rows}")
        if self.split is not None:
            check_split(self.split)


def check_split(split: dict[str, float]) -> None:
    if not split:
        raise ExportError("a split needs at least one NAME=WEIGHT")
    for name, weight in split.items():
        if not _SPLIT_NAME.fullmatch(name):
            raise ExportError(f"split name {name!r}: use letters, digits, '_' or '-'")
        if not math.isfinite(weight) or weight <= 0:
            raise ExportError(f"split {name}: the weight must be a positive number, got {weight}")


def parse_split(spec: str) -> dict[str, float]:
    """``train=0.9,val=0.1`` -> {"train": 0.9, "val": 0.1} (weights are normalised later)."""
    split: dict[str, float] = {}
    for part in spec.split(","):
        name, sep, weight = (piece.strip() for piece in part.partition("="))
        try:
            value = float(weight) if sep and name else math.nan
        except ValueError:
            value = math.nan
        if math.isnan(value):
            raise ExportError(f"split: expected NAME=WEIGHT[,NAME=WEIGHT...], got {part.strip()!r}")
        if name in split:
            raise ExportError(f"split: {name!r} is named twice")
        split[name] = value
    check_split(split)
    return split
