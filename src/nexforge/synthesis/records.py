"""What the synthesis pipeline stores: queries, rollouts and verdicts (pydantic records).

Keys are content hashes (DESIGN §6): a query by (framework hash, text), a rollout by
(query key, sample index). A re-run that produces the same content lands on the same
key, which is what makes every stage idempotent. A rollout's *content* hash
(``rollout_hash``) says which trajectory a verdict judged: a rollout stored again with
other content is another trajectory, and its old verdicts do not apply to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nexforge.core.trajectory import Trajectory, Usage

RolloutStatus = Literal["done", "failed"]


def content_key(*parts: str) -> str:
    """A short, stable key for a tuple of strings (sha256, 24 hex digits)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:24]


def query_key(framework_hash: str, text: str) -> str:
    return content_key("query", framework_hash, text)


def rollout_key(query: str, sample: int) -> str:
    return content_key("rollout", query, str(sample))


def rollout_hash(record_json: str) -> str:
    """The content hash of a rollout record, from its JSON (``RolloutRecord.content_hash``)."""
    return content_key("rollout record", record_json)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Evidence(_Record):
    """One read of the environment made before the query was written."""

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    result: Any = None


class ReferenceCall(_Record):
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ExpectedOutcome(_Record):
    """What a correct run achieves: facts its answer contains and/or the end state reached
    by ``calls`` replayed on a fresh copy of the environment (``state_hash``)."""

    facts: list[str] = Field(default_factory=list)
    calls: list[ReferenceCall] = Field(default_factory=list)
    state_hash: str | None = None


class UserSide(_Record):
    """For multi-turn rollouts: what the simulated user wants and knows (and the agent does not)."""

    goal: str
    facts: list[str] = Field(default_factory=list)


class QueryRecord(_Record):
    """A query and its provenance. Only ``text`` is required in a QUERIES JSONL file."""

    text: str = Field(min_length=1)
    key: str = ""
    framework: str | None = None
    framework_hash: str = ""
    precise_text: str | None = None
    """The precise request when ``text`` is its fuzzified, more human version."""
    persona: dict[str, Any] | None = None
    path: list[str] = Field(default_factory=list)
    """Problem-type ids from the tree's root to the sampled node."""
    path_labels: list[str] = Field(default_factory=list)
    difficulty: str | None = None
    type_tools: list[str] = Field(default_factory=list)
    """The tools its problem type is solved with (the cascade's relevance check)."""
    evidence: list[Evidence] = Field(default_factory=list)
    expected: ExpectedOutcome | None = None
    user: UserSide | None = None
    seed: int | None = None
    slot: int | None = None
    """Position in the seeded query set that produced it."""
    model: str | None = None
    notes: list[str] = Field(default_factory=list)
    """What the writer did: fit-check rewrites, dropped expectations, repairs."""

    def keyed(self, framework_hash: str) -> QueryRecord:
        """This record with its framework hash and content key filled in."""
        fh = self.framework_hash or framework_hash
        return self.model_copy(update={"framework_hash": fh, "key": query_key(fh, self.text)})


class RolloutProvenance(_Record):
    framework_hash: str
    model: str | None = None
    model_sha: str | None = None
    package_version: str
    sampling: dict[str, Any] = Field(default_factory=dict)
    seed: int
    engine: str = "local"
    user_sim: bool = False


class RolloutRecord(_Record):
    """One run of a query, stored whole or not at all."""

    key: str
    query_key: str
    sample: int
    status: RolloutStatus
    attempts: int = 1
    trajectory: Trajectory | None = None
    error: str | None = None
    usage: Usage = Field(default_factory=Usage)
    started_at: float
    seconds: float
    provenance: RolloutProvenance

    def content_hash(self) -> str:
        """What a verdict on this record says it judged: the hash of all of it (trajectory,
        status, error, timings), so any other run of the rollout has another hash."""
        return rollout_hash(self.model_dump_json())


class Verdict(_Record):
    """One quality stage's judgement of a rollout (or of one of its turns)."""

    rollout_key: str
    stage: str
    passed: bool
    reason: str = ""
    score: float | None = None
    turn: int | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    rollout_hash: str | None = None
    """The content hash of the rollout record it judged (``RolloutRecord.content_hash``).
    The store keeps and returns a verdict only while the rollout has that content; None
    (verdicts stored before hashes were recorded) is never used."""


def judged(verdicts: Iterable[Verdict], content_hash: str) -> list[Verdict]:
    """``verdicts`` marked as judgements of the rollout content with ``content_hash``
    (``RolloutRecord.content_hash``), ready for the store."""
    return [v.model_copy(update={"rollout_hash": content_hash}) for v in verdicts]
