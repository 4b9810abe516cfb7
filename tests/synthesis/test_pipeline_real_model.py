"""The whole pipeline on the embedded model: sentence -> framework -> queries -> rollouts ->
verified -> exported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexforge.synthesis.query_quality import query_problems
from nexforge.synthesis.store import SynthesisStore
from run_cli import nexforge

pytestmark = pytest.mark.slow


def test_pipeline_on_the_embedded_model_and_its_resume(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "demo"
    args = [
        "pipeline",
        "A support desk for a bike shop: orders, refunds and stock",
        "-n",
        "2",
        "-o",
        str(out),
    ]
    args += ["--custom-tools", "0", "--model", "local:tiny", "--judge", "--json"]
    first = nexforge(*args, timeout=1500)
    assert first.returncode == 0, first.stderr[-3000:]
    stages = json.loads(first.stdout)["stages"]
    assert stages["check"]["passed"]
    # The small model may not word every slot acceptably: fewer queries, never junk ones.
    accepted = stages["queries"]["accepted"]
    assert 1 <= accepted <= 2
    assert stages["rollout"]["done"] + stages["rollout"]["failed"] == accepted
    verified = stages["verify"]["stages"]
    for stage in ("structure", "tool_validity", "behaviour", "dedup"):
        assert verified[stage]["passed"] + verified[stage]["failed"] == accepted, stage
    judged = verified["judge"]
    assert judged["passed"] + judged["failed"] + judged["not_checked"] == accepted
    with SynthesisStore(out / "store.sqlite") as store:
        for rollout in store.rollouts():
            for verdict in store.verdicts(rollout.key):
                if verdict.stage == "judge":
                    assert verdict.detail["model"] and 0.0 <= (verdict.score or 0.0) <= 1.0
    exported = stages["export"]
    data = Path(json.loads(first.stdout)["data"])
    lines = data.read_text(encoding="utf-8").splitlines()
    assert len(lines) == exported["samples"]["written"]
    assert exported["rollouts"]["kept"] + sum(exported["rollouts"]["dropped"].values()) == accepted
    for line in lines:
        sample = json.loads(line)
        assert sample["messages"][0]["role"] == "system"
        assert sample["provenance"]["framework_hash"]

    with SynthesisStore(out / "store.sqlite") as store:
        queries = store.queries()
        assert len(queries) == accepted
        for query in queries:
            assert query.evidence and query.persona and len(query.path) >= 2
            assert query_problems(query.text) == []
            assert query.expected is not None
            assert query.expected.facts or query.expected.state_hash
        rollouts = list(store.rollouts())
        assert {r.query_key for r in rollouts} == {q.key for q in queries}
        assert all(r.trajectory is not None for r in rollouts)

    again = nexforge(*args, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = json.loads(again.stdout)["stages"]
    assert resumed["queries"]["new"] == 0 and resumed["queries"]["model_calls"] == 0
    assert resumed["rollout"]["done"] + resumed["rollout"]["failed"] == 0
    assert resumed["rollout"]["already_done"] == accepted
    assert resumed["verify"]["stages"]["structure"]["skipped"] == accepted
    assert resumed["export"]["samples"]["written"] == exported["samples"]["written"]
