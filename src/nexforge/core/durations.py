"""``Seconds``: a duration set by configuration (timeouts, clock steps).

Positive, finite and at most 30 days: a duration reaches clocks, ``setrlimit`` and thread
waits, where ``timeout_s: 1e400`` (infinity) or ``1e300`` passed validation and then made
every call fail with OverflowError.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_SECONDS = 30 * 24 * 3600.0
Seconds = Annotated[float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)]
