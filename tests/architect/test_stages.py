"""Stage normalisers and archetypes: deterministic fixes, and what goes back for repair."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from scripted_architect import BIKE_SHOP, Filler

from nexforge.architect import hierarchy as h
from nexforge.architect.ask import StageProblems
from nexforge.architect.domain import domain_schema, normalize_domain
from nexforge.architect.kit import (
    normalize_personas,
    normalize_problem_types,
    persona_schema,
    persona_slots,
    problem_schema,
)
from nexforge.architect.similarity import word_similarity
from nexforge.architect.spec import ARCHETYPES, DomainSpec, ToolPlan
from nexforge.core.tools import ToolSpec
from nexforge.tools.validation import validate_arguments


def bike_shop() -> DomainSpec:
    return normalize_domain(copy.deepcopy(BIKE_SHOP), [])


def tools_of(domain: DomainSpec) -> list[ToolPlan]:
    plans = []
    for e in domain.entities:
        plans.append(
            ToolPlan(
                name=f"get_{e.singular}",
                kind="get",
                entity=e.name,
                description="get",
                read_only=True,
            )
        )
        plans.append(
            ToolPlan(
                name=f"update_{e.singular}",
                kind="update",
                entity=e.name,
                description="update",
                read_only=False,
            )
        )
    return plans


def test_the_domain_schema_accepts_the_reference_answer() -> None:
    spec = ToolSpec(name="submit_domain", parameters=domain_schema())
    assert validate_arguments(spec, BIKE_SHOP) is None
    assert validate_arguments(spec, {**BIKE_SHOP, "entities": []}) is not None


def test_references_resolve_by_singular_and_actions_extend_values() -> None:
    domain = bike_shop()
    orders = domain.entity("orders")
    assert orders.field("customer_id").references == "customers"
    assert orders.field("status").values == ["pending", "shipped", "cancelled"]
    [action] = domain.actions
    assert (action.entity, action.field, action.value, action.allowed_from) == (
        "orders",
        "status",
        "cancelled",
        ["pending"],
    )


def test_names_are_made_identifiers_and_duplicates_dropped() -> None:
    raw = copy.deepcopy(BIKE_SHOP)
    raw["name"] = "Spokes & Sprockets!"
    raw["entities"][0]["name"] = "Repair Tickets"
    raw["entities"][0]["singular"] = ""
    raw["entities"][0]["fields"].append({**raw["entities"][0]["fields"][0]})
    raw["entities"][0]["fields"].append(
        {"name": "id", "type": "integer", "description": "", "references": "", "values": []}
    )
    raw["entities"].append(copy.deepcopy(raw["entities"][1]))
    fixes: list[str] = []
    domain = normalize_domain(raw, fixes)
    assert domain.name == "spokes_sprockets"
    first = domain.entities[0]
    assert (first.name, first.singular) == ("repair_tickets", "repair_ticket")
    assert [f.name for f in first.fields] == ["name", "email"]
    assert len(domain.entities) == 2
    assert any("duplicate entity" in f for f in fixes)


def test_reference_cycles_and_unknown_references_are_dropped_with_a_note() -> None:
    raw = copy.deepcopy(BIKE_SHOP)
    raw["entities"][0]["fields"].append(
        {
            "name": "last_order",
            "type": "integer",
            "description": "",
            "references": "orders",
            "values": [],
        }
    )
    raw["entities"][1]["fields"].append(
        {
            "name": "shop_id",
            "type": "integer",
            "description": "",
            "references": "shops",
            "values": [],
        }
    )
    fixes: list[str] = []
    domain = normalize_domain(raw, fixes)
    refs = {(e.name, f.name): f.references for e in domain.entities for f in e.fields}
    # customers -> orders is kept (first seen), orders -> customers would close the cycle.
    assert refs[("customers", "last_order")] == "orders"
    assert refs[("orders", "customer_id")] is None
    assert refs[("orders", "shop_id")] is None
    assert len([f for f in fixes if "dropped reference" in f]) == 2


def test_an_entity_without_fields_goes_back_to_the_model() -> None:
    raw = {**BIKE_SHOP, "entities": [{**BIKE_SHOP["entities"][0], "fields": []}]}
    with pytest.raises(StageProblems) as caught:
        normalize_domain(raw, [])
    assert "needs at least one field" in caught.value.problems[0]


@pytest.mark.parametrize("archetype", ARCHETYPES)
def test_every_archetype_gives_an_acyclic_hierarchy_covering_every_tool(archetype: Any) -> None:
    domain = bike_shop()
    tools = tools_of(domain)
    slots = h.layout(archetype, domain, tools, random.Random(0))
    raw = Filler()(h.hierarchy_schema(slots, tools))
    plan = h.normalize_hierarchy(raw, slots, archetype, tools, [])
    assert h.graph_problems(plan) == []
    assert {t for a in plan.agents for t in a.tools} == {t.name for t in tools}
    assert plan.agent(plan.entry).layer == 0
    names = [a.name for a in plan.agents]
    assert len(set(names)) == len(names) and not set(names) & {t.name for t in tools}
    expected_depth = {"single": 1, "three_layers": 3}.get(archetype, 2)
    assert h.depth(plan) == expected_depth


def test_agent_names_never_clash_with_tools_or_each_other() -> None:
    domain = bike_shop()
    tools = tools_of(domain)
    slots = h.layout("worker_reviewer", domain, tools, random.Random(0))
    same = {"name": "get_order", "role": "r", "responsibilities": ["x"], "tools": []}
    fixes: list[str] = []
    plan = h.normalize_hierarchy(
        {s.key: same for s in slots}, slots, "worker_reviewer", tools, fixes
    )
    names = [a.name for a in plan.agents]
    assert len(set(names)) == 3 and "get_order" not in names
    assert any("renamed" in f for f in fixes)


def test_a_slot_keeps_only_tools_it_may_use() -> None:
    domain = bike_shop()
    tools = tools_of(domain)
    slots = h.layout("worker_reviewer", domain, tools, random.Random(0))
    raw = {
        s.key: {"name": s.key, "role": "r", "responsibilities": ["x"], "tools": ["update_order"]}
        for s in slots
    }
    plan = h.normalize_hierarchy(raw, slots, "worker_reviewer", tools, [])
    reviewer = plan.agent("reviewer")
    assert reviewer.tools and all(not t.startswith("update_") for t in reviewer.tools)


def test_variant_archetypes_cover_all_five_then_repeat() -> None:
    first_five = [h.variant_archetype(7, v) for v in range(1, 6)]
    assert sorted(first_five) == sorted(ARCHETYPES)
    assert h.variant_archetype(7, 6) == first_five[0]
    assert [h.variant_archetype(8, v) for v in range(1, 6)] != first_five or True


def test_personas_follow_sampled_slots_and_near_duplicates_are_dropped() -> None:
    profile = bike_shop().profile()
    slots = persona_slots(profile, seed=3)
    assert len({(s.age, s.situation) for s in slots}) == len(slots)
    assert {s.user_type for s in slots} == set(profile.user_types)
    same = {"name": "Ana", "background": "Commutes daily by bike to the office", "style": "brief"}
    raw = {s.key: {**same, "name": f"Person {i}"} for i, s in enumerate(slots)}
    fixes: list[str] = []
    kept = normalize_personas(raw, slots, fixes)
    # Same words from the model, but each slot's own age and situation tell them apart.
    assert len(kept) == len(slots)
    assert all(slot.age in p.background for slot, p in zip(slots, kept, strict=True))
    # A long enough identical background outweighs the slots' differing facts.
    long = " ".join(f"word{i}" for i in range(60))
    twins = {s.key: {**same, "background": long} for s in slots}
    with pytest.raises(StageProblems):
        normalize_personas(twins, slots, [])
    schema = ToolSpec(name="p", parameters=persona_schema(slots))
    assert validate_arguments(schema, raw) is None
    assert validate_arguments(schema, {"personas": []}) is not None


def test_problem_tree_has_depth_four_and_leaves_name_known_tools() -> None:
    domain = bike_shop()
    tools = tools_of(domain)
    raw = Filler()(problem_schema(tools))
    tree = normalize_problem_types(raw, domain.profile(), tools, [])
    assert tree.depth() == 4
    assert all(leaf.tools and set(leaf.tools) <= {t.name for t in tools} for leaf in tree.leaves())
    ids = [leaf.id for leaf in tree.leaves()]
    assert len(set(ids)) == len(ids)


def test_word_similarity() -> None:
    assert word_similarity("Cancel my order", "cancel MY order!") == 1.0
    assert word_similarity("Cancel my order", "Book a repair") == 0.0
