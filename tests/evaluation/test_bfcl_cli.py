"""``nexforge eval bfcl`` as a user runs it, against an OpenAI-compatible mock endpoint.

The mock answers with the gold calls over HTTP, so the whole path is real: the OpenAI
provider's wire format for BFCL's tools and calls, the checker, the files, the output.
The command is mounted on a one-command app here (``eval`` mounts it in the product).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from bfcl_gold import GoldAnswers
from typer.testing import CliRunner, Result

from nexforge.cli.eval_bfcl_cmd import bfcl
from nexforge.evaluation.bfcl import load_cases
from nexforge.evaluation.bfcl_package import load_bfcl
from nexforge.testing import MockOpenAIServer

CATEGORIES = "simple_python,irrelevance,multi_turn_base,web_search_base"

app = typer.Typer()
app.command()(bfcl)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockOpenAIServer]:
    package = load_bfcl(tmp_path_factory.mktemp("bfcl") / "bfcl_eval")
    gold = GoldAnswers(package, load_cases(package, CATEGORIES.split(",")[:3], 2))
    with MockOpenAIServer(responder=gold.reply_over_http, model="mock-model") as running:
        yield running


def invoke(server: MockOpenAIServer, *args: str) -> Result:
    env = {"NEXFORGE_BASE_URL": server.url, "NEXFORGE_MODEL": "mock-model"}
    return CliRunner().invoke(app, list(args), env=env)


def test_json_prints_the_scores_only_and_a_rerun_resumes(
    server: MockOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ("--model", "openai:mock-model", "--categories", CATEGORIES, "--limit", "2")

    first = invoke(server, *args, "--json")
    requests_made = len(server.requests)
    again = invoke(server, *args)

    assert first.exit_code == 0, first.output
    scores = json.loads(first.stdout)
    assert scores == {
        "irrelevance": {"accuracy": 1.0, "correct": 2, "total": 2},
        "multi_turn_base": {"accuracy": 1.0, "correct": 2, "total": 2},
        "simple_python": {"accuracy": 1.0, "correct": 2, "total": 2},
        "overall": {"accuracy": 1.0, "correct": 6, "total": 6},
    }
    assert "skipped web_search_base: needs the internet" in first.stderr
    folder = tmp_path / "out" / "eval" / "bfcl" / "openai-mock-model"
    saved = json.loads((folder / "scores.json").read_text())
    assert saved["categories"] == scores and saved["model"] == "mock-model"
    assert len((folder / "results.jsonl").read_text().splitlines()) == 6

    assert again.exit_code == 0, again.output
    assert len(server.requests) == requests_made  # every case was already done
    assert "multi_turn_base" in again.stdout and "100.0%" in again.stdout
    assert "6 from an earlier run" in again.stderr


def test_the_official_tool_format_reaches_the_endpoint(
    server: MockOpenAIServer, tmp_path: Path
) -> None:
    result = invoke(
        server, "--model", "openai:mock-model", "--categories", "simple_python",
        "--limit", "2", "--out", str(tmp_path), "--quiet",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    bodies = [
        b
        for b in server.requests
        if b["messages"][0]["content"].startswith("Calculate the factorial")
    ]
    (factorial,) = bodies[0]["tools"]
    assert factorial["function"]["name"] == "math_factorial"
    assert factorial["function"]["parameters"]["type"] == "object"
    assert bodies[0]["temperature"] == 0 and bodies[0]["messages"][0]["role"] == "user"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--categories", "simple"), "unknown BFCL category 'simple'; categories: simple_python"),
        (("--categories", " , "), "--categories: name at least one category"),
        (("--model", "nonsense:x"), "--model:"),
        (("--limit", "0"), "--limit"),
    ],
)
def test_bad_flags_are_one_line_errors(
    server: MockOpenAIServer, tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    result = invoke(server, "--out", str(tmp_path / "out"), *extra)

    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
