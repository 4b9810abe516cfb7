"""Planning slots: what each slot of a seeded query set is about, decided in slot order.

Slot ``k`` is planned from the sampler's counts as they stood before it: the store's
counts from other runs plus the paths planned for slots ``0..k-1`` of this run (planned,
not accepted, so a plan never waits for a model's answer and a resumed run re-plans
exactly what the first run planned). A later attempt at a slot draws again, with its
own rng, from the same counts and tree. When growth is on, a slot may first grow a new
problem type (a model call, so growth happens here in slot order) and is then about it;
the grown type joins the tree for every later slot.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from nexforge.architect.ask import StageFailed
from nexforge.architect.spec import Persona
from nexforge.synthesis.growth import growth_parent
from nexforge.synthesis.problem_tree import GrownType, ProblemTree, TypePath
from nexforge.synthesis.sampler import (
    DEFAULT_ALPHA,
    DEFAULT_DIFFICULTY_MIX,
    Coverage,
    Draw,
    draw,
    slot_rng,
)

Grower = Callable[[int, ProblemTree, TypePath], Awaitable[GrownType]]
"""``(slot, tree, parent path) -> grown type``; raises StageFailed when the model fails."""


@dataclass(frozen=True)
class SlotPlan:
    """What one attempt at one slot writes a query about."""

    slot: int
    attempt: int
    persona: Persona
    path: TypePath
    path_labels: tuple[str, ...]
    description: str
    difficulty: str
    tools: tuple[str, ...]
    notes: tuple[str, ...] = ()


class SlotPlanner:
    """Plans slots 0, 1, 2... in order (``plan``) and re-plans later attempts (``replan``)."""

    def __init__(
        self,
        tree: ProblemTree,
        personas: Sequence[Persona],
        counts: Mapping[TypePath, int],
        *,
        seed: int,
        alpha: float = DEFAULT_ALPHA,
        difficulty_mix: Mapping[str, float] = DEFAULT_DIFFICULTY_MIX,
        grow_p: float = 0.0,
        grower: Grower | None = None,
    ) -> None:
        if not personas:
            raise ValueError("no personas to plan with")
        self.seed = seed
        self.personas = list(personas)
        self.alpha = alpha
        self.difficulty_mix = dict(difficulty_mix)
        self.grow_p = grow_p
        self.grower = grower
        self.coverage = Coverage(tree, counts)
        self.next_slot = 0
        self._before: dict[int, Coverage] = {}
        self.grown: list[GrownType] = []

    async def plan(self, slot: int) -> SlotPlan:
        """The first attempt's plan; slots must be planned in order, each once."""
        if slot != self.next_slot:
            raise ValueError(f"slot {slot} planned out of order (next is {self.next_slot})")
        rng = slot_rng(self.seed, slot, 0, "plan")
        drawn = self._draw(rng, self.coverage)
        notes: list[str] = []
        tree = self.coverage.tree
        if self.grower is not None and self.grow_p > 0 and rng.random() < self.grow_p:
            parent = growth_parent(tree, drawn.path)
            try:
                grown = await self.grower(slot, tree, parent)
                tree = tree.with_type(grown)
            except StageFailed as exc:
                notes.append(f"growth under {parent[-1]} failed: {exc}")
            except (KeyError, ValueError) as exc:
                notes.append(f"growth under {parent[-1]} not used: {exc}")
            else:
                self.grown.append(grown)
                self.coverage = self.coverage.on(tree)
                drawn = Draw(drawn.persona, (*parent, grown.node.id), drawn.difficulty)
                notes.append(f"grew problem type {grown.node.id} ({grown.node.label})")
        self._before[slot] = self.coverage.copy()
        self.coverage.add(drawn.path)
        self.next_slot += 1
        return self._plan(slot, 0, drawn, tree, notes)

    def replan(self, slot: int, attempt: int) -> SlotPlan:
        """Attempt ``attempt`` (>= 1) at a planned slot: a new draw from the same counts."""
        before = self._before[slot]
        drawn = self._draw(slot_rng(self.seed, slot, attempt, "plan"), before)
        return self._plan(slot, attempt, drawn, before.tree, [])

    def forget(self, slot: int) -> None:
        """Drop what ``replan`` keeps for a slot that is done."""
        self._before.pop(slot, None)

    def _draw(self, rng: random.Random, coverage: Coverage) -> Draw:
        return draw(
            rng,
            coverage,
            self.personas,
            alpha=self.alpha,
            difficulty_mix=self.difficulty_mix,
        )

    @staticmethod
    def _plan(
        slot: int, attempt: int, drawn: Draw, tree: ProblemTree, notes: list[str]
    ) -> SlotPlan:
        node = tree.node(drawn.path[-1])
        return SlotPlan(
            slot=slot,
            attempt=attempt,
            persona=drawn.persona,
            path=drawn.path,
            path_labels=tuple(tree.labels(drawn.path)),
            description=node.description,
            difficulty=drawn.difficulty,
            tools=tuple(tree.tools(drawn.path)),
            notes=tuple(notes),
        )
