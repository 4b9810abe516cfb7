"""A scripted query model: answers each query-generation stage like a model would.

The answers are functions of the request (its forced ``submit_<stage>`` tool and its
prompt), so concurrent slots get deterministic answers whatever the order. The writer
words the blueprint it is given (what the person wants and knows) and gives each free
text detail asked for. ``overrides`` replaces a stage's answer by a function of the request.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nexforge.core.messages import Message
from nexforge.models.base import ModelRequest
from nexforge.synthesis.queries import QueriesSummary, QueryOptions, generate_queries
from nexforge.synthesis.store import SynthesisStore
from nexforge.testing import ScriptedModel, call

Answer = Callable[[ModelRequest], dict[str, Any]]
_PERSONA = re.compile(r"^Person: (.+?) \(", re.MULTILINE)


def prompt_of(request: ModelRequest) -> str:
    return request.messages[1].content or ""


WANTS = re.compile(r"^Wants: (.+)\.$", re.MULTILINE)
KNOWS = re.compile(r"^Knows: (.+)\.$", re.MULTILINE)
_GIVE = re.compile(r"^Also give (\w+):", re.MULTILINE)
DETAIL = "changed my mind about it"


ASIDES = (
    "I have been waiting all week.",
    "My neighbour recommended your shop.",
    "This is for a birthday present.",
    "I am writing from the train.",
    "Sorry for the short notice.",
    "We ride every weekend in the hills.",
    "The weather has been awful lately.",
    "My daughter starts school on Monday.",
    "I only have my phone with me.",
    "It is my first time asking you.",
    "Our club meets on Thursdays.",
    "I moved house last month.",
)


def _aside(prompt: str) -> str:
    """A few words of the person's own, different per prompt (so texts are not near twins)."""
    digest = zlib.crc32(prompt.encode())
    first = digest % len(ASIDES)
    second = (first + 1 + (digest >> 8) % (len(ASIDES) - 1)) % len(ASIDES)  # never the same
    return f"{ASIDES[first]} {ASIDES[second]}"


def write_request(request: ModelRequest) -> dict[str, Any]:
    """A request that says what the blueprint wants, names what the person knows and
    states each free-text detail word for word."""
    prompt = prompt_of(request)
    persona = _PERSONA.findall(prompt)
    wants = WANTS.findall(prompt)[-1]  # the last: the prompt opens with a worked example
    knows = KNOWS.findall(prompt)[-1]
    text = (
        f"Hello, this is {persona[-1] if persona else 'a customer'}. {_aside(prompt)} I would "
        f"like {wants}, please; I can tell you {knows}."
    )
    answer: dict[str, Any] = {}
    for name in _GIVE.findall(prompt):
        answer[name] = DETAIL
        text += f" The {name.replace('_', ' ')}: {DETAIL}."
    return {"request": text, **answer}


def fits(request: ModelRequest) -> dict[str, Any]:
    return {"fits": True, "reason": "sounds like them", "rewritten": ""}


def fuzzy(request: ModelRequest) -> dict[str, Any]:
    precise = prompt_of(request).split("Precise request: ", 1)[1]
    return {"query": f"hey, quick one, no rush... {precise.lower()} thanks!!"}


def grown_type(request: ModelRequest) -> dict[str, Any]:
    prompt = prompt_of(request)
    under = re.search(r"^Under: (.+)$", prompt, re.MULTILINE)
    siblings = prompt.split("Already there:", 1)[1].split("Tools:", 1)[0].count("\n- ")
    label = under[1].split(" > ")[-1] if under else "things"
    return {
        "label": f"Warranty claim {siblings} about {label}",
        "description": "A part broke.",
        "tools": ["get_order"],
    }


STAGES: dict[str, Answer] = {
    "submit_request": write_request,
    "submit_fit_check": fits,
    "submit_fuzzy_query": fuzzy,
    "submit_problem_type": grown_type,
}


def query_model(
    overrides: dict[str, Answer] | None = None, *, name: str = "scripted-queries"
) -> ScriptedModel:
    answers = {**STAGES, **(overrides or {})}

    def respond(request: ModelRequest) -> Message:
        tool = request.tools[0].name
        if tool not in answers:
            raise AssertionError(f"unexpected stage {tool}")
        return call(tool, **answers[tool](request))

    return ScriptedModel(respond, name=name)


async def generate(
    shop_dir: Path,
    store: SynthesisStore,
    *,
    n: int,
    seed: int = 0,
    model: ScriptedModel | None = None,
    **options: Any,
) -> QueriesSummary:
    return await generate_queries(
        shop_dir,
        n=n,
        store=store,
        seed=seed,
        model=model or query_model(),
        options=QueryOptions(**options),
    )


def write_kit(shop_dir: Path, leaves: dict[str, list[str]]) -> None:
    """Replace the kit's problem types by root -> one category -> these leaves (id: tools)."""
    children = [{"id": i, "label": f"Leaf {i}", "tools": tools} for i, tools in leaves.items()]
    tree = {
        "id": "root",
        "label": "Shop",
        "children": [{"id": "cat", "label": "All", "children": children}],
    }
    (shop_dir / "kit" / "problem_types.json").write_text(json.dumps(tree), encoding="utf-8")
