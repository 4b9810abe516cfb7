"""The synthesis pipeline (NexGAP): grounded queries, resumable rollouts, the store."""

from nexforge.synthesis.records import (
    Evidence,
    ExpectedOutcome,
    QueryRecord,
    ReferenceCall,
    RolloutProvenance,
    RolloutRecord,
    UserSide,
    Verdict,
)
from nexforge.synthesis.store import StoreError, SynthesisStore
from nexforge.synthesis.store_status import StoreStatus

__all__ = [
    "Evidence",
    "ExpectedOutcome",
    "QueryRecord",
    "ReferenceCall",
    "RolloutProvenance",
    "RolloutRecord",
    "StoreError",
    "StoreStatus",
    "SynthesisStore",
    "UserSide",
    "Verdict",
]
