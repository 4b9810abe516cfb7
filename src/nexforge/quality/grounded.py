"""Stage grounded: did the run reach the end state and state the facts its query expects,
having observed them?

The expected outcome is checked, never trusted:
- End state: the run's successful state-changing calls are replayed, in the order they
  ran, on a fresh copy of the framework's environment (``Environment.replay``) and the
  end-state hash is compared with the one the query's reference calls reach. A query that
  has reference calls but no hash (hand-written or imported) gets its hash here, by
  replaying the reference calls, exactly as ``eval framework`` does: so a run that changes
  the wrong record, or claims a change it never made, fails.
- Facts: every expected fact must be stated in the final answer (``synthesis.facts``) and
  returned by a tool during the run (answering from memory is not grounded). A fact the
  query's own text states proves nothing and is not counted.

A query with nothing left to check gets a ``not checked`` verdict, which fails the rollout
for training data: "not checked" is never "passed". So does a framework that cannot be
replayed: a replay is only meaningful on the framework the query was written for, so the
folder's current hash must equal the query's framework hash; when it differs, or the folder
is gone or does not load, a pass would be a lie and a fail would blame the agent for an
edit. ``not checked`` verdicts are re-tried by every ``verify``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nexforge.core.errors import NexForgeError
from nexforge.core.trajectory import Trajectory
from nexforge.quality.findings import Findings
from nexforge.quality.observations import Observations
from nexforge.quality.policy import GROUNDED, NOT_CHECKED
from nexforge.runtime.config.framework import Framework, load_framework
from nexforge.synthesis.facts import missing_facts, states
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
        self._reference_hashes: dict[str, str] = {}
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

    async def check(self, rollout: RolloutRecord, query: QueryRecord | None) -> Verdict:
        """The rollout's grounded verdict (a ``not checked`` one when it cannot be judged)."""
        outcome = await self._check(rollout, query)
        if isinstance(outcome, NotChecked):
            return Verdict(
                rollout_key=rollout.key,
                stage=GROUNDED,
                passed=False,
                reason=f"not checked: {outcome.reason}",
                detail={NOT_CHECKED: True, "problems": ["not checked"]},
            )
        return outcome

    async def _check(
        self, rollout: RolloutRecord, query: QueryRecord | None
    ) -> Verdict | NotChecked:
        if query is None:
            return NotChecked("query not in the store")
        trajectory = rollout.trajectory
        if trajectory is None:  # final: nothing a later verify could check
            found = Findings()
            found.add("no trajectory", "nothing to check: the rollout has no trajectory")
            return found.verdict(rollout.key, GROUNDED)
        expected = query.expected or ExpectedOutcome()
        told = [f for f in expected.facts if states(query.text, f)]
        facts = [f for f in expected.facts if f not in told]
        if not facts and expected.state_hash is None and not expected.calls:
            why = "its expected facts are all in the query's text" if told else "none"
            return NotChecked(f"the query has no expected outcome the cascade can check ({why})")
        found = Findings()
        detail: dict[str, object] = {}
        if told:
            detail["facts_in_query"] = told
        if expected.state_hash is not None or expected.calls:
            environment = self.environment(query.framework_hash)
            if isinstance(environment, NotChecked):
                return environment
            try:
                wanted = expected.state_hash or await self._reference_hash(
                    query.key, environment, expected
                )
                reached = await environment.replay(trajectory)
            except (NexForgeError, OSError, ValueError) as exc:
                log.warning("replay of rollout %s failed", rollout.key, exc_info=exc)
                return NotChecked(f"replay failed: {exc}")
            detail["state_hash"] = reached
            if expected.state_hash is None:
                detail["expected_state_hash"] = wanted
            if reached != wanted:
                found.add("end state", _state_mismatch(trajectory, expected, environment))
        missing = missing_facts(trajectory.final_output or "", facts)
        if missing:
            found.add("missing facts", f"the answer does not state {_listed(missing)}")
            detail["missing_facts"] = missing
        seen = Observations.of(trajectory)
        unobserved = [f for f in facts if f not in missing and not seen.observed(f)]
        if unobserved:
            found.add(
                "facts not observed",
                f"the answer states {_listed(unobserved)}, which no tool returned in the run",
            )
            detail["unobserved_facts"] = unobserved
        return found.verdict(rollout.key, GROUNDED, **detail)

    async def _reference_hash(
        self, key: str, environment: Environment, expected: ExpectedOutcome
    ) -> str:
        """The end state a query's reference calls reach (once per query)."""
        if key not in self._reference_hashes:
            calls = [(c.tool, c.arguments) for c in expected.calls]
            self._reference_hashes[key] = await environment.replay_calls(calls)
        return self._reference_hashes[key]


def _listed(facts: Sequence[str]) -> str:
    shown = ", ".join(repr(f) for f in facts[:MAX_FACTS_SHOWN])
    more = f" (+{len(facts) - MAX_FACTS_SHOWN} more)" if len(facts) > MAX_FACTS_SHOWN else ""
    return shown + more


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
