"""Stage 5 (optional), judge: a model scores a rollout against a rubric.

The judge reads the query, the evidence it was written from, the expected facts, and the
run as a transcript (every call, result and answer of every agent), and fills a forced
``submit_judge`` schema: completeness, correctness against the evidence and tool-use
quality, each in [0, 1], and a one-line reason. The score is their mean; the rollout
passes at or above the threshold. A judge call that fails for good (model errors, or an
answer still unusable after repairs) raises ``JudgeFailed``: that rollout gets no judge
verdict rather than a made-up one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from nexforge.architect.ask import AskSettings, StageFailed, StageProblems, StageUsage, ask
from nexforge.core.errors import ModelError, NexForgeError
from nexforge.core.trajectory import Episode, Trajectory
from nexforge.models.base import Model, Sampling
from nexforge.quality.policy import JUDGE
from nexforge.synthesis.records import QueryRecord, RolloutRecord, Verdict

log = logging.getLogger(__name__)

CRITERIA: dict[str, str] = {
    "completeness": "Did the final answer address everything the user asked?",
    "correctness": (
        "Is everything the answer states true according to the evidence and the tool "
        "results (no invented ids, prices or outcomes)?"
    ),
    "tool_use": (
        "Were the right tools called with sensible arguments, without needless, repeated "
        "or harmful calls?"
    ),
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **{
            name: {"type": "number", "minimum": 0, "maximum": 1, "description": question}
            for name, question in CRITERIA.items()
        },
        "reason": {"type": "string", "description": "One line: the main strength or flaw."},
    },
    "required": [*CRITERIA, "reason"],
    "additionalProperties": False,
}
SYSTEM = (
    "You grade transcripts of AI agents that use tools. Score each criterion from 0 (fails "
    "it) to 1 (fully meets it), judging only by what the transcript and evidence show. "
    "Answer by calling submit_judge."
)
RESULT_CHARS = 600
TRANSCRIPT_CHARS = 16_000


class JudgeFailed(NexForgeError):
    """The judge gave no usable answer for a rollout (after its retries)."""


@dataclass(frozen=True)
class JudgeSettings:
    threshold: float = 0.6
    attempts: int = 2
    """Judge calls per rollout before it counts as failed (model errors, bad answers)."""
    retry_backoff_s: float = 0.5
    ask: AskSettings = field(
        default_factory=lambda: AskSettings(sampling=Sampling(temperature=0.0), max_tokens=512)
    )


async def judge_rollout(
    model: Model, rollout: RolloutRecord, query: QueryRecord | None, settings: JudgeSettings
) -> Verdict:
    """The judge's verdict on one rollout; raises ``JudgeFailed``."""
    trajectory = rollout.trajectory
    if trajectory is None:
        raise JudgeFailed("no trajectory to judge")
    prompt = judge_prompt(trajectory, query)
    error = ""
    for attempt in range(settings.attempts):
        if attempt:
            await asyncio.sleep(settings.retry_backoff_s * attempt)
        try:
            scores, reason = await ask(
                model,
                stage=JUDGE,
                system=SYSTEM,
                prompt=prompt,
                schema=SCHEMA,
                normalize=_scores,
                settings=settings.ask,
                usage=StageUsage(),
                description="Submit the scores and a one-line reason.",
            )
        except (ModelError, StageFailed) as exc:
            error = str(exc)
            log.info("judge call %d for %s failed: %s", attempt + 1, rollout.key, exc)
            continue
        score = round(sum(scores.values()) / len(scores), 4)
        passed = score >= settings.threshold
        detail: dict[str, Any] = {
            "scores": scores,
            "model": model.name,
            "threshold": settings.threshold,
        }
        if not passed:
            detail["problems"] = ["score below threshold"]
        return Verdict(
            rollout_key=rollout.key,
            stage=JUDGE,
            passed=passed,
            score=score,
            reason=reason,
            detail=detail,
        )
    raise JudgeFailed(error)


def _scores(answer: dict[str, Any]) -> tuple[dict[str, float], str]:
    problems = [
        f"{name} must be a number in [0, 1]"
        for name in CRITERIA
        if not isinstance(answer.get(name), int | float) or not 0 <= answer[name] <= 1
    ]
    reason = " ".join(str(answer.get("reason", "")).split())
    if not reason:
        problems.append("reason must say in one line why")
    if problems:
        raise StageProblems(problems)
    return {name: float(answer[name]) for name in CRITERIA}, reason


def judge_prompt(trajectory: Trajectory, query: QueryRecord | None) -> str:
    parts = [f"# The user's request\n{query.text if query else trajectory.query}"]
    if query is not None and query.evidence:
        reads = "\n".join(
            f"- {e.tool}({_json(e.arguments)}) -> {_clip(_json(e.result))}" for e in query.evidence
        )
        parts.append(
            f"# Evidence (what the environment held when the request was written)\n{reads}"
        )
    if query is not None and query.expected is not None and query.expected.facts:
        parts.append("# Facts a correct answer states\n" + "\n".join(query.expected.facts))
    transcript = "\n".join(_transcript(trajectory))
    if len(transcript) > TRANSCRIPT_CHARS:
        # The start (the plan) and the end (the outcome) matter most.
        half = TRANSCRIPT_CHARS // 2
        cut = len(transcript) - 2 * half
        transcript = (
            f"{transcript[:half]}\n[... {cut} characters left out ...]\n{transcript[-half:]}"
        )
    parts.append(f"# Transcript\n{transcript}")
    parts.append(
        f"# Final answer (stop reason: {trajectory.stop_reason})\n{trajectory.final_output or ''}"
    )
    criteria = "\n".join(f"- {name}: {question}" for name, question in CRITERIA.items())
    parts.append(f"# Rubric\n{criteria}")
    return "\n\n".join(parts)


def _transcript(trajectory: Trajectory) -> list[str]:
    children = {
        (e.parent_episode_id, e.parent_tool_call_id): e
        for e in trajectory.episodes
        if e.parent_episode_id is not None
    }
    lines: list[str] = []

    def walk(episode: Episode, depth: int) -> None:
        pad = "  " * depth
        who = f"[{episode.agent}]"
        for message in episode.messages:
            if message.role == "user":
                lines.append(f"{pad}{who} got: {_clip(message.content or '')}")
            elif message.role == "assistant":
                if message.content:
                    lines.append(f"{pad}{who} said: {_clip(message.content)}")
                for call in message.tool_calls:
                    arguments = call.invalid_arguments or _json(call.arguments)
                    lines.append(f"{pad}{who} called {call.name}({arguments})")
                    child = children.get((episode.episode_id, call.id))
                    if child is not None:
                        walk(child, depth + 1)
            elif message.role == "tool":
                status = "error" if message.is_error else "result"
                lines.append(
                    f"{pad}{who} {status} of {message.name}: {_clip(message.content or '')}"
                )

    for episode in trajectory.episodes:
        if episode.parent_episode_id is None:
            walk(episode, 0)
    return lines


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= RESULT_CHARS else flat[: RESULT_CHARS - 1] + "…"
