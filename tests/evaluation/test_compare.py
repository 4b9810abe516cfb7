"""`nexforge eval compare`: two models' evaluations of the shop, side by side."""

from __future__ import annotations

import json
from pathlib import Path

from shop_script import shop_responder
from test_framework_eval import selection_of, shop_queries

from nexforge.core.messages import Message
from nexforge.evaluation.framework import FrameworkEvalOptions, run_framework_eval
from nexforge.models.base import ModelRequest
from nexforge.testing import ScriptedModel, say
from run_cli import nexforge


def gives_up(request: ModelRequest) -> Message:
    return say("I cannot help with that.")


async def evaluated(shop_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    selection = selection_of(shop_dir, await shop_queries(shop_dir, tmp_path))
    folders = (tmp_path / "good", tmp_path / "lazy")
    for folder, script in zip(folders, (shop_responder, gives_up), strict=True):
        await run_framework_eval(
            shop_dir, ScriptedModel(script), selection, folder, FrameworkEvalOptions(trials=2)
        )
    return folders


async def test_two_models_side_by_side_per_category_and_metric(
    shop_dir: Path, tmp_path: Path
) -> None:
    good, lazy = await evaluated(shop_dir, tmp_path)

    result = nexforge("eval", "compare", str(good), str(lazy), "--json")

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data[str(good)]["values"]["easy"] == 1.0 and data[str(lazy)]["values"]["easy"] == 0.0
    assert data[str(good)]["values"]["pass^2"] == 0.5
    assert data[str(lazy)]["values"]["tool-call validity"] is None  # it made no calls
    assert data[str(good)]["cases"]["overall"] == 4
    table = nexforge("eval", "compare", str(good), str(lazy), env={"COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    assert "overall" in table.stdout and "pass^2" in table.stdout and "n/a" in table.stdout


async def test_different_benchmarks_or_a_plain_folder_are_refused(
    shop_dir: Path, tmp_path: Path
) -> None:
    good, _ = await evaluated(shop_dir, tmp_path)
    bfcl = tmp_path / "bfcl"
    bfcl.mkdir()
    (bfcl / "scores.json").write_text(
        json.dumps(
            {
                "benchmark": "bfcl",
                "model": "m",
                "categories": {"overall": {"accuracy": 1.0, "correct": 1, "total": 1}},
            }
        )
    )

    mixed = nexforge("eval", "compare", str(good), str(bfcl))
    plain = nexforge("eval", "compare", str(tmp_path))

    assert mixed.returncode == 2 and "different benchmarks" in mixed.stderr
    assert plain.returncode == 2 and "no scores.json" in plain.stderr
