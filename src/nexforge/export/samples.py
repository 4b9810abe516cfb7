"""One rollout -> its samples in one format (no store needed: tests and benchmarks use it).

One sample per episode, the root agent's and every sub-agent call's: a parent's sample
holds the sub-agent call and the result it returned, the child's inner steps are the
child's own sample. ``rl`` gives one row per model call instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nexforge.core.trajectory import Episode
from nexforge.export import sharegpt
from nexforge.export.chat import function_tools, hf_messages, openai_messages
from nexforge.export.episodes import base_system_prompt, dialogue, shape_calls
from nexforge.export.options import (
    ALIASES,
    FORMATS,
    TEXT_STYLES,
    ArgsEncoding,
    ExportError,
    ParallelMode,
)
from nexforge.export.provenance import RolloutProvenance
from nexforge.export.rl import rl_rows
from nexforge.export.text import text_messages
from nexforge.export.writers import ColumnKind
from nexforge.quality.policy import reward
from nexforge.synthesis.records import QueryRecord, RolloutRecord, Verdict

SKIP_SILENT = "no model turn in the episode"


@dataclass
class RolloutSamples:
    """The rows of one rollout, and what was left out (reason -> count)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    split_turns: int = 0
    """Assistant messages with parallel calls split into single-call turns."""


def rollout_samples(
    record: RolloutRecord,
    query: QueryRecord | None,
    verdicts: Sequence[Verdict],
    *,
    format: str = "trl",
    args_encoding: ArgsEncoding = "dict",
    parallel: ParallelMode = "keep",
) -> RolloutSamples:
    """The samples of one rollout in ``format`` (ValueError if it has no trajectory)."""
    name = ALIASES.get(format, format)
    if name not in FORMATS:
        raise ExportError(f"unknown format {format!r}; expected one of: {', '.join(FORMATS)}")
    provenance = RolloutProvenance(record, query, verdicts)
    assert record.trajectory is not None  # RolloutProvenance refused it otherwise
    result = RolloutSamples()
    score = reward(verdicts) if name == "rl" else None
    for episode in record.trajectory.episodes:
        meta = provenance.for_episode(episode)
        if name == "rl":
            result.rows.extend(
                rl_rows(episode, meta, provenance.turn_of, reward=score, encoding=args_encoding)
            )
        elif not any(m.role == "assistant" for m in episode.messages):
            result.skipped[SKIP_SILENT] += 1  # nothing a trainer could learn from
        elif name in TEXT_STYLES:
            result.rows.append(
                {
                    "format": name,
                    "messages": text_messages(episode, name),
                    "tools": function_tools(episode.tools),
                    "provenance": meta,
                }
            )
        else:
            _chat_sample(name, episode, meta, args_encoding, parallel, result)
    return result


def _chat_sample(
    name: str,
    episode: Episode,
    meta: dict[str, Any],
    encoding: ArgsEncoding,
    parallel: ParallelMode,
    result: RolloutSamples,
) -> None:
    shaped = shape_calls(dialogue(episode), parallel)
    if shaped.skip_reason is not None:
        result.skipped[shaped.skip_reason] += 1
        return
    result.split_turns += shaped.split_turns
    system = base_system_prompt(episode)
    if name == "sharegpt":
        talk = sharegpt.conversation(shaped.messages)
        if talk.skip_reason is not None:
            result.skipped[f"sharegpt: {talk.skip_reason}"] += 1
            return
        result.rows.append(
            {
                "conversations": talk.turns,
                "system": system,
                "tools": sharegpt.sharegpt_tools(episode.tools),
                "provenance": meta,
            }
        )
    elif name == "openai":
        row: dict[str, Any] = {"messages": openai_messages(system, shaped.messages)}
        if episode.tools:
            row["tools"] = function_tools(episode.tools)
            # One call per turn is what split/skip produce, and what the target can take.
            row["parallel_tool_calls"] = parallel == "keep"
        row["provenance"] = meta
        result.rows.append(row)
    else:
        result.rows.append(
            {
                "messages": hf_messages(system, shaped.messages, encoding),
                "tools": function_tools(episode.tools),
                "provenance": meta,
            }
        )


def columns(format: str) -> dict[str, ColumnKind]:
    """The fields of a format's rows, as Parquet columns (nested values as JSON text)."""
    name = ALIASES.get(format, format)
    provenance: dict[str, ColumnKind] = {"provenance": "json"}
    if name == "openai":
        return {"messages": "json", "tools": "json", "parallel_tool_calls": "bool", **provenance}
    if name == "sharegpt":
        return {"conversations": "json", "system": "string", "tools": "string", **provenance}
    if name == "rl":
        return {
            "messages": "json",
            "tools": "json",
            "completion": "json",
            "reward": "float",
            "group_id": "string",
            **provenance,
        }
    if name in TEXT_STYLES:
        return {"format": "string", "messages": "json", "tools": "json", **provenance}
    return {"messages": "json", "tools": "json", **provenance}
