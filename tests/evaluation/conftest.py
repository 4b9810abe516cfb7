"""The framework evaluation tests reuse the synthesis tests' scripted shop responder."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "synthesis"))
