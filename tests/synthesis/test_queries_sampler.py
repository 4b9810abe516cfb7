"""The query sampler: inverse-frequency balancing, depth truncation, difficulty mix, seeding."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import pytest

from nexforge.architect.framework_files import read_framework_files
from nexforge.architect.spec import Persona, ProblemType
from nexforge.synthesis.planner import SlotPlanner
from nexforge.synthesis.problem_tree import GrownType, ProblemTree, TypePath
from nexforge.synthesis.query_options import QueryOptions
from nexforge.synthesis.sampler import Coverage, draw, slot_rng, target_shares

DRAWS = 3000


@pytest.fixture
def kit(shop_dir: Path) -> tuple[ProblemTree, list[Persona]]:
    files = read_framework_files(shop_dir)
    assert files.problem_types is not None
    return ProblemTree(files.problem_types), files.personas


def simulate(
    tree: ProblemTree,
    personas: list[Persona],
    *,
    alpha: float,
    start: dict[TypePath, int] | None = None,
    draws: int = DRAWS,
    seed: int = 7,
) -> Counter[TypePath]:
    """Draw ``draws`` paths, counting each as a stored query before the next draw."""
    coverage = Coverage(tree, start)
    rng = random.Random(seed)
    for _ in range(draws):
        coverage.add(draw(rng, coverage, personas, alpha=alpha).path)
    return coverage.counts


def chi_square(tree: ProblemTree, counts: Counter[TypePath]) -> float:
    """Distance of the counts from the target shares (a multinomial sample averages about
    the number of paths minus one)."""
    total = sum(counts.values())
    shares = target_shares(tree)
    return sum((counts[p] - total * s) ** 2 / (total * s) for p, s in shares.items())


def spread(tree: ProblemTree, counts: Counter[TypePath]) -> float:
    """max / min of each path's count relative to its target share (1.0 = exactly on target)."""
    ratios = [counts[path] / share for path, share in target_shares(tree).items()]
    return max(ratios) / min(ratios)


def leaf_entropy(tree: ProblemTree, counts: Counter[TypePath]) -> float:
    """Normalised entropy of leaf coverage (an inner-node query shared among its leaves)."""
    coverage = dict.fromkeys(tree.leaf_paths(), 0.0)
    for path, count in counts.items():
        under = [leaf for leaf in coverage if leaf[: len(path)] == path]
        for leaf in under:
            coverage[leaf] += count / len(under)
    total = sum(coverage.values())
    entropy = -sum(c / total * math.log(c / total) for c in coverage.values() if c)
    return entropy / math.log(len(coverage))


def test_inverse_frequency_flattens_coverage_compared_with_sampling_the_target(
    kit: tuple[ProblemTree, list[Persona]],
) -> None:
    tree, personas = kit
    seeds = range(1, 5)
    balanced = [simulate(tree, personas, alpha=1.5, seed=seed) for seed in seeds]
    plain = [simulate(tree, personas, alpha=0.0, seed=seed) for seed in seeds]
    chi = {
        "balanced": sum(chi_square(tree, c) for c in balanced) / len(seeds),
        "plain": sum(chi_square(tree, c) for c in plain) / len(seeds),
    }
    assert chi["balanced"] < chi["plain"] / 2
    excess = {
        "balanced": sum(spread(tree, c) - 1 for c in balanced) / len(seeds),
        "plain": sum(spread(tree, c) - 1 for c in plain) / len(seeds),
    }
    assert excess["balanced"] < excess["plain"] * 0.6
    for flat, sampled in zip(balanced, plain, strict=True):
        assert leaf_entropy(tree, flat) > leaf_entropy(tree, sampled)


def test_inverse_frequency_makes_up_for_a_skewed_start(
    kit: tuple[ProblemTree, list[Persona]],
) -> None:
    tree, personas = kit
    crowded = tree.leaf_paths()[0]
    start = {crowded: 150, crowded[:2]: 300}
    balanced = simulate(tree, personas, alpha=1.5, start=start)
    plain = simulate(tree, personas, alpha=0.0, start=start)
    new = {"balanced": balanced - Counter(start), "plain": plain - Counter(start)}
    assert new["balanced"][crowded] < new["plain"][crowded] / 2
    assert new["balanced"][crowded[:2]] < new["plain"][crowded[:2]] / 2
    assert spread(tree, balanced) < spread(tree, plain) * 0.7


def test_paths_are_cut_at_every_depth_from_two_so_inner_nodes_are_used(
    kit: tuple[ProblemTree, list[Persona]],
) -> None:
    tree, personas = kit
    counts = simulate(tree, personas, alpha=1.5, draws=1000)
    assert all(len(path) >= 2 and tree.contains_path(path) for path in counts)
    assert {len(path) for path in counts} == {2, 3, 4}
    every_node_below_root = {tree.path(n) for n in _ids(tree.root) if n != tree.root.id}
    assert set(counts) == every_node_below_root
    inner = sum(c for path, c in counts.items() if not tree.is_leaf(path[-1]))
    assert 0.4 < inner / 1000 < 0.8  # the target cuts depth-4 leaves at 2 or 3 two times in 3


