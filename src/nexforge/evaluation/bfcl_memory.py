"""BFCL's memory categories (``memory_kv``, ``memory_rec_sum``): conversations that fill a
memory backend, then questions answered from it.

As bfcl_eval's generation runs them: per scenario, the prerequisite conversations run
first, one after the other; each starts from the memory the previous one saved (the
backend's snapshot files), tells the model how to use its memory in the system prompt
(with the current core memory), and saves the memory when it ends. Each question then
starts from the scenario's final snapshot and is scored by the package's agentic checker:
the model's last reply without calls must contain one of the expected answers.

Snapshots live under the output folder's ``memory/``; a scenario whose chain finished in an
earlier run (its ``.done`` marker exists) is not run again.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

from nexforge.evaluation.bfcl_multiturn import (
    clipped,
    converse,
    execute,
    forget_instances,
    new_owner,
)
from nexforge.evaluation.bfcl_package import BfclCase, BfclPackage
from nexforge.evaluation.bfcl_single import Tally, Verdict
from nexforge.models.base import Model


class MemoryChains:
    """Runs each (category, scenario) prerequisite chain once, when a question first needs it."""

    def __init__(
        self, model: Model, bfcl: BfclPackage, folder: Path, *, timeout_s: float | None
    ) -> None:
        self._model = model
        self._bfcl = bfcl
        self._folder = folder
        self._timeout_s = timeout_s
        self._chains: dict[tuple[str, str], asyncio.Future[None]] = {}

    async def run_question(self, case: BfclCase, tally: Tally) -> tuple[Verdict, dict[str, Any]]:
        """Fill the scenario's memory if not done yet, then ask and check the question."""
        key = (case.category, case.prompt["scenario"])
        chain = self._chains.get(key)
        if chain is None:
            chain = self._chains[key] = asyncio.ensure_future(self._run_chain(*key))
        # Shielded: a question that is cancelled must not cancel the chain others wait for.
        await asyncio.shield(chain)
        turns = await self._converse(case.prompt, tally, save=False)
        return _verdict(self._bfcl, turns, case.ground_truth), {"turns": clipped(turns)}

    async def _run_chain(self, category: str, scenario: str) -> None:
        done = self._folder / f"{category}-{scenario}.done"
        if done.exists():
            return
        for entry in self._bfcl.prerequisites(category):
            if entry["scenario"] == scenario:
                await self._converse(entry, Tally(), save=True)
        done.touch()

    async def _converse(
        self, entry: dict[str, Any], tally: Tally, *, save: bool
    ) -> list[list[Any]]:
        bfcl = self._bfcl
        self._folder.mkdir(parents=True, exist_ok=True)
        (entry,) = bfcl.utils.populate_initial_settings_for_memory_test_cases(
            [copy.deepcopy(entry)], self._folder
        )
        owner = new_owner()
        try:
            _, instances = execute(bfcl, entry, owner, [])
            (memory,) = instances.values()
            entry["question"] = bfcl.handler_utils.add_memory_instruction_system_prompt(
                entry["question"],
                bfcl.utils.extract_test_category_from_id(entry["id"]),
                entry["scenario"],
                memory,
            )
            turns = await converse(self._model, bfcl, entry, owner, tally, self._timeout_s)
            if save:
                memory._flush_memory_to_local_file()
        finally:
            forget_instances(bfcl, owner)
        return turns


def _verdict(bfcl: BfclPackage, turns: list[list[Any]], answers: list[str]) -> Verdict:
    """As ``_evaluate_single_agentic_entry``: the last reply that is not a call is checked."""
    texts = [step for steps in turns for step in steps if isinstance(step, str)]
    if not texts or not texts[-1]:
        return Verdict(
            False,
            "agentic:no_last_message: Cannot find the last chat message that is not a function call.",
        )
    return Verdict.checked_by(bfcl.agentic_checker.agentic_checker, texts[-1], answers)
