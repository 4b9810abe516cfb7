"""Stage normalisers and archetypes: deterministic fixes, and what goes back for repair."""

from __future__ import annotations

import random
from typing import Any

import pytest
from scripted_architect import Filler

from nexforge.architect import hierarchy as h
from nexforge.architect.ask import StageProblems
from nexforge.architect.domain import compose_domain, normalize_fields, sketch
from nexforge.architect.kit import (
    Teams,
    normalize_personas,
    normalize_problem_types,
    persona_schema,
    persona_slots,
    problem_schema,
    problem_tree,
)
from nexforge.architect.quality_rung import check_content, delegation_problems, spec_content
from nexforge.architect.similarity import word_similarity
from nexforge.architect.spec import ARCHETYPES, DomainSpec, ToolPlan
from nexforge.architect.toolplan import plan_tools
from nexforge.core.tools import ToolSpec
from nexforge.tools.validation import validate_arguments

DEMO = "A support desk for a bike shop: orders, refunds and stock"
DENTAL = "A dental clinic's appointment desk"
LIBRARY = "A library's loans and reservations"


def bike_shop() -> DomainSpec:
    return compose_domain(sketch(DEMO), {})


def references(domain: DomainSpec) -> dict[str, list[str]]:
    return {
        e.name: [f.references for f in e.fields if f.references is not None]
        for e in domain.entities
    }


def test_the_demo_sentence_gives_related_entities_actions_and_rules() -> None:
    domain = bike_shop()

    assert [(e.name, e.kind) for e in domain.entities] == [
        ("customers", "person"),
        ("bikes", "thing"),
        ("orders", "record"),
        ("refunds", "record"),
    ]
    assert references(domain) == {
        "customers": [],
        "bikes": [],
        "orders": ["customers", "bikes"],
        "refunds": ["orders"],
    }
    assert "stock" in [f.name for f in domain.entity("bikes").fields]
    cancel = next(a for a in domain.actions if a.name == "cancel_order")
    assert (cancel.field, cancel.value, cancel.allowed_from) == (
        "status",
        "cancelled",
        ["pending", "paid"],
    )
    assert "Cancel an order only when its status is pending or paid." in domain.policies
    assert domain.purpose == "Helps the customers of a bike shop with orders, refunds and stock."


@pytest.mark.parametrize(
    ("description", "entities", "links"),
    [
        (
            DENTAL,
            ["patients", "dentists", "treatments", "appointments"],
            {"appointments": ["patients", "dentists", "treatments"]},
        ),
        (
            LIBRARY,
            ["members", "books", "loans", "reservations"],
            {"loans": ["members", "books"], "reservations": ["members", "books"]},
        ),
        (
            "A car rental desk: rentals, returns and damage claims",
            ["customers", "cars", "rentals", "returns", "claims"],
            {"returns": ["rentals"], "claims": ["rentals"]},
        ),
    ],
)
def test_unseen_sentences_give_the_people_things_and_records_they_imply(
    description: str, entities: list[str], links: dict[str, list[str]]
) -> None:
    domain = compose_domain(sketch(description), {})

    assert [e.name for e in domain.entities] == entities
    for name, targets in links.items():
        assert references(domain)[name] == targets
    assert domain.actions and all(a.allowed_from for a in domain.actions)
    content = spec_content(description, domain, None, plan_tools(domain))
    assert [p for p in check_content(content) if p.check != "seed"] == []


def test_model_columns_lose_ids_links_status_and_their_entity_prefix() -> None:
    found = sketch(DEMO)
    orders = found.draft("orders")
    raw = {
        "fields": [
            {"name": "order_total", "type": "real", "example": "249.90"},
            {"name": "customer_id", "type": "integer", "example": "3"},
            {"name": "customer_name", "type": "text", "example": "Ana"},
            {"name": "order_status", "type": "text", "example": "paid"},
            {"name": "order_date", "type": "date", "example": "2026-01-03"},
            {"name": "Gift Wrap", "type": "boolean", "example": "yes"},
        ]
    }
    fixes: list[str] = []

    fields = normalize_fields(raw, found, orders, fixes)

    assert [(f.name, f.type, f.example) for f in fields] == [("gift_wrap", "boolean", "yes")]
    assert len(fixes) == 5  # total (it has one), the link, the customer's name, status, date
    assert normalize_fields({"fields": raw["fields"][1:3]}, found, orders, []) == []


