"""The quality tests reuse the synthesis tests' scripted shop responder and query builders,
and share the labelled set (``labelled/``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "synthesis"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "labelled"))
