"""Stage 4, grounded: did the run reach the end state and state the facts its query expects?

Only rollouts whose query has an expected outcome get a verdict. The run's successful
state-changing calls are replayed, in the order they ran, on a fresh copy of the
framework's environment (``Environment.replay``) and the end-state hash is compared with
the one the reference calls reached when the query was written; every expected fact must
be stated in the final answer (``quality.facts``).

A replay is only meaningful on the framework the query was written for, so the folder's
current hash must equal the query's framework hash. When it differs, or the folder is gone
or does not load, the rollout gets no verdict and the reason is reported: a pass the
cascade could not check would be a lie, and a fail would blame the agent for an edit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nexforge.core.errors import NexForgeError
from nexforge.core.trajectory import Trajectory
from nexforge.quality.facts import missing_facts
from nexforge.quality.findings import Findings
from nexforge.quality.policy import GROUNDED
from nexforge.runtime.config.framework import Framework, load_framework
from nexforge.synthesis.fingerprint import framework_hash
from nexforge.synthesis.records import ExpectedOutcome, QueryRecord, RolloutRecord, Verdict
from nexforge.tools.env_replay import state_changing_calls
from nexforge.tools.environment import Environment

log = logging.getLogger(__name__)
MAX_FACTS_SHOWN = 5


@dataclass(frozen=True)
class NotChecked:
    """Why a rollout got no verdict from a stage (counted in the cascade's summary)."""

    reason: str


class GroundedVerifier:
    """Grounded verdicts, with each framework loaded (and its hash checked) once.

    ``known`` is the store's framework hash -> (name, path) map; ``overrides`` are
    framework folders given on the command line, used for the hash they have now.
    Raises ConfigError when an override does not load.
    """

    def __init__(
        self, known: Mapping[str, tuple[str | None, Path]], overrides: Sequence[Path] = ()
    ) -> None:
        self._known = dict(known)
        self._environments: dict[str, Environment | NotChecked] = {}
        for path in overrides:
            loaded = load_framework(path)
            self._environments[framework_hash(loaded)] = _environment_of(loaded)

    def environment(self, expected_hash: str) -> Environment | NotChecked:
        """The environment of the framework with this hash, or why there is none."""
        found = self._environments.get(expected_hash)
        if found is None:
            found = self._environments[expected_hash] = self._load(expected_hash)
        return found

    def _load(self, expected_hash: str) -> Environment | NotChecked:
        if expected_hash not in self._known:
            return NotChecked(
                f"framework {expected_hash} is not known to the store: pass --framework DIR"
            )
        name, path = self._known[expected_hash]
        label = f"framework {name or expected_hash}"
        if not path.exists():
            return NotChecked(f"{label}: {path} is gone (pass --framework DIR)")
        try:
            loaded = load_framework(path)
        except (NexForgeError, OSError, ValueError) as exc:
            log.debug("framework %s does not load", path, exc_info=exc)
            return NotChecked(f"{label}: {path} does not load: {exc}")
        now = framework_hash(loaded)
        if now != expected_hash:
            return NotChecked(
                f"{label} changed since its queries were written ({path} hashes to {now}, "
                f"the queries were written for {expected_hash})"
            )
        return _environment_of(loaded)

    async def check(
        self, rollout: RolloutRecord, query: QueryRecord | None
    ) -> Verdict | NotChecked:
        """The rollout's grounded verdict, or why it has none."""
        if query is None:
            return NotChecked("query not in the store")
        expected = query.expected
        if expected is None or (not expected.facts and expected.state_hash is None):
            return NotChecked("query has no expected outcome")
        trajectory = rollout.trajectory
        if trajectory is None:
            return NotChecked("no trajectory")
        found = Findings()
        detail: dict[str, object] = {}
        if expected.state_hash is not None:
            environment = self.environment(query.framework_hash)
            if isinstance(environment, NotChecked):
                return environment
            try:
                reached = await environment.replay(trajectory)
            except (NexForgeError, OSError, ValueError) as exc:
                log.warning("replay of rollout %s failed", rollout.key, exc_info=exc)
                return NotChecked(f"replay failed: {exc}")
            detail["state_hash"] = reached
            if reached != expected.state_hash:
                found.add("end state", _state_mismatch(trajectory, expected, environment))
        missing = missing_facts(trajectory.final_output or "", expected.facts)
        if missing:
            shown = ", ".join(repr(f) for f in missing[:MAX_FACTS_SHOWN])
            more = (
                f" (+{len(missing) - MAX_FACTS_SHOWN} more)"
                if len(missing) > MAX_FACTS_SHOWN
                else ""
            )
            found.add("missing facts", f"the answer does not state {shown}{more}")
            detail["missing_facts"] = missing
        return found.verdict(rollout.key, GROUNDED, **detail)


def _environment_of(framework: Framework) -> Environment | NotChecked:
    if framework.environment is None:
        return NotChecked(f"framework {framework.name} has no environment to replay on")
    return framework.environment


def _state_mismatch(
    trajectory: Trajectory, expected: ExpectedOutcome, environment: Environment
) -> str:
    """Which writes the reference made and the run made, as a hint of what went wrong."""
    made = [name for name, _ in state_changing_calls(trajectory, environment.write_tool_names)]
    wanted = [call.tool for call in expected.calls]
    if made == wanted:
        hint = f"same writes ({', '.join(made)}), different arguments"
    else:
        hint = (
            f"expected writes: {', '.join(wanted) or 'none'}; "
            f"the run's writes: {', '.join(made) or 'none'}"
        )
    return f"the end state differs from the expected one ({hint})"
