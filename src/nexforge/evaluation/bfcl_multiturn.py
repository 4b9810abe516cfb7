"""BFCL's stateful multi-turn categories: the official FC inference loop, then its checker.

The loop mirrors bfcl_eval's ``BaseHandler.inference_multi_turn_FC``: the user messages
arrive turn by turn; within a turn the model makes steps of calls, each executed on the
case's backend instances (``involved_classes`` loaded with ``initial_config``) with the
results fed back, until it replies without a call; functions listed in
``missed_function`` join the tools at their turn; more than ``MAXIMUM_STEP_LIMIT`` steps in
a turn ends the case (force-terminated). Scoring mirrors ``_evaluate_single_multi_turn_entry``:
the calls are replayed by the package's ``multi_turn_checker``, which compares backend state
and execution results with the ground truth's after every turn. The memory categories
(``bfcl_memory``) run their conversations through the same ``converse`` loop.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from nexforge.core.messages import Message, ToolCall
from nexforge.evaluation.bfcl_package import BfclCase, BfclPackage
from nexforge.evaluation.bfcl_single import TEXT_KEPT, Tally, Verdict, request, to_message
from nexforge.models.base import Model


async def run_multi_turn(
    model: Model, case: BfclCase, bfcl: BfclPackage, tally: Tally, *, timeout_s: float | None
) -> tuple[Verdict, dict[str, Any]]:
    """Run one multi-turn case and check it: the verdict, and each turn's steps (the calls
    executed, or the text of a reply without calls)."""
    owner = new_owner()
    try:
        turns = await converse(model, bfcl, copy.deepcopy(case.prompt), owner, tally, timeout_s)
        verdict = _check(bfcl, case, turns, owner)
    finally:
        forget_instances(bfcl, owner)
    return verdict, {"turns": clipped(turns)}


def new_owner() -> str:
    """A fresh name for a run's backend instances. The package keeps them in a module-level
    dict keyed by this name and the case id: a fresh name keeps runs of a case apart."""
    return f"nexforge_{uuid.uuid4().hex[:12]}"


def execute(
    bfcl: BfclPackage, entry: dict[str, Any], owner: str, calls: list[str]
) -> tuple[list[str], dict[str, Any]]:
    """Run rendered calls on the entry's backend instances (created on first use):
    their results, and the instances by class name."""
    results, instances = bfcl.multi_turn_utils.execute_multi_turn_func_call(
        calls,
        entry.get("initial_config", {}),
        entry["involved_classes"],
        owner,
        entry["id"],
        long_context="long_context" in entry["id"] or "composite" in entry["id"],
        is_evaL_run=False,
    )
    return results, instances


async def converse(
    model: Model,
    bfcl: BfclPackage,
    entry: dict[str, Any],
    owner: str,
    tally: Tally,
    timeout_s: float | None,
) -> list[list[Any]]:
    """The official FC loop over ``entry``'s turns (``entry`` is modified); per turn, the
    steps: the rendered calls executed, or the full text of a reply without calls."""
    functions: list[dict[str, Any]] = entry["function"]
    held_out: dict[str, list[dict[str, Any]]] = entry.get("missed_function", {})
    callable_names = {f["name"] for f in functions} | {
        f["name"] for docs in held_out.values() for f in docs
    }
    step_limit: int = bfcl.prompts.MAXIMUM_STEP_LIMIT
    messages: list[Message] = []
    turns: list[list[Any]] = []
    tools = bfcl.tool_specs(functions)
    for index, turn in enumerate(entry["question"]):
        if str(index) in held_out:
            functions.extend(held_out[str(index)])
            tools = bfcl.tool_specs(functions)
            turn = [
                {
                    "role": "user",
                    "content": bfcl.prompts.DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC,
                }
            ]
        messages.extend(to_message(m) for m in turn)
        steps: list[Any] = []
        turns.append(steps)
        executed = 0
        while executed <= step_limit:
            response = await model.complete(request(messages, tools, timeout_s))
            tally.add(response, tools)
            reply = response.message
            messages.append(reply)
            calls = execution_calls(bfcl, reply.tool_calls, callable_names)
            steps.append(calls if calls is not None else reply.content or "")
            if not calls:
                # Undecodable calls end the turn unexecuted (as in the official loop); they
                # still get a result so the conversation stays valid for the next turn.
                messages.extend(
                    Message.tool(c.id, c.name, "Error: arguments are not valid JSON", is_error=True)
                    for c in reply.tool_calls
                )
                break
            results, _ = execute(bfcl, entry, owner, calls)
            messages.extend(
                Message.tool(c.id, c.name, str(r))
                for c, r in zip(reply.tool_calls, results, strict=True)
            )
            executed += 1
        if executed > step_limit:
            break  # force-terminated: the turns left are never played
    return turns


def clipped(turns: list[list[Any]]) -> list[list[Any]]:
    """Turns for a result's detail: long texts cut."""
    return [[s if isinstance(s, list) else s[:TEXT_KEPT] for s in steps] for steps in turns]


def execution_calls(
    bfcl: BfclPackage, calls: list[ToolCall], callable_names: set[str]
) -> list[str] | None:
    """The step's calls as the official decoder renders them (``name(arg=repr(value))``),
    or None when there is no call to execute (no calls, or arguments that are not JSON).

    The package ``eval``s these strings; a name that is not one of the case's functions, or
    an argument name that is not an identifier, becomes a call to an undefined name instead
    (the package then answers "not defined", as it would for any unknown function) so that
    no builtin (``open``...) can be reached.
    """
    if not calls or any(c.invalid_arguments is not None for c in calls):
        return None
    rendered: list[str] = []
    for call in calls:
        if call.name in callable_names and all(k.isidentifier() for k in call.arguments):
            rendered.extend(
                bfcl.handler_utils.convert_to_function_call([{call.name: call.arguments}])
            )
        else:
            safe = "".join(ch if ch.isalnum() else "_" for ch in call.name)
            rendered.append(f"{safe}_is_not_an_available_function()")
    return rendered


def _check(bfcl: BfclPackage, case: BfclCase, turns: list[list[Any]], owner: str) -> Verdict:
    ground_truth: list[list[str]] = case.ground_truth
    if len(turns) != len(ground_truth):
        return Verdict(
            False,
            f"multi_turn:force_terminated: the model made more than "
            f"{bfcl.prompts.MAXIMUM_STEP_LIMIT} steps in turn {len(turns) - 1}",
        )
    # Replies without calls are no steps for the checker (decode failures are skipped).
    decoded = [[step for step in turn if isinstance(step, list) and step] for turn in turns]
    return Verdict.checked_by(
        bfcl.multi_turn_checker.multi_turn_checker,
        decoded,
        ground_truth,
        copy.deepcopy(case.checker_prompt),
        case.category,
        owner,
    )


def forget_instances(bfcl: BfclPackage, owner: str) -> None:
    """Drop the backend instances the package kept for this run (model, replay, truth)."""
    namespace = vars(bfcl.multi_turn_utils)
    for name in [n for n in namespace if n.startswith(owner)]:
        del namespace[name]
