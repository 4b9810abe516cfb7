"""The architect on the real embedded model (slow): a framework that loads and runs."""

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


async def test_tiny_model_builds_a_framework_passing_the_first_four_rungs(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    model = LocalModel.shared(tiny_model_path)
    options = BuildOptions(
        description="A support desk for a bike shop: orders, returns and repairs",
        out=tmp_path / "fw",
        seed=7,
        probe=False,
        ask=AskSettings(sampling=Sampling(temperature=0.0)),
    )
    [result] = await build(options, model)

    rungs = {r.name: r for r in result.check.rungs}
    for name in ("schema", "load", "tool_tests", "smoke"):
        assert rungs[name].passed, f"{name}: {rungs[name].reason}"
    framework = load_framework(result.path)
    assert framework.environment is not None and framework.environment.tools
    report = json.loads((result.path / "report.json").read_text())
    structure = report["structure"]
    assert structure["agents"] >= 1 and structure["tools"] >= 5
    assert structure["personas"] >= 4 and structure["problem_types"]["depth"] >= 3
    assert (
        report["model_calls"] >= 7
    )  # domain, seeds, personas, problems, probes, hierarchy, prompts