def test_difficulty_follows_the_configured_mix(kit: tuple[ProblemTree, list[Persona]]) -> None:
    tree, personas = kit
    coverage = Coverage(tree)
    rng = random.Random(3)
    drawn = Counter(draw(rng, coverage, personas).difficulty for _ in range(DRAWS))
    assert drawn["easy"] / DRAWS == pytest.approx(0.3, abs=0.03)
    assert drawn["medium"] / DRAWS == pytest.approx(0.5, abs=0.03)
    assert drawn["hard"] / DRAWS == pytest.approx(0.2, abs=0.03)
    only_hard = Counter(
        draw(rng, coverage, personas, difficulty_mix={"hard": 1.0, "easy": 0.0}).difficulty
        for _ in range(200)
    )
    assert only_hard == {"hard": 200}
    assert len({draw(rng, coverage, personas).persona.id for _ in range(200)}) == len(personas)


@pytest.mark.parametrize("mix", [{}, {"easy": -1.0}, {"easy": 0.0}])
def test_a_difficulty_mix_without_positive_weights_is_refused(mix: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="difficulty mix"):
        QueryOptions(difficulty_mix=mix)


def test_slot_randomness_depends_only_on_seed_slot_attempt_and_purpose() -> None:
    assert slot_rng(0, 5, 1, "plan").random() == slot_rng(0, 5, 1, "plan").random()
    values = {
        slot_rng(*key).random()
        for key in [
            (0, 5, 1, "plan"),
            (1, 5, 1, "plan"),
            (0, 6, 1, "plan"),
            (0, 5, 2, "plan"),
            (0, 5, 1, "ground"),
        ]
    }
    assert len(values) == 5


async def test_planner_plans_the_same_slots_for_the_same_seed_and_counts(
    kit: tuple[ProblemTree, list[Persona]],
) -> None:
    tree, personas = kit

    async def plans(seed: int, counts: dict[TypePath, int]) -> list[tuple[object, ...]]:
        planner = SlotPlanner(tree, personas, counts, seed=seed)
        found = []
        for slot in range(40):
            plan = await planner.plan(slot)
            retry = planner.replan(slot, 1)
            found.append((plan.path, plan.persona.id, plan.difficulty, retry.path))
        return found

    start = {tree.leaf_paths()[0]: 3}
    assert await plans(0, start) == await plans(0, dict(start))
    assert await plans(0, start) != await plans(1, start)
    assert await plans(0, start) != await plans(0, {})


async def test_planner_replans_a_slot_from_the_counts_it_was_first_planned_with(
    kit: tuple[ProblemTree, list[Persona]],
) -> None:
    tree, personas = kit
    planner = SlotPlanner(tree, personas, {}, seed=0)
    await planner.plan(0)
    before = planner.replan(0, 1)
    for slot in range(1, 30):  # later slots change the running counts
        await planner.plan(slot)
    assert planner.replan(0, 1) == before
    with pytest.raises(ValueError, match="out of order"):
        await planner.plan(5)


def test_a_grown_type_joins_the_tree_as_a_new_leaf(kit: tuple[ProblemTree, list[Persona]]) -> None:
    tree, _ = kit
    node = ProblemType(id="orders.grown-0-1", label="Warranty", tools=["get_order"])
    grown = tree.with_type(GrownType("orders", node, seed=0, slot=1))
    assert ("shop", "orders", "orders.grown-0-1") in grown.leaf_paths()
    assert ("shop", "orders", "orders.grown-0-1") not in tree.leaf_paths()
    assert ("shop", "orders", "orders.grown-0-1") in target_shares(grown)
    assert grown.leaves_under("orders")[-1] == node
    with pytest.raises(ValueError, match="already"):
        grown.with_type(GrownType("buying", node))
    with pytest.raises(KeyError):
        tree.with_type(GrownType("nowhere", node))


def _ids(node: ProblemType) -> list[str]:
    return [node.id, *(i for child in node.children for i in _ids(child))]


def test_a_problem_brought_by_some_user_types_gets_a_persona_of_theirs() -> None:
    def leaf(node_id: str, asked_by: list[str]) -> ProblemType:
        return ProblemType(id=node_id, label=node_id, tools=["t"], asked_by=asked_by)

    restock = ProblemType(id="1", label="stock", children=[leaf("1.1", ["staff"])])
    orders = ProblemType(id="2", label="orders", children=[leaf("2.1", []), leaf("2.2", ["staff"])])
    tree = ProblemTree(ProblemType(id="root", label="shop", children=[restock, orders]))
    personas = [
        Persona(id=f"p{i}", name=f"n{i}", user_type=kind, background="b", style="s")
        for i, kind in enumerate(["customer", "staff", "customer", "customer"])
    ]
    rng, coverage = random.Random(3), Coverage(tree)
    seen: dict[str, set[str]] = {}
    for _ in range(400):
        drawn = draw(rng, coverage, personas)
        seen.setdefault(drawn.path[-1], set()).add(drawn.persona.user_type)

    assert tree.asked_by("1") == ["staff"] and tree.asked_by("2") == []
    assert seen["1"] == seen["1.1"] == seen["2.2"] == {"staff"}
    assert seen["2"] == seen["2.1"] == {"customer", "staff"}


def test_with_no_persona_of_the_wanted_type_any_persona_is_drawn() -> None:
    only = ProblemType(id="1", label="stock", tools=["t"], asked_by=["staff"])
    tree = ProblemTree(ProblemType(id="root", label="shop", children=[only]))
    customer = Persona(id="p1", name="n", user_type="customer", background="b", style="s")

    assert draw(random.Random(0), Coverage(tree), [customer]).persona == customer
