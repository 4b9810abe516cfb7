"""The architect on the real embedded model (slow): the demo sentence gives a framework
that passes every rung up to and including the quality rung."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexforge.architect.ask import AskSettings
from nexforge.architect.build import BuildOptions, build
from nexforge.models.base import Sampling
from nexforge.models.local import LocalModel
from nexforge.runtime.config.framework import load_framework

pytestmark = pytest.mark.slow

DEMO = "A support desk for a bike shop: orders, refunds and stock"


async def test_tiny_model_builds_the_demo_sentence_into_a_framework_fit_for_data(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    model = LocalModel.shared(tiny_model_path)
    options = BuildOptions(
        description=DEMO,
        out=tmp_path / "fw",
        probe=False,
        ask=AskSettings(sampling=Sampling(temperature=0.0)),
    )
    [result] = await build(options, model)

    rungs = {r.name: r for r in result.check.rungs}
    for name in ("schema", "load", "tool_tests", "smoke", "quality"):
        assert rungs[name].passed, f"{name}: {rungs[name].reason}"
    framework = load_framework(result.path)
    assert framework.environment is not None
    report = json.loads((result.path / "report.json").read_text())
    structure = report["structure"]
    assert structure["entities"] >= 3 and structure["actions"] >= 1
    assert rungs["quality"].details["references"] >= 2
    if framework.entry.sub_agents:  # the lead delegates: every tool is a sub-agent's
        assert not {t.spec.name for t in framework.entry.tools} & {
            t.name for t in framework.environment.tools if not t.spec.read_only
        }
    assert report["model_calls"] >= 5  # columns, seed text, personas, probes, prompts
