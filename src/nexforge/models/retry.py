"""Retry policy for model requests: which failures are worth retrying, and how long to wait."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import aiohttp

from nexforge.core.errors import ModelHTTPError, ModelResponseError, ModelTimeoutError

Jitter = Literal["full", "decorrelated", "none"]

# 408/425/429 and 5xx are transient by definition; other 4xx mean the request itself is wrong.
RETRYABLE_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; ``max_retries`` counts retries after the first attempt.

    ``sleep`` and ``rng`` are injectable so tests can record delays instead of waiting.
    A server's ``Retry-After`` is honoured up to ``max_retry_after_s``.
    """

    max_retries: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    jitter: Jitter = "full"
    max_retry_after_s: float = 120.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("retry delays must be >= 0")

    def delay(
        self, attempt: int, retry_after: float | None = None, *, previous: float | None = None
    ) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based).

        ``previous`` is the last delay, used by decorrelated jitter. The result is never
        shorter than ``retry_after`` (capped at ``max_retry_after_s``).
        """
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** max(attempt, 0)))
        if self.jitter == "full":
            computed = self.rng.uniform(0.0, ceiling)
        elif self.jitter == "decorrelated":
            last = previous if previous is not None else self.base_delay_s
            upper = max(self.base_delay_s, last * 3)
            computed = min(self.max_delay_s, self.rng.uniform(self.base_delay_s, upper))
        else:
            computed = ceiling
        if retry_after is not None and retry_after > 0:
            computed = max(computed, min(retry_after, self.max_retry_after_s))
        return computed


def is_retryable(exc: BaseException) -> bool:
    """True for failures a later attempt (or another endpoint) may not repeat."""
    if isinstance(exc, ModelHTTPError):
        return exc.status in RETRYABLE_STATUSES or 500 <= exc.status < 600
    if isinstance(exc, ModelTimeoutError | ModelResponseError | TimeoutError):
        return True
    # Refused/reset connections and truncated bodies; InvalidURL and friends are not here.
    return isinstance(
        exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | ConnectionError
    )
