"""``export_store``: a store's rollouts -> filtered, scrubbed, split training files."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nexforge.export.options import ExportOptions
from nexforge.export.samples import columns, rollout_samples
from nexforge.export.scrub import Scrubber
from nexforge.export.splits import SplitPlan
from nexforge.export.writers import OutputSet
from nexforge.quality.policy import decide
from nexforge.synthesis.records import QueryRecord
from nexforge.synthesis.store import SynthesisStore

Progress = Callable[[int, int], None]
NOT_VERIFIED = "not verified"
NO_TRAJECTORY = "no trajectory (failed rollout)"


@dataclass
class ExportSummary:
    """What an export read, kept, left out (and why) and wrote."""

    format: str
    output: str
    rollouts_seen: int = 0
    rollouts_kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    """Rollouts left out, by reason (the filter's stage, or no trajectory)."""
    samples: dict[str, int] = field(default_factory=dict)
    """Samples written per split (``all`` without a split)."""
    files: dict[str, int] = field(default_factory=dict)
    """Samples written per file."""
    skipped: Counter[str] = field(default_factory=Counter)
    """Samples of kept rollouts left out, by reason."""
    split_turns: int = 0
    secrets_scrubbed: int = 0
    bytes: int = 0
    seconds: float = 0.0

    @property
    def samples_written(self) -> int:
        return sum(self.samples.values())

    @property
    def nothing_verified(self) -> bool:
        """Every rollout with a trajectory was dropped for lack of verdicts."""
        reasons = [r for r in self.dropped if r != NO_TRAJECTORY]
        return (
            self.rollouts_kept == 0
            and bool(reasons)
            and all(r.startswith(NOT_VERIFIED) for r in reasons)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "output": self.output,
            "rollouts": {
                "seen": self.rollouts_seen,
                "kept": self.rollouts_kept,
                "dropped": dict(self.dropped),
            },
            "samples": {
                "written": self.samples_written,
                "by_split": self.samples,
                "by_file": self.files,
                "skipped": dict(self.skipped),
                "split_turns": self.split_turns,
            },
            "secrets_scrubbed": self.secrets_scrubbed,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
        }


def export_store(
    store: SynthesisStore, options: ExportOptions, *, progress: Progress | None = None
) -> ExportSummary:
    """Write the store's rollouts that pass ``options.filter`` in ``options.format``.

    Streams: one rollout's samples are in memory at a time. Nothing is written under the
    final names unless the whole export succeeds. Reads one snapshot of the store, so each
    rollout is judged by the verdicts on the very content exported, whatever other
    commands write meanwhile.
    """
    with store.snapshot():
        return _export(store, options, progress)


def _export(
    store: SynthesisStore, options: ExportOptions, progress: Progress | None
) -> ExportSummary:
    options.validate()
    started = time.monotonic()
    name = options.canonical_format
    plan = SplitPlan(
        options.split,
        (q.key for q in store.queries()) if options.split else (),
        options.seed,
    )
    summary = ExportSummary(format=name, output=str(options.output))
    summary.samples = dict.fromkeys(plan.names, 0)
    scrubber = Scrubber()
    counts = store.status().rollouts
    total = counts.get("done", 0) + counts.get("failed", 0)
    query: QueryRecord | None = None
    splits = plan.names if options.split else None
    with OutputSet(options.output, splits, columns(name), options.shard_rows) as outputs:
        for record in store.rollouts():
            summary.rollouts_seen += 1
            if progress is not None:
                progress(summary.rollouts_seen, max(total, summary.rollouts_seen))
            if record.trajectory is None:
                summary.dropped[NO_TRAJECTORY] += 1
                continue
            verdicts = store.verdicts(record.key)
            decision = decide(
                verdicts, options.filter, min_score=options.min_score, keep_failures=name == "rl"
            )
            if not decision.keep:
                summary.dropped[(decision.reason or "dropped").split(": ", 1)[0]] += 1
                continue
            summary.rollouts_kept += 1
            if query is None or query.key != record.query_key:
                query = store.query(record.query_key)
            result = rollout_samples(
                record,
                query,
                verdicts,
                format=name,
                args_encoding=options.args_encoding,
                parallel=options.parallel,
            )
            summary.skipped.update(result.skipped)
            summary.split_turns += result.split_turns
            split = plan.assign(record.query_key)
            for row in result.rows:
                line, found = scrubber.scrub(json.dumps(row, ensure_ascii=False))
                if found:
                    try:
                        row = json.loads(line)
                    except ValueError:  # a match broke the JSON: scrub value by value
                        row, found = scrubber.scrub_value(row)
                        line = json.dumps(row, ensure_ascii=False)
                    summary.secrets_scrubbed += found
                outputs.write(split if splits else None, row, line)
                summary.samples[split] += 1
        written = outputs.commit()
    summary.files = {str(path): rows for path, rows in written.items()}
    summary.bytes = sum(path.stat().st_size for path in written)
    summary.seconds = time.monotonic() - started
    return summary
