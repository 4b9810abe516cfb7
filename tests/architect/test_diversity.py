"""Diversity statistics over framework folders: structure, distance, near-duplicates, report."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from nexforge.architect.diversity import (
    FrameworkStructure,
    diversity_report,
    read_structure,
    render_diversity,
    structural_distance,
)
from nexforge.architect.similarity import near_duplicates
from nexforge.core.errors import ConfigError

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"
READS = ["find_customer", "get_customer", "get_order", "list_orders", "search_products"]
WRITES = ["create_order", "cancel_order", "add_note"]

Team = dict[str, tuple[list[str], list[str]]]
"""Agent name -> (its environment tools, its sub-agents); the first agent is the entry."""

SINGLE: Team = {"assistant": ([*READS, *WRITES], [])}
LEAD_TWO: Team = {
    "lead": (["find_customer"], ["orders", "catalog"]),
    "orders": ([*READS, *WRITES], []),
    "catalog": (["search_products"], []),
}
THREE_LAYERS: Team = {
    "lead": (["find_customer"], ["sales", "support"]),
    "sales": ([], ["quoter", "seller"]),
    "support": ([], ["reader", "canceller"]),
    "quoter": (["search_products"], []),
    "seller": (["create_order"], []),
    "reader": (["get_order", "list_orders"], []),
    "canceller": (["cancel_order", "add_note"], []),
}


def make_framework(
    root: Path,
    folder: str,
    team: Team,
    *,
    workflow: dict[str, Any] | None = None,
    personas: Sequence[str] = (),
    problem_types: dict[str, Any] | None = None,
) -> Path:
    """The shop example with its agents replaced by ``team`` and an optional kit."""
    out = root / folder
    shutil.copytree(SHOP, out, ignore=shutil.ignore_patterns("__pycache__", "agents", "kit"))
    (out / "agents").mkdir()
    for name, (tools, subs) in team.items():
        lines = [f"name: {name}", f"description: The {name} agent.", "system_prompt: Help."]
        lines += ["tools:", *(f"  - env: {t}" for t in tools)] if tools else []
        lines += ["sub_agents:", *(f"  - config: {s}.yaml" for s in subs)] if subs else []
        (out / "agents" / f"{name}.yaml").write_text("\n".join(lines) + "\n")
    config = (out / "framework.yaml").read_text()
    config = config.replace("agents/lead.yaml", f"agents/{next(iter(team))}.yaml")
    if workflow is not None:
        config += f"workflow: {json.dumps(workflow)}\n"
    (out / "framework.yaml").write_text(config)
    if personas or problem_types is not None:
        (out / "kit").mkdir()
    if personas:
        rows = [
            {"id": f"p{i}", "name": f"P{i}", "user_type": "customer", "background": text}
            for i, text in enumerate(personas, 1)
        ]
        (out / "kit" / "personas.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if problem_types is not None:
        (out / "kit" / "problem_types.json").write_text(json.dumps(problem_types))
    return out


def tree(label: str, *children: dict[str, Any]) -> dict[str, Any]:
    return {"id": label.lower().replace(" ", "_"), "label": label, "children": list(children)}


def test_the_shop_example_reads_as_a_lead_with_two_specialists() -> None:
    s = read_structure(SHOP)

    assert (s.name, s.archetype) == ("shop", "lead_specialists")
    assert (s.agents, s.depth, s.edges, s.tools) == (3, 2, 2, 8)
    assert s.tools_per_agent == (1, 8, 1)  # lead, orders (every tool), catalog
    assert s.fan_out == (2, 0, 0)
    assert s.topology == "o(o,o)"
    assert s.shape == "entry -> 2"
    assert (s.personas, s.problem_type_nodes) == (6, 21)  # the hand-written kit


def test_three_layers_counts_depth_edges_and_distinct_tools(tmp_path: Path) -> None:
    s = read_structure(make_framework(tmp_path, "v1", THREE_LAYERS))

    assert (s.agents, s.depth, s.edges) == (7, 3, 6)
    assert s.tools == 7  # sub-agents are not tools
    assert s.fan_out == (2, 2, 2, 0, 0, 0, 0)
    assert s.tools_per_agent == (1, 0, 0, 1, 1, 2, 2)
    assert s.topology == "o(o(o,o),o(o,o))"
    assert s.layer_widths == (1, 2, 4)
    assert s.archetype == "three_layers"


@pytest.mark.parametrize(
    ("team", "workflow", "archetype"),
    [
        (SINGLE, None, "single"),
        (LEAD_TWO, None, "lead_specialists"),
        (THREE_LAYERS, None, "three_layers"),
        (
            {
                "lead": ([], ["worker", "reviewer"]),
                "worker": (READS, []),
                "reviewer": (["get_order"], []),
            },
            None,
            "worker_reviewer",
        ),
        (
            {"a": ([], ["b"]), "b": ([], ["c"]), "c": ([], ["d"]), "d": (READS, [])},
            None,
            "other",
        ),
        (LEAD_TWO, {"order": ["orders", "catalog"]}, "pipeline"),
        (LEAD_TWO, {"archetype": "worker_reviewer"}, "worker_reviewer"),  # declared wins
    ],
)
def test_archetype_is_declared_or_inferred_from_the_graph(
    tmp_path: Path, team: Team, workflow: dict[str, Any] | None, archetype: str
) -> None:
    assert read_structure(make_framework(tmp_path, "v", team, workflow=workflow)).archetype == (
        archetype
    )


def test_topology_ignores_agent_names_but_a_pipeline_is_ordered(tmp_path: Path) -> None:
    renamed: Team = {
        "desk": (["find_customer"], ["books", "shelf"]),
        "books": ([*READS, *WRITES], []),
        "shelf": (["search_products"], []),
    }
    lead = read_structure(make_framework(tmp_path, "v1", LEAD_TWO))
    desk = read_structure(make_framework(tmp_path, "v2", renamed))
    pipeline = make_framework(tmp_path, "v3", LEAD_TWO, workflow={"order": ["orders", "catalog"]})

    assert desk.topology == lead.topology
    assert structural_distance(lead, desk) == 0.0
    leaf_first: Team = {"a": ([], ["b", "c"]), "b": (READS, []), "c": ([], ["d"]), "d": ([], [])}
    leaf_last: Team = {"a": ([], ["c", "b"]), "b": (READS, []), "c": ([], ["d"]), "d": ([], [])}
    first = read_structure(make_framework(tmp_path, "v4", leaf_first))
    last = read_structure(make_framework(tmp_path, "v5", leaf_last))
    assert first.topology == last.topology == "o(o,o(o))"
    staged = make_framework(tmp_path, "v6", leaf_first, workflow={"order": ["c", "b"]})
    assert read_structure(staged).topology == "o[o(o),o]"
    assert read_structure(pipeline).topology == "o[o,o]"


def test_identical_frameworks_are_at_distance_zero_and_reported(tmp_path: Path) -> None:
    v1 = read_structure(make_framework(tmp_path, "v1", LEAD_TWO))
    v2 = read_structure(make_framework(tmp_path, "v2", LEAD_TWO))

    report = diversity_report([v1, v2])

    assert structural_distance(v1, v2) == 0.0
    assert report.distances == [[0.0, 0.0], [0.0, 0.0]]
    assert report.closest == ("v1", "v2", 0.0)
    assert report.findings == [
        "v1 and v2 have the same topology (entry -> 2)",
        "pair v1/v2 distance 0 < 0.15",
        "only 1 distinct archetype across 2 frameworks (lead_specialists: v1 and v2)",
    ]


def test_structurally_different_frameworks_are_far_apart_and_not_reported(
    tmp_path: Path,
) -> None:
    structures = [
        read_structure(make_framework(tmp_path, name, team))
        for name, team in [("v1", SINGLE), ("v2", LEAD_TWO), ("v3", THREE_LAYERS)]
    ]

    report = diversity_report(structures)

    for i, a in enumerate(structures):
        for j, b in enumerate(structures):
            d = report.distances[i][j]
            assert d == structural_distance(b, a)  # symmetric
            assert (d == 0.0) == (i == j)
            assert i == j or 0.15 < d <= 1.0
    assert (report.distinct_topologies, report.distinct_archetypes) == (3, 3)
    assert report.findings == []


def test_same_shape_with_a_different_tool_split_is_close_but_not_identical(
    tmp_path: Path,
) -> None:
    moved: Team = {**LEAD_TWO, "orders": (WRITES, []), "catalog": (READS, [])}
    a = read_structure(make_framework(tmp_path, "v1", LEAD_TWO))
    b = read_structure(make_framework(tmp_path, "v2", moved))

    distance = structural_distance(a, b)

    assert 0.0 < distance < 0.15  # only the tool component (weight 0.3) differs
    assert distance == pytest.approx(structural_distance(b, a))


def test_same_shape_under_different_archetypes_is_still_reported(tmp_path: Path) -> None:
    reviewed: Team = {
        "lead": (["find_customer"], ["worker", "reviewer"]),
        "worker": ([*READS, *WRITES], []),
        "reviewer": (READS, []),
    }
    structures = [
        read_structure(make_framework(tmp_path, name, team))
        for name, team in [("v1", LEAD_TWO), ("v2", reviewed)]
    ]

    findings = diversity_report(structures).findings

    assert findings[0] == (
        "v1 and v2 have the same topology (entry -> 2; archetypes lead_specialists, worker_reviewer)"
    )


def test_near_duplicates_find_paraphrases_and_exact_copies_not_unrelated_texts() -> None:
    texts = [
        "Busy parent who orders bike parts online late at night.",
        "A busy parent that orders bike parts online, late at night!",
        "Retired cyclist asking detailed questions about wheel truing.",
        "BUSY PARENT WHO ORDERS BIKE PARTS ONLINE LATE AT NIGHT",
        "",
        "Student on a tight budget looking for a used commuter bike.",
    ]

    pairs = near_duplicates(texts)

    assert [(i, j) for i, j, _ in pairs] == [(0, 1), (0, 3), (1, 3)]
    assert dict(((i, j), sim) for i, j, sim in pairs)[0, 3] == 1.0
    assert all(0.8 <= sim <= 1.0 for _, _, sim in pairs)
    assert near_duplicates(texts, threshold=1.0) == [(0, 3, 1.0)]


def test_near_duplicates_match_brute_force_on_a_random_corpus() -> None:
    rng = random.Random(7)
    vocabulary = [f"w{k}" for k in range(30)]
    texts = [" ".join(rng.sample(vocabulary, rng.randint(1, 8))) for _ in range(300)]
    texts += [t + " w0" for t in texts[:40]]  # guaranteed near copies
    words = [set(t.split()) for t in texts]

    for threshold in (0.5, 0.7, 0.8, 1.0):
        expected = [
            (i, j)
            for i in range(len(texts))
            for j in range(i + 1, len(texts))
            if len(words[i] & words[j]) / len(words[i] | words[j]) >= threshold
        ]
        found = near_duplicates(texts, threshold=threshold)
        assert [(i, j) for i, j, _ in found] == expected


def test_near_duplicates_rejects_a_threshold_outside_0_to_1() -> None:
    with pytest.raises(ValueError, match="threshold"):
        near_duplicates(["a"], threshold=0.0)


def test_kit_statistics_and_duplicates_within_and_across_frameworks(tmp_path: Path) -> None:
    parent = "Busy parent who orders bike parts online late at night."
    v1 = make_framework(
        tmp_path,
        "v1",
        SINGLE,
        personas=[parent, "Retired cyclist asking about wheel truing."],
        problem_types=tree(
            "Shop",
            tree("Orders", tree("Cancel an order"), tree("Cancel the order"), tree("Track")),
            tree("Products", tree("Stock check")),
        ),
    )
    v2 = make_framework(
        tmp_path,
        "v2",
        THREE_LAYERS,
        personas=[
            "Student on a tight budget looking for a used commuter bike.",
            "A busy parent that orders bike parts online, late at night!",
        ],
    )

    a, b = read_structure(v1), read_structure(v2)
    report = diversity_report([a, b])

    kit = (a.personas, a.problem_type_nodes, a.problem_type_leaves, a.problem_type_depth)
    assert kit == (2, 7, 4, 3)
    assert "Shop" not in a.problem_type_labels
    assert [(d.kind, d.first, d.second) for d in report.duplicates] == [
        ("persona", "v1", "v2"),
        ("problem type", "v1", "v1"),
    ]
    assert report.findings == [
        "1 near-duplicate persona pair across frameworks: v1 'Busy parent who orders bike parts onl...'"
        " ~ v2 'A busy parent that orders bike parts...' (0.90)",
        "1 near-duplicate problem type pair in v1: 'Cancel an order' ~ 'Cancel the order' (1.00)",
    ]


def test_a_bad_persona_line_is_a_config_error_naming_the_line(tmp_path: Path) -> None:
    out = make_framework(tmp_path, "v1", SINGLE, personas=["Someone."])
    with (out / "kit" / "personas.jsonl").open("a") as f:
        f.write('{"id": "p2", "name": "No background"}\n')

    with pytest.raises(ConfigError) as caught:
        read_structure(out)

    assert caught.value.line == 2
    assert caught.value.file is not None and caught.value.file.endswith("personas.jsonl")


def test_render_has_a_row_per_framework_the_distances_and_the_findings(tmp_path: Path) -> None:
    same = [read_structure(make_framework(tmp_path, f"v{i}", LEAD_TWO)) for i in (1, 2)]
    different = read_structure(make_framework(tmp_path, "v3", THREE_LAYERS))

    lines = render_diversity(diversity_report([*same, different]))

    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    assert rows["v1"][:7] == ["v1", "lead_specialists", "3", "2", "8", "2", "0"]
    assert rows["v3"][:7] == ["v3", "three_layers", "7", "3", "7", "6", "0"]
    assert any(line.startswith("distance: mean") and "(v1/v2)" in line for line in lines)
    assert "2 distinct topologies, 2 distinct archetypes across 3 frameworks" in lines
    assert (
        lines[lines.index("findings:") + 1] == "  - v1 and v2 have the same topology (entry -> 2)"
    )
    assert "no diversity defects found" in render_diversity(diversity_report([different]))


def test_report_is_json(tmp_path: Path) -> None:
    structures: list[FrameworkStructure] = [
        read_structure(
            make_framework(tmp_path, name, team, personas=["Same person.", "Same person"])
        )
        for name, team in [("v1", SINGLE), ("v2", LEAD_TWO)]
    ]

    data = json.loads(json.dumps(diversity_report(structures).to_dict()))

    assert [f["path"] for f in data["frameworks"]] == [str(tmp_path / "v1"), str(tmp_path / "v2")]
    assert data["frameworks"][1]["topology"] == "o(o,o)"
    assert len(data["distances"]) == 2 and data["distances"][0][0] == 0.0
    assert {d["kind"] for d in data["near_duplicates"]} == {"persona"}
    assert data["findings"] == diversity_report(structures).findings


def test_variants_sharing_one_kit_are_one_finding_not_a_pair_per_persona(tmp_path: Path) -> None:
    personas = ["Busy parent who orders bike parts online.", "Retired cyclist truing wheels."]
    kit = tree("Shop", tree("Orders", tree("Cancel an order")), tree("Products", tree("Stock")))
    v1 = make_framework(tmp_path, "v1", SINGLE, personas=personas, problem_types=kit)
    v2 = make_framework(tmp_path, "v2", THREE_LAYERS, personas=personas, problem_types=kit)

    report = diversity_report([read_structure(v1), read_structure(v2)])

    assert report.duplicates == []
    assert report.findings == ["v1, v2 share one query kit (personas and problem types)"]
