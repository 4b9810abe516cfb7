"""What stands between a rollout and its model: endpoint caps, the token budget, sampling.

Every model a rollout resolves is wrapped in a ``GatedModel`` (see ``Conversation``'s
``wrap_model``): calls to one endpoint share a semaphore across all rollouts in flight,
tokens are charged to one budget for the whole run, and the run's sampling parameters
(temperature, the rollout's seed) are applied to every request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from nexforge.core.errors import NexForgeError
from nexforge.models.base import Model, ModelRequest, ModelResponse


class BudgetSpent(NexForgeError):
    """The run's token budget is spent: stop cleanly; the rest is resumable."""


@dataclass
class TokenBudget:
    """Tokens for a whole run. Calls already in flight finish; new ones are refused."""

    limit: int | None
    spent: int = 0

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.spent >= self.limit

    def charge(self, tokens: int) -> None:
        self.spent += tokens


@dataclass
class EndpointGates:
    """One semaphore per endpoint (base URL, or model name for in-process models)."""

    limit: int | None
    _gates: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    def for_model(self, model: Model) -> asyncio.Semaphore | None:
        if self.limit is None:
            return None
        endpoint = str(getattr(model, "base_url", None) or model.name)
        gate = self._gates.get(endpoint)
        if gate is None:
            gate = self._gates[endpoint] = asyncio.Semaphore(self.limit)
        return gate


@dataclass(frozen=True)
class SamplingOverrides:
    """Sampling applied to every model request of a rollout (``None`` keeps the request's)."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


class GatedModel:
    """A model seen through one rollout's gate, budget and sampling overrides."""

    def __init__(
        self,
        inner: Model,
        *,
        gate: asyncio.Semaphore | None,
        budget: TokenBudget,
        sampling: SamplingOverrides,
    ) -> None:
        self.inner = inner
        self._gate = gate
        self._budget = budget
        self._sampling = sampling.as_dict()

    @property
    def name(self) -> str:
        return self.inner.name

    async def complete(self, request: ModelRequest) -> ModelResponse:
        if self._budget.exhausted:
            raise BudgetSpent(f"token budget of {self._budget.limit} spent")
        if self._sampling:
            sampling = request.sampling.model_copy(update=self._sampling)
            request = request.model_copy(update={"sampling": sampling})
        if self._gate is None:
            response = await self.inner.complete(request)
        else:
            async with self._gate:
                response = await self.inner.complete(request)
        self._budget.charge(response.usage.prompt_tokens + response.usage.completion_tokens)
        return response
