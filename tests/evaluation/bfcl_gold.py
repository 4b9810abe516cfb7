"""A responder that answers BFCL cases with their gold calls, from bfcl_eval's own answers.

AST cases: the first acceptable value of each parameter in ``possible_answer`` (an
optional parameter whose first option is "omit" is left out). Multi-turn cases: each
turn's ground-truth calls (``cd(folder='document')``), positional arguments named from the
backend method's signature, all in one step; once the results are back, a short answer
ends the turn. Relevance cases call the first tool; irrelevance cases answer in text;
memory questions answer with the expected answer (the prerequisite conversations that
fill the memory are left to the test).

A request is matched to its case by the user messages so far and the tools offered, so
the responder is a pure function of the request (concurrent runs stay deterministic).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import itertools
from collections.abc import Callable
from typing import Any

from nexforge.core.messages import Message, ToolCall
from nexforge.evaluation.bfcl_package import BfclCase, BfclPackage
from nexforge.models.base import ModelRequest
from nexforge.testing import MockReply

Call = tuple[str, dict[str, Any]]
Turns = list[list[Call] | str]
"""Per turn, the calls to make, or (memory questions) the final answer to give."""
Tweak = Callable[[BfclCase, Turns], Turns]

NO_CALL = "Done: nothing (more) to call for that."
_OMIT = object()
_ids = itertools.count(1)


def _first_option(options: Any) -> Any:
    if not isinstance(options, list):
        return _resolve(options)
    for option in options:
        if option != "":
            return _resolve(option)
    return _OMIT


def _resolve(value: Any) -> Any:
    if isinstance(value, dict):
        resolved = {key: _first_option(options) for key, options in value.items()}
        return {key: v for key, v in resolved.items() if v is not _OMIT}
    if isinstance(value, list):
        return [_resolve(item) for item in value]
    return value


def _java_text(value: Any) -> Any:
    """Java and JavaScript parameters are sent as source text ("true", "50")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def ast_gold(case: BfclCase) -> list[Call]:
    calls: list[Call] = []
    for answer in case.ground_truth:
        ((name, params),) = answer.items()
        arguments = _resolve(params)
        if "java" in case.category:
            arguments = {key: _java_text(value) for key, value in arguments.items()}
        calls.append((name.replace(".", "_"), arguments))
    return calls


def multi_turn_gold(bfcl: BfclPackage, case: BfclCase) -> Turns:
    modules = bfcl.backends.CLASS_FILE_PATH_MAPPING
    classes = [
        getattr(importlib.import_module(modules[name]), name)
        for name in case.prompt["involved_classes"]
    ]
    turns: Turns = []
    for turn in case.ground_truth:
        calls: list[Call] = []
        for text in turn:
            node = ast.parse(text, mode="eval").body
            assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            name = node.func.id
            method = next(getattr(c, name) for c in classes if hasattr(c, name))
            params = [p for p in inspect.signature(method).parameters if p != "self"]
            arguments = {params[i]: ast.literal_eval(a) for i, a in enumerate(node.args)}
            arguments.update({k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg})
            calls.append((name, arguments))
        turns.append(calls)
    return turns


def gold_turns(bfcl: BfclPackage, case: BfclCase) -> Turns:
    if bfcl.utils.is_memory(case.category):
        return [f"{{'answer': '{case.ground_truth[0]}', 'context': 'from my memory'}}"]
    if bfcl.utils.is_multi_turn(case.category):
        return list(multi_turn_gold(bfcl, case))
    if bfcl.utils.is_relevance_or_irrelevance(case.category):
        if "irrelevance" in case.category:
            return [[]]
        return [[(bfcl.tool_specs(case.prompt["function"])[0].name, {})]]
    return [ast_gold(case)]


def _key(users: list[str], tool_names: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(users), tuple(sorted(tool_names))


class GoldAnswers:
    """``ScriptedModel(GoldAnswers(bfcl, cases))``; ``tweak`` alters a case's gold turns.

    ``reply_over_http`` answers a MockOpenAIServer request the same way.
    """

    def __init__(
        self, bfcl: BfclPackage, cases: list[BfclCase], tweak: Tweak | None = None
    ) -> None:
        self._answers: dict[Any, list[Call] | str] = {}
        for case in cases:
            turns = gold_turns(bfcl, case)
            if tweak is not None:
                turns = tweak(case, turns)
            functions = list(case.prompt["function"])
            held_out = case.prompt.get("missed_function", {})
            users: list[str] = []
            for index, (turn, calls) in enumerate(zip(case.prompt["question"], turns, strict=True)):
                if str(index) in held_out:
                    functions += held_out[str(index)]
                    users.append(bfcl.prompts.DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC)
                else:
                    users += [m["content"] for m in turn if m["role"] == "user"]
                key = _key(users, [t.name for t in bfcl.tool_specs(functions)])
                if self._answers.setdefault(key, calls) != calls:
                    raise AssertionError(f"{case.id}: another case asks the same, differently")

    def calls_for(
        self, users: list[str], tool_names: list[str], last_role: str
    ) -> list[Call] | str:
        """The gold calls (or answer) for this point of a case; none once the results are
        back. A KeyError means the request belongs to no case given."""
        if last_role == "tool":
            return []
        return self._answers[_key(users, tool_names)]

    def __call__(self, request: ModelRequest) -> Message:
        calls = self.calls_for(
            [m.content or "" for m in request.messages if m.role == "user"],
            [t.name for t in request.tools],
            request.messages[-1].role,
        )
        if isinstance(calls, str) or not calls:
            return Message.assistant(calls or NO_CALL)
        return Message.assistant(
            None, [ToolCall(id=f"call_{next(_ids)}", name=n, arguments=a) for n, a in calls]
        )

    def reply_over_http(self, body: dict[str, Any]) -> MockReply:
        messages = body["messages"]
        calls = self.calls_for(
            [m["content"] for m in messages if m["role"] == "user"],
            [t["function"]["name"] for t in body.get("tools", [])],
            messages[-1]["role"],
        )
        if isinstance(calls, str) or not calls:
            return MockReply(content=calls or NO_CALL)
        return MockReply(tool_calls=[{"name": n, "arguments": a} for n, a in calls])
