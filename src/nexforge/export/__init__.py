"""Training-data exports: ``openai``, ``trl`` (``hf``), ``sharegpt``, text styles and ``rl``.

``export_store`` writes a store's verified rollouts (JSONL or Parquet, optionally split by
query); ``rollout_samples`` turns one rollout into samples without a store.
"""

from nexforge.export.options import (
    FORMATS,
    TEXT_STYLES,
    ExportError,
    ExportOptions,
    parse_split,
)
from nexforge.export.run import ExportSummary, export_store
from nexforge.export.samples import RolloutSamples, rollout_samples
from nexforge.export.scrub import REDACTED, Scrubber

__all__ = [
    "FORMATS",
    "REDACTED",
    "TEXT_STYLES",
    "ExportError",
    "ExportOptions",
    "ExportSummary",
    "RolloutSamples",
    "Scrubber",
    "export_store",
    "parse_split",
    "rollout_samples",
]
