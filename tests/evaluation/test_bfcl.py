"""BFCL through NexForge: bfcl_eval's own data and checker, NexForge's Model on the other side.

A scripted model answering with the gold calls (bfcl_eval's possible answers and
multi-turn ground truth, see ``bfcl_gold``) must score full marks; a wrong argument must
fail the package's checker. The ``slow`` test runs the embedded tiny model on a small slice
and checks only the shape of the score table (its accuracy is what it is).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from bfcl_gold import NO_CALL, GoldAnswers, Turns

from nexforge.core.errors import ModelTimeoutError
from nexforge.core.messages import Message, ToolCall
from nexforge.evaluation.bfcl import load_cases, run_bfcl, run_case, select_categories
from nexforge.evaluation.bfcl_package import BfclCase, BfclPackage, load_bfcl
from nexforge.evaluation.model_spec import model_from_spec
from nexforge.evaluation.results import CaseResult, EvalError
from nexforge.models.base import ModelRequest
from nexforge.testing import ScriptedModel

SLICE = [
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "irrelevance",
    "live_irrelevance",
    "live_relevance",
    "multi_turn_base",
    "multi_turn_miss_func",
    "multi_turn_miss_param",
]


@pytest.fixture(scope="module")
def bfcl(tmp_path_factory: pytest.TempPathFactory) -> BfclPackage:
    return load_bfcl(tmp_path_factory.mktemp("bfcl") / "bfcl_eval")


def cases_by_id(bfcl: BfclPackage, categories: list[str], limit: int) -> dict[str, BfclCase]:
    return {case.id: case for case in load_cases(bfcl, categories, limit)}


def results_in(folder: Path) -> dict[str, CaseResult]:
    lines = (folder / "results.jsonl").read_text().splitlines()
    return {r.case_id: r for r in (CaseResult.model_validate_json(line) for line in lines)}


async def test_gold_calls_score_full_marks_on_a_bfcl_slice(
    bfcl: BfclPackage, tmp_path: Path
) -> None:
    cases = load_cases(bfcl, SLICE, 4)
    model = ScriptedModel(GoldAnswers(bfcl, cases))

    summary = await run_bfcl(model, out_dir=tmp_path, categories=SLICE, limit=4, workers=8)

    scores = summary["categories"]
    assert list(scores) == [*sorted(SLICE), "overall"]
    for name in SLICE:
        assert scores[name] == {"accuracy": 1.0, "correct": 4, "total": 4}, name
    assert scores["overall"]["total"] == 4 * len(SLICE)
    assert summary["skipped"] == {} and summary["errors"] == 0
    assert json.loads((tmp_path / "scores.json").read_text()) == summary
    results = results_in(tmp_path)
    assert all(r.reason == "" and r.error is None for r in results.values())
    # The multi-turn calls ran on the package's backends, and their results came back.
    first = results["multi_turn_base_0"].detail["turns"][0][0]
    assert first == [
        "cd(folder='document')",
        "mkdir(dir_name='temp')",
        "mv(source='final_report.pdf',destination='temp')",
    ]
    answered = [
        m.content or ""
        for r in model.requests
        for m in r.messages
        if m.role == "tool" and m.name == "cd"
    ]
    assert any("current_working_directory" in text for text in answered)


@pytest.mark.parametrize("case_id", ["simple_java_0", "simple_javascript_0"])
async def test_java_and_javascript_cases_are_checked_on_source_text(
    bfcl: BfclPackage, case_id: str
) -> None:
    category = case_id.rsplit("_", 1)[0]
    case = cases_by_id(bfcl, [category], 1)[case_id]
    gold = GoldAnswers(bfcl, [case])
    right = await run_case(ScriptedModel(gold), case, bfcl)
    assert right.correct, right.reason

    def garbled(_case: BfclCase, turns: Turns) -> Turns:
        ((name, arguments),) = turns[0]
        return [[(name, {key: "somethingElse" for key in arguments})]]

    wrong = await run_case(ScriptedModel(GoldAnswers(bfcl, [case], garbled)), case, bfcl)
    assert not wrong.correct and "somethingElse" in wrong.reason


async def test_a_wrong_argument_or_an_unwanted_call_fails_the_checker(
    bfcl: BfclPackage, tmp_path: Path
) -> None:
    categories = ["simple_python", "multi_turn_base", "irrelevance"]

    def spoil(case: BfclCase, turns: Turns) -> Turns:
        if case.id == "simple_python_0":
            ((name, arguments),) = turns[0]
            return [[(name, {**arguments, "base": 11})]]
        if case.id == "multi_turn_base_0":
            return [[("cd", {"folder": "documents"}), *turns[0][1:]], *turns[1:]]
        if case.id == "irrelevance_0":
            return [[(bfcl.tool_specs(case.prompt["function"])[0].name, {})]]
        return turns

    cases = load_cases(bfcl, categories, 2)
    model = ScriptedModel(GoldAnswers(bfcl, cases, spoil))

    summary = await run_bfcl(model, out_dir=tmp_path, categories=categories, limit=2)

    for name in categories:
        assert summary["categories"][name] == {"accuracy": 0.5, "correct": 1, "total": 2}
    results = results_in(tmp_path)
    assert results["simple_python_0"].reason == (
        "value_error:others: Invalid value for parameter 'base': 11. Expected one of [10]."
    )
    assert results["multi_turn_base_0"].reason.startswith("multi_turn:instance_state_mismatch")
    assert results["multi_turn_base_0"].detail["checker"]["details"]["differences"]
    assert results["irrelevance_0"].reason.startswith("irrelevance_error:decoder_success")
    assert {k for k, r in results.items() if r.correct} == {
        "simple_python_1",
        "multi_turn_base_1",
        "irrelevance_1",
    }


async def test_calls_the_official_decoder_cannot_read_fail_ast_cases_only(
    bfcl: BfclPackage,
) -> None:
    cases = cases_by_id(bfcl, ["simple_python", "irrelevance", "live_relevance"], 1)
    broken = ToolCall(id="c1", name="anything", invalid_arguments='{"base": 1')
    model = ScriptedModel(lambda _request: Message.assistant(None, [broken]))

    simple = await run_case(model, cases["simple_python_0"], bfcl)
    irrelevance = await run_case(model, cases["irrelevance_0"], bfcl)
    relevance = await run_case(model, cases["live_relevance_0-0-0"], bfcl)

    assert simple.reason.startswith("ast_decoder:decoder_failed") and not simple.correct
    assert irrelevance.correct  # no decodable call is no call
    assert relevance.reason.startswith("relevance_error:decoder_failed")
    assert simple.detail["calls"] == [{"anything": '{"base": 1'}]
    assert (simple.tool_calls, simple.valid_tool_calls) == (1, 0)


async def test_tools_are_compiled_as_the_official_openai_fc_handler_does(
    bfcl: BfclPackage,
) -> None:
    cases = cases_by_id(bfcl, ["simple_python"], 15)
    (factorial,) = bfcl.tool_specs(cases["simple_python_1"].prompt["function"])
    assert factorial.name == "math_factorial"  # "." is not allowed in OpenAI tool names
    assert factorial.parameters["type"] == "object"  # BFCL writes "dict"
    assert factorial.parameters["properties"]["number"]["type"] == "integer"
    assert factorial.description.endswith("Note that the provided function is in Python 3 syntax.")
    (derivative,) = bfcl.tool_specs(cases["simple_python_14"].prompt["function"])
    x_value = derivative.parameters["properties"]["x_value"]
    assert (x_value["type"], x_value["format"]) == ("number", "float")
    assert x_value["description"].endswith("This is a float type value.")


async def test_held_out_functions_join_the_tools_at_their_turn(bfcl: BfclPackage) -> None:
    case = cases_by_id(bfcl, ["multi_turn_miss_func"], 1)["multi_turn_miss_func_0"]
    model = ScriptedModel(GoldAnswers(bfcl, [case]))

    result = await run_case(model, case, bfcl)

    assert result.correct, result.reason
    offered = [
        ("sort" in {t.name for t in r.tools}, r.messages[-1].content) for r in model.requests
    ]
    added = bfcl.prompts.DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC
    first_with_sort = next(i for i, (has_sort, _) in enumerate(offered) if has_sort)
    assert offered[first_with_sort][1] == added
    assert all(has_sort for has_sort, _ in offered[first_with_sort:])
    assert result.detail["turns"][2] == [NO_CALL]  # sort was asked for before it existed


async def test_a_model_that_never_stops_calling_is_force_terminated(bfcl: BfclPackage) -> None:
    case = cases_by_id(bfcl, ["multi_turn_base"], 1)["multi_turn_base_0"]
    model = ScriptedModel(lambda _r: Message.assistant(None, [ToolCall(id="c", name="pwd")]))

    result = await run_case(model, case, bfcl)

    limit = bfcl.prompts.MAXIMUM_STEP_LIMIT
    assert not result.correct and result.reason.startswith("multi_turn:force_terminated")
    assert result.steps == limit + 1 and len(model.requests) == limit + 1


async def test_names_outside_the_case_s_functions_are_never_executed(
    bfcl: BfclPackage, tmp_path: Path
) -> None:
    case = cases_by_id(bfcl, ["multi_turn_base"], 1)["multi_turn_base_0"]
    target = tmp_path / "written.txt"
    attempt = ToolCall(id="c", name="open", arguments={"file": str(target), "mode": "w"})

    def respond(request: ModelRequest) -> Message:
        if request.messages[-1].role == "tool":
            return Message.assistant("ok")
        return Message.assistant(None, [attempt])

    model = ScriptedModel(respond)
    result = await run_case(model, case, bfcl)

    assert not target.exists()
    feedback = [m.content or "" for r in model.requests for m in r.messages if m.role == "tool"]
    assert "open_is_not_an_available_function' is not defined" in feedback[0]
    assert not result.correct


def test_categories_and_groups_are_bfcl_s_own_names() -> None:
    chosen = select_categories(["multi_turn", "simple_python", "web_search_base"])
    assert chosen.run == [
        "simple_python",
        "multi_turn_base",
        "multi_turn_miss_func",
        "multi_turn_miss_param",
        "multi_turn_long_context",
    ]
    assert list(chosen.skipped) == ["web_search_base"]
    assert "internet" in chosen.skipped["web_search_base"]

    default = select_categories(None)
    assert {"simple_java", "simple_javascript", "live_irrelevance"} <= set(default.run)
    assert {"memory_kv", "memory_rec_sum"} <= set(default.run)
    assert len(default.run) == 19
    assert set(default.skipped) == {"memory_vector", "web_search_base", "web_search_no_snippet"}
    with pytest.raises(EvalError, match=r"unknown BFCL category 'simple'.*simple_python.*groups:"):
        select_categories(["simple"])


class MemoryWriter:
    """Gold answers for the questions; in the prerequisite conversations (requests of no
    case of ``gold``), each user message is stored with the ``store`` tool."""

    def __init__(self, gold: GoldAnswers, store: str) -> None:
        self.gold, self.store, self.stored = gold, store, list[str]()

    def __call__(self, request: ModelRequest) -> Message:
        try:
            return self.gold(request)
        except KeyError:
            pass
        said = (request.messages[-1].content or "")[:80]
        self.stored.append(said)
        arguments: dict[str, str] = {"text": said + "\n"}
        if self.store == "core_memory_add":
            arguments = {"key": f"note_{len(self.stored)}", "value": said}
        return Message.assistant(None, [ToolCall(id="m", name=self.store, arguments=arguments)])


@pytest.mark.parametrize(
    ("category", "store"), [("memory_rec_sum", "memory_append"), ("memory_kv", "core_memory_add")]
)
async def test_memory_questions_are_answered_from_what_the_prerequisites_stored(
    bfcl: BfclPackage, tmp_path: Path, category: str, store: str
) -> None:
    cases = load_cases(bfcl, [category], 3)
    dont_know = "{'answer': 'I do not know', 'context': 'I do not know'}"

    def forgetful(case: BfclCase, turns: Turns) -> Turns:
        return [dont_know] if case is cases[1] else turns

    writer = MemoryWriter(GoldAnswers(bfcl, cases[:2], forgetful), store)
    model = ScriptedModel(writer)
    summary = await run_bfcl(model, out_dir=tmp_path, categories=[category], limit=2)

    assert summary["categories"][category] == {"accuracy": 0.5, "correct": 1, "total": 2}
    results = results_in(tmp_path)
    assert results[cases[1].id].reason.startswith("agentic:answer_not_found")
    scenario = cases[0].prompt["scenario"]
    chain = [e for e in bfcl.prerequisites(category) if e["scenario"] == scenario]
    said_in_chain = [turn[-1]["content"][:80] for e in chain for turn in e["question"]]
    assert writer.stored == said_in_chain  # the chain ran once, in order
    asked = cases[0].prompt["question"][0][-1]["content"]
    (question,) = [r for r in model.requests if r.messages[-1].content == asked]
    assert said_in_chain[0] in (question.messages[0].content or "")  # the memory, in its prompt

    again = ScriptedModel(MemoryWriter(GoldAnswers(bfcl, cases), store))
    await run_bfcl(again, out_dir=tmp_path, categories=[category], limit=3)
    assert len(again.requests) == 1  # only the new question: the chain is not run again
    assert results_in(tmp_path)[cases[2].id].correct


async def test_a_rerun_skips_finished_cases_and_retries_failed_runs(
    bfcl: BfclPackage, tmp_path: Path
) -> None:
    categories = ["simple_python", "multi_turn_base"]
    cases = load_cases(bfcl, categories, 3)
    gold = GoldAnswers(bfcl, cases)
    unlucky = next(c for c in cases if c.id == "multi_turn_base_0").prompt["question"][0][0]
    failing = True

    def flaky(request: ModelRequest) -> Message:
        if failing and request.messages[0].content == unlucky["content"]:
            raise ModelTimeoutError("no answer within 1s")
        return gold(request)

    first = await run_bfcl(ScriptedModel(flaky), out_dir=tmp_path, categories=categories, limit=2)
    assert first["errors"] == 1
    timed_out = results_in(tmp_path)["multi_turn_base_0"]
    assert timed_out.error == "ModelTimeoutError: no answer within 1s" and not timed_out.correct

    failing = False
    seen: list[tuple[str, int, int]] = []
    second = await run_bfcl(
        ScriptedModel(flaky),
        out_dir=tmp_path,
        categories=categories,
        limit=3,
        on_result=lambda r, done, total: seen.append((r.case_id, done, total)),
    )

    assert sorted(case_id for case_id, _, _ in seen) == [
        "multi_turn_base_0",
        "multi_turn_base_2",
        "simple_python_2",
    ]
    assert [(done, total) for _, done, total in seen] == [(4, 6), (5, 6), (6, 6)]
    assert second["resumed"] == 3 and second["errors"] == 0
    assert second["categories"]["overall"] == {"accuracy": 1.0, "correct": 6, "total": 6}


@pytest.mark.slow
async def test_the_embedded_tiny_model_gets_a_score_table(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    model = model_from_spec("local:tiny")
    runs = {("simple_python", "multiple", "irrelevance"): 3, ("multi_turn_base",): 1}
    for categories, limit in runs.items():
        folder = tmp_path / categories[0]
        started = time.perf_counter()
        # A generous timeout: on a busy 2-core machine a short request can wait minutes.
        summary = await run_bfcl(
            model, out_dir=folder, categories=categories, limit=limit, timeout_s=600
        )
        seconds = time.perf_counter() - started

        scores = summary["categories"]
        print(f"\ntiny model, {limit} per category ({seconds:.0f} s):", json.dumps(scores))
        assert list(scores) == [*sorted(categories), "overall"]
        for category in categories:
            assert scores[category]["total"] == limit
            assert 0 <= scores[category]["correct"] <= limit
        assert scores["overall"]["total"] == limit * len(categories)
        results = results_in(folder)
        assert len(results) == limit * len(categories)
        for result in results.values():
            assert result.model == model.name
            assert result.steps >= 1 or result.error, result
            assert result.correct or result.reason, result