@pytest.mark.parametrize("archetype", ARCHETYPES)
def test_every_archetype_routes_every_problem_type_through_a_sub_agent(archetype: Any) -> None:
    domain = bike_shop()
    tools = plan_tools(domain)
    plan = h.plan_hierarchy(archetype, domain, tools, random.Random(0))
    tree = problem_tree(domain, tools)

    assert h.graph_problems(plan) == []
    assert {t for a in plan.agents for t in a.tools} == {t.name for t in tools}
    entry = plan.agent(plan.entry)
    assert entry.layer == 0
    if archetype != "single":
        assert entry.tools == []
    names = [a.name for a in plan.agents]
    assert len(set(names)) == len(names) and not set(names) & {t.name for t in tools}
    expected_depth = {"single": 1, "three_layers": 3}.get(archetype, 2)
    assert h.depth(plan) == expected_depth
    content = spec_content(DEMO, domain, None, tools, plan=plan, leaves=tree.leaves())
    assert delegation_problems(content) == []


def test_specialists_own_related_entities() -> None:
    domain = bike_shop()
    assert h.entity_groups(domain, 2) == [["orders", "refunds"], ["bikes", "customers"]]
    assert h.entity_groups(domain, 3) == [["orders", "refunds"], ["bikes"], ["customers"]]
    plan = h.plan_hierarchy("lead_specialists", domain, plan_tools(domain), random.Random(1))
    refunds = next(a for a in plan.agents if "approve_refund" in a.tools)
    assert "get_order" in refunds.tools  # looks up the order a refund is for
    assert any(r.startswith("Approve a refund") for r in refunds.responsibilities)


def test_the_problem_tree_is_one_entity_per_leaf_with_the_look_ups_it_needs() -> None:
    domain = bike_shop()
    tree = problem_tree(domain, plan_tools(domain))

    assert tree.depth() == 4
    assert [c.label for c in tree.children] == ["Customers", "Bikes", "Orders", "Refunds"]
    leaves = {leaf.label: leaf.tools for leaf in tree.leaves()}
    assert leaves["Cancel an order"] == ["get_order", "cancel_order"]
    assert leaves["Record a new refund"] == ["create_refund", "get_order"]
    ids = [leaf.id for leaf in tree.leaves()]
    assert len(set(ids)) == len(ids)


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


def test_a_persona_background_says_each_fact_once() -> None:
    slots = persona_slots(bike_shop().profile(), seed=3)
    slot = slots[0]
    echoed = slot.situation.removeprefix("a ").removeprefix("an ").capitalize()
    raw = {slot.key: {"name": "Ana", "background": echoed, "style": "brief"}}
    raw |= {
        s.key: {"name": f"P{i}", "background": f"Rides {i} km", "style": "s"}
        for i, s in enumerate(slots[1:])
    }
    [first, *_] = normalize_personas(raw, slots, [])

    assert first.background.casefold().count(echoed.casefold()) == 1
    assert slot.age in first.background


def test_a_model_written_problem_tree_has_depth_four_and_leaves_name_known_tools() -> None:
    domain = bike_shop()
    tools: list[ToolPlan] = plan_tools(domain)
    raw = Filler()(problem_schema(tools))
    tree = normalize_problem_types(raw, domain.profile(), tools, [])
    assert tree.depth() == 4
    assert all(leaf.tools and set(leaf.tools) <= {t.name for t in tools} for leaf in tree.leaves())
    ids = [leaf.id for leaf in tree.leaves()]
    assert len(set(ids)) == len(ids)


def test_word_similarity() -> None:
    assert word_similarity("Cancel my order", "cancel MY order!") == 1.0
    assert word_similarity("Cancel my order", "Book a repair") == 0.0


def test_a_model_written_leaf_keeps_the_tools_one_sub_agent_holds() -> None:
    domain = bike_shop()
    tools = plan_tools(domain)
    teams = Teams(
        entry=frozenset({"get_customer"}),
        members=(frozenset({"get_order", "cancel_order"}), frozenset({"get_bike"})),
    )
    leaf = {
        "label": "Cancel",
        "description": "d",
        "tools": ["get_customer", "get_order", "cancel_order", "get_bike"],
    }
    alone = {"label": "Who is it", "description": "d", "tools": ["get_customer"]}
    raw = {
        "categories": [
            {"label": "A", "subtypes": [{"label": "a", "leaves": [leaf, alone]}]},
            {"label": "B", "subtypes": [{"label": "b", "leaves": [{**leaf, "label": "Again"}]}]},
        ]
    }
    fixes: list[str] = []

    tree = normalize_problem_types(raw, domain.profile(), tools, fixes, teams)

    assert [(leaf.label, leaf.tools) for leaf in tree.leaves()] == [
        ("Cancel", ["get_order", "cancel_order"]),
        ("Again", ["get_order", "cancel_order"]),
    ]
    assert any("one sub-agent's" in f for f in fixes)
