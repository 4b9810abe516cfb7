"""Stage ``answer``: does the final answer rest on what the run did?

A grounded environment answers from its records, so an answer must:
- say something the query did not (an answer that only restates the request teaches the
  model to echo; one new word is enough when a tool returned it), and, when the run only read, something the tools returned (a change's
  confirmation is checked by the end state instead);
- state no number that no tool returned and the person did not say (a price, an id or a
  date from the model's memory is a hallucination in a grounded run). Small counts (up to
  ``SMALL_COUNT``) and cents/units conversions of an observed amount are allowed: they are
  computed, not invented;
- claim no change that no successful state-changing call made ("I have cancelled your
  order" after a run that only read it), and make none when the request only asks (an
  update that rewrites a record with its own values leaves the end state alone, and is
  still not what a question calls for);
- come from a run that used the tools its problem type is solved with, when they are known
  (a stock question answered after listing orders is off-topic, whatever the answer says).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from nexforge.quality.findings import Findings
from nexforge.quality.observations import Observations
from nexforge.quality.policy import ANSWER
from nexforge.synthesis.facts import tokens
from nexforge.synthesis.query_quality import lexicon
from nexforge.synthesis.records import QueryRecord, RolloutRecord, Verdict

SMALL_COUNT = 20
MIN_NEW_WORDS = 2
STOPWORDS = lexicon(
    """a an the and or but if then so to of in on at for from by with about as is are was
    were be been being it its this that these those there here i you your yours we our us
    me my he she they them their his her do does did have has had not no yes can could
    would will shall should may might must please thank thanks hi hello dear just also
    any some all what which who whom when where why how"""
)
_CHANGE_STEMS = (
    r"cancel|updat|chang|creat|plac|add|book|reserv|refund|mark|set|record|reschedul|assign|"
    r"remov|delet|register|enrol|approv|reject|renew|clos|open|return|issu|process|submit|"
    r"schedul|switch|upgrad|downgrad|replac|swap|transfer|extend|confirm|log|not|modif|edit|"
    r"complet|restock|rais|releas|accept|declin"
)
_FIRST_PERSON_CLAIM = re.compile(
    rf"\b(?:i|we)(?:'ve|'ll| have| just| now| already| successfully)*\s+(?:gone ahead and\s+)?"
    rf"(?:{_CHANGE_STEMS})\w*(?:ed|t)\b",
    re.IGNORECASE,
)
_PASSIVE_CLAIM = re.compile(
    rf"\b(?:has|have|had)\s+(?:now\s+|just\s+|successfully\s+)*been\s+"
    rf"(?:successfully\s+)?((?:{_CHANGE_STEMS})\w*)\b|\bsuccessfully\s+((?:{_CHANGE_STEMS})\w*)",
    re.IGNORECASE,
)


def check_answer(
    rollout: RolloutRecord,
    query: QueryRecord | None,
    type_tools: Sequence[str] | None = None,
) -> list[Verdict]:
    """The stage's one verdict on ``rollout``."""
    trajectory = rollout.trajectory
    found = Findings()
    if trajectory is None:
        found.add("no trajectory", "no answer: the rollout has no trajectory")
        return [found.verdict(rollout.key, ANSWER)]
    answer = trajectory.final_output or ""
    seen = Observations.of(trajectory)
    query_text = query.text if query is not None else trajectory.query
    said = seen.said_tokens() | set(tokens(query_text))
    observed = seen.observed_tokens()
    detail: dict[str, object] = {"tools_called": seen.tools_called}
    if not answer.strip():
        found.add("no answer", "the run ended without a final answer")
        return [found.verdict(rollout.key, ANSWER, **detail)]
    content = [t for t in tokens(answer) if t not in STOPWORDS]
    new = [t for t in content if t not in said]
    # One new word is an answer when a tool returned it ("The status of order 6 is pending").
    if not new or (len(set(new)) < MIN_NEW_WORDS and not any(t in observed for t in new)):
        found.add("restates the query", "the answer only restates the request")
    elif seen.tool_texts and not seen.writes_made and not any(t in observed for t in new):
        found.add("ignores the tools", "the answer states nothing the tools returned")
    if not seen.calls and query is not None and query.expected is not None:
        found.add("no tools used", "answered from memory: the run consulted no tool")
    invented = _unobserved_numbers(content, observed | said)
    if invented:
        found.add(
            "unobserved values",
            f"states {', '.join(invented[:3])}, which no tool returned and the user did not say",
        )
    read_only = {t.name: t.read_only for e in trajectory.episodes for t in e.tools}
    asked_only = bool(type_tools) and all(read_only.get(t, False) for t in type_tools or ())
    if asked_only and seen.writes_made:
        found.add(
            "writes for a question",
            "the request asks for information, and the run changed records "
            f"({', '.join(dict.fromkeys(seen.writes_made))})",
        )
    claim = _claimed_change(answer, seen)
    if claim is not None and not seen.writes_made:
        found.add(
            "claims an unmade change",
            f"the answer claims a change ({claim!r}) that no successful write call made",
        )
    if type_tools:
        used = [t for t in seen.tools_called if t in type_tools]
        detail["type_tools_used"] = used
        if not used:
            called = ", ".join(seen.tools_called) or "none"
            found.add(
                "off-topic tools",
                f"used none of its problem type's tools ({', '.join(type_tools)}); "
                f"called: {called}",
            )
    return [found.verdict(rollout.key, ANSWER, **detail)]


def _unobserved_numbers(content: Sequence[str], known: set[str]) -> list[str]:
    invented: list[str] = []
    for token in content:
        if not token[0].isdigit() or token in known or token in invented:
            continue
        value = float(token)
        if value.is_integer() and value <= SMALL_COUNT:
            continue
        if any(_number(value * k) in known for k in (100, 0.01, 1000, 0.001)):
            continue
        invented.append(token)
    return invented


def _number(value: float) -> str:
    """The canonical token of a number (as ``synthesis.facts.tokens`` writes it)."""
    text = f"{round(value, 6):f}".rstrip("0").rstrip(".")
    return text or "0"


def _claimed_change(answer: str, seen: Observations) -> str | None:
    """The first phrase claiming a change; a passive one ("has been cancelled") only when
    no tool returned that word (then it reports a status the run read)."""
    first = _FIRST_PERSON_CLAIM.search(answer)
    if first is not None:
        return first.group(0)
    observed = seen.observed_tokens()
    for match in _PASSIVE_CLAIM.finditer(answer):
        verb = (match.group(1) or match.group(2) or "").casefold()
        if verb and verb not in observed:
            return match.group(0)
    return None
