"""One BFCL exchange: the request the official FC handlers make, and single-turn scoring.

Single-turn categories send the entry's first turn with its functions as tools and score
the one reply as bfcl_eval's ``eval_runner`` does: AST categories decode the calls into
``[{name: arguments}]`` and run the package's ``ast_checker``; relevance and irrelevance
categories only ask whether the reply holds a call. A reply without calls, or with
arguments that are not JSON, is a decoding failure, as for the official decoder.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nexforge.core.messages import Message, ToolCall
from nexforge.core.tools import ToolSpec
from nexforge.evaluation.bfcl_package import CHECKER_MODEL, BfclCase, BfclPackage
from nexforge.models.base import Model, ModelRequest, ModelResponse, Sampling

TEXT_KEPT = 300
"""Characters of a reply without calls kept in a result's detail."""


@dataclass
class Tally:
    """What a case cost and how well-formed the model's calls were."""

    steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: int = 0
    valid_tool_calls: int = 0

    def add(self, response: ModelResponse, tools: list[ToolSpec]) -> None:
        offered = {tool.name for tool in tools}
        calls = response.message.tool_calls
        self.steps += 1
        self.prompt_tokens += response.usage.prompt_tokens
        self.completion_tokens += response.usage.completion_tokens
        self.tool_calls += len(calls)
        self.valid_tool_calls += sum(
            1 for c in calls if c.name in offered and c.invalid_arguments is None
        )


@dataclass
class Verdict:
    """The checker's answer, flattened: ``reason`` is its error type and message."""

    correct: bool
    reason: str = ""
    report: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, checked: dict[str, Any]) -> Verdict:
        if checked.get("valid"):
            return cls(True)
        message = checked.get("error_message", checked.get("error", ""))
        if isinstance(message, list):
            message = "; ".join(str(m) for m in message)
        error_type = checked.get("error_type", "")
        reason = f"{error_type}: {message}" if error_type else str(message)
        return cls(False, reason, _compact(checked))

    @classmethod
    def checked_by(cls, checker: Callable[..., dict[str, Any]], *args: Any) -> Verdict:
        """Run a package checker; one that raises on what the model sent fails the case."""
        try:
            return cls.of(checker(*args))
        except Exception as exc:
            return cls(False, f"checker_error: {type(exc).__name__}: {exc}")


def request(
    messages: list[Message], tools: list[ToolSpec], timeout_s: float | None
) -> ModelRequest:
    """A BFCL step: the official FC handlers add no system prompt of their own, leave the
    choice to the model ("auto": irrelevance cases must be answerable without a call) and
    sample greedily."""
    return ModelRequest(
        messages=list(messages),
        tools=tools,
        tool_choice="auto",
        sampling=Sampling(temperature=0),
        timeout_s=timeout_s,
    )


def to_message(raw: dict[str, Any]) -> Message:
    return Message(role=raw["role"], content=raw.get("content") or "")


def decode_calls(calls: list[ToolCall]) -> list[dict[str, Any]] | None:
    """``[{name: arguments}]``, or None when the official FC decoder would fail: no calls
    (it then gets the text) or arguments that are not JSON."""
    if not calls or any(c.invalid_arguments is not None for c in calls):
        return None
    return [{c.name: c.arguments} for c in calls]


async def run_single_turn(
    model: Model, case: BfclCase, bfcl: BfclPackage, tally: Tally, *, timeout_s: float | None
) -> tuple[Verdict, dict[str, Any]]:
    tools = bfcl.tool_specs(case.prompt["function"])
    messages = [to_message(m) for m in case.prompt["question"][0]]
    response = await model.complete(request(messages, tools, timeout_s))
    tally.add(response, tools)
    reply = response.message
    detail: dict[str, Any] = {
        "calls": [
            {c.name: c.invalid_arguments if c.invalid_arguments is not None else c.arguments}
            for c in reply.tool_calls
        ]
    }
    if reply.content:
        detail["text"] = reply.content[:TEXT_KEPT]
    return check_single_turn(bfcl, case, decode_calls(reply.tool_calls)), detail


def check_single_turn(
    bfcl: BfclPackage, case: BfclCase, decoded: list[dict[str, Any]] | None
) -> Verdict:
    """Score decoded calls as ``eval_runner`` does for the case's category."""
    utils = bfcl.utils
    category = case.category
    if utils.is_relevance_or_irrelevance(category):
        called = decoded is not None and not utils.is_empty_output(decoded)
        if "irrelevance" in category:
            if not called:
                return Verdict(True)
            return Verdict(
                False,
                "irrelevance_error:decoder_success: "
                "Valid syntax. Successfully decode AST when it should not.",
            )
        if called:
            return Verdict(True)
        return Verdict(
            False,
            "relevance_error:decoder_failed: "
            "Invalid syntax. Failed to decode AST when it should have.",
        )
    if decoded is None:
        return Verdict(
            False,
            "ast_decoder:decoder_failed: Invalid syntax. Failed to decode AST "
            "(no function call, or arguments that are not JSON).",
        )
    if not utils.is_function_calling_format_output(decoded):
        return Verdict(
            False,
            "ast_decoder:decoder_wrong_output_format: Did not output in the specified format.",
        )
    language = bfcl.enums.Language
    if utils.is_java(category):
        lang = language.JAVA
    elif utils.is_js(category):
        lang = language.JAVASCRIPT
    else:
        lang = language.PYTHON
    return Verdict.checked_by(
        bfcl.ast_checker.ast_checker,
        copy.deepcopy(case.checker_prompt["function"]),
        decoded,
        copy.deepcopy(case.ground_truth),
        lang,
        category,
        CHECKER_MODEL,
    )


def _compact(checked: dict[str, Any]) -> dict[str, Any]:
    """The checker's report without the bulky parts (whole backend states, every execution
    result): what differs and what is missing are kept."""
    report = {k: v for k, v in checked.items() if k not in ("valid", "execution_result")}
    details = report.get("details")
    if isinstance(details, dict):
        report["details"] = {
            k: v for k, v in details.items() if k in ("differences", "missing_items")
        }
        if not report["details"]:
            del report["details"]
    return report
