"""What `nexforge show` and `nexforge status` print, rendered to a recording console."""

from __future__ import annotations

import io
import re
from typing import Any

from rich.console import Console

from nexforge.cli.show_render import PREVIEW_CHARS, PREVIEW_LINES, render_rollout, render_status
from nexforge.core.messages import Message, ToolCall
from nexforge.core.trajectory import Episode, Provenance, Trajectory, Usage
from nexforge.runtime import Agent
from nexforge.synthesis.records import (
    Evidence,
    ExpectedOutcome,
    QueryRecord,
    RolloutProvenance,
    RolloutRecord,
    UserSide,
    Verdict,
    judged,
    rollout_key,
)
from nexforge.synthesis.store import SynthesisStore
from nexforge.testing import ScriptedModel, call, say
from nexforge.tools import tool_from_function

RED, DIM = "31", "2"


def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


def console(**options: Any) -> Console:
    return Console(record=True, file=io.StringIO(), **{"width": 120, **options})


def show(
    record: RolloutRecord,
    query: QueryRecord | None = None,
    verdicts: list[Verdict] | None = None,
    *,
    full: bool = False,
    styles: bool = False,
) -> str:
    out = console()
    render_rollout(out, record, query, verdicts or [], full=full)
    return out.export_text(styles=styles)


def line_with(text: str, needle: str) -> tuple[int, str]:
    """The one line of ``text`` holding ``needle``, and its index."""
    found = [(i, line) for i, line in enumerate(text.splitlines()) if needle in line]
    assert len(found) == 1, f"{needle!r} on {len(found)} lines:\n{text}"
    return found[0]


def depth(line: str) -> int:
    """How deep in the tree a line sits (each level is four guide columns)."""
    return (len(line) - len(line.lstrip(" │├└─"))) // 4


def style_codes(styled: str, needle: str) -> set[str]:
    """The ANSI style codes of the styled segment that holds ``needle``."""
    for codes, segment in re.findall(r"\x1b\[([\d;]+)m([^\x1b]*)", styled):
        if needle in segment:
            return set(codes.split(";"))
    raise AssertionError(f"{needle!r} not in a styled segment")


def fields(text: str) -> dict[str, str]:
    """The ``name  value`` rows of the header and query panels."""
    rows = [line.strip("│ ").split("  ", 1) for line in text.splitlines()]
    return {row[0]: row[1].strip() for row in rows if len(row) == 2}


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("│┃").split("│" if "│" in line else "┃")]


def episode(agent: str, *messages: Message) -> Episode:
    return Episode(
        episode_id="root",
        agent=agent,
        model="scripted",
        tool_call_format="native",
        system_prompt=f"You are {agent}.",
        messages=[Message.system(f"You are {agent}."), *messages],
    )


def child(agent: str, call: str | None, *messages: Message) -> Episode:
    """A sub-agent's episode under the root one, started by the root's call ``call``."""
    ids = {"episode_id": f"ep-{call or agent}", "parent_episode_id": "root"}
    return episode(agent, *messages).model_copy(update={**ids, "parent_tool_call_id": call})


def trajectory(*episodes: Episode) -> Trajectory:
    return Trajectory(
        run_id="run-7f3a",
        framework="shop",
        query="Where is order 42?",
        started_at=1_700_000_000.0,
        stop_reason="completed",
        provenance=Provenance(model="scripted"),
        episodes=list(episodes),
    )


ROLLOUT: dict[str, Any] = {
    "key": "r0ll0utkey000000000000aa",
    "query_key": "qu3rykey0000000000000000",
    "sample": 2,
    "status": "done",
    "attempts": 3,
    "started_at": 1_700_000_000.0,
    "seconds": 12.34,
    "provenance": RolloutProvenance(
        framework_hash="fh-9c1d",
        model="scripted",
        package_version="0.4.0",
        seed=11,
        sampling={"temperature": 0.7},
    ),
}


def rollout(traj: Trajectory | None, **overrides: Any) -> RolloutRecord:
    return RolloutRecord.model_validate({**ROLLOUT, "trajectory": traj, **overrides})


def failed(error: str) -> RolloutRecord:
    return rollout(None, status="failed", error=error)


def lookup(
    content: str, *, is_error: bool = False, asked: ToolCall | None = None, **overrides: Any
) -> RolloutRecord:
    """A rollout whose lead called ``lookup`` once and got ``content`` back."""
    asked = asked or ToolCall(id="c1", name="lookup", arguments={"id": 42})
    lead = episode(
        "lead",
        Message.user("Where is order 42?"),
        Message.assistant(tool_calls=[asked]),
        Message.tool("c1", "lookup", content, is_error=is_error),
        Message.assistant("It shipped."),
    )
    return rollout(trajectory(lead), **overrides)


def test_each_sub_agent_episode_is_nested_under_the_call_that_started_it() -> None:
    ask_a = ToolCall(id="call-a", name="researcher", arguments={"task": "order A"})
    ask_b = ToolCall(id="call-b", name="researcher", arguments={"task": "order B"})
    lead = episode(
        "lead",
        Message.user("Compare two orders"),
        Message.assistant("Asking both researchers.", [ask_a, ask_b]),
        Message.tool("call-a", "researcher", "A shipped"),
        Message.tool("call-b", "researcher", "B is late"),
        Message.assistant("A shipped; B is late."),
    )
    # Stored in the opposite order of the calls: nesting follows the call id, not the order.
    children = [
        child("researcher", f"call-{x}", Message.user(f"order {x.upper()}"), Message.assistant(a))
        for x, a in (("b", "B is late"), ("a", "A shipped"))
    ]
    # An episode whose call is unknown is still shown, under its parent episode.
    stray = child("helper", None, Message.user("stray task"))
    text = show(rollout(trajectory(lead, *children, stray)))

    lines = text.splitlines()
    for task, answer in (("order A", "A shipped"), ("order B", "B is late")):
        call_at, call_line = line_with(text, f'{{"task": "{task}"}}')
        child_head, child_user = lines[call_at + 1], lines[call_at + 3]
        assert "▶ researcher" in child_head and depth(child_head) == depth(call_line) + 1
        assert child_user.endswith(f"user  {task}") and depth(child_user) == depth(call_line) + 2
        child_answer = lines[call_at + 4]
        assert child_answer.endswith(f"  {answer}") and depth(child_answer) == depth(call_line) + 2
    lead_depth = depth(line_with(text, "▶ lead")[1])
    # Results come back in message order, at the lead's level.
    assert depth(line_with(text, "← researcher  A shipped")[1]) == lead_depth + 1
    assert depth(line_with(text, "assistant  A shipped; B is late.")[1]) == lead_depth + 1
    assert depth(line_with(text, "▶ helper")[1]) == lead_depth + 1


async def test_a_real_three_level_run_renders_as_nested_episodes(store: SynthesisStore) -> None:
    counter = Agent(name="counter", description="Counts.", tools=[tool_from_function(word_count)])
    analyst = Agent(name="analyst", description="Analyses text.", sub_agents=[counter])
    model = ScriptedModel(
        {
            "lead": [call("analyst", task="analyse 'a b c'"), say("It has 3 words.")],
            "analyst": [call("counter", task="count 'a b c'"), say("3 words")],
            "counter": [call("word_count", text="a b c"), say("3")],
        }
    )
    lead = Agent(name="lead", system_prompt="You lead.", sub_agents=[analyst], model=model)
    with model:
        result = await lead.arun("How many words in 'a b c'?")
    record = rollout(result.trajectory, usage=result.usage)
    store.put_rollout(record)
    verdict = Verdict(rollout_key=record.key, stage="format", passed=True)
    store.put_verdicts(judged([verdict], record.content_hash()))

    run_id = result.trajectory.run_id
    stored = store.rollout(run_id[:8])
    assert stored is not None
    text = show(stored, store.query(stored.query_key), store.verdicts(stored.key))
    assert (fields(text)["run id"], fields(text)["calls"]) == (run_id, "6 model, 3 tool")
    levels = []
    for agent, task in (("analyst", "analyse 'a b c'"), ("counter", "count 'a b c'")):
        at, call_line = line_with(text, f"→ {agent}")
        assert task in call_line
        child = text.splitlines()[at + 1]
        assert f"▶ {agent}" in child and depth(child) == depth(call_line) + 1
        levels.append(depth(child))
    assert levels[1] > levels[0]
    _, tool_call = line_with(text, '→ word_count  {"text": "a b c"}')
    _, tool_result = line_with(text, "← word_count  3")
    assert depth(tool_call) == depth(tool_result) + 1 == levels[1] + 2
    assert cells(line_with(text, "format")[1]) == ["format", "✓ passed", "", "-"]
    assert "query qu3rykey0000000000000000 is not in the store" in text


def test_a_tool_error_is_shown_in_red() -> None:
    failing = lookup("no order with id 42", is_error=True)
    _, line = line_with(show(failing), "no order with id 42")
    assert line.endswith("← lookup error  no order with id 42")
    assert RED in style_codes(show(failing, styles=True), "no order with id 42")
    ok = show(lookup("shipped"), styles=True)
    assert "error" not in ok
    assert RED not in style_codes(ok, "shipped")


def test_a_call_with_undecodable_arguments_shows_the_raw_text_in_red() -> None:
    bad = ToolCall(id="c1", name="lookup", invalid_arguments='{"id": 42')
    record = lookup("arguments are not valid JSON", is_error=True, asked=bad)
    _, line = line_with(show(record), "→ lookup")
    assert line.endswith('→ lookup  invalid arguments: {"id": 42')
    assert RED in style_codes(show(record, styles=True), '{"id": 42')


def test_markup_in_content_is_printed_literally() -> None:
    asked = ToolCall(id="c1", name="lookup", arguments={"q": "[link=x]arg[/link]"})
    lead = episode(
        "lead",
        Message.user("[bold]user[/bold] :smile:"),
        Message.assistant("[red]answer[/red]", [asked], reasoning="[i]think[/i]"),
        Message.tool("c1", "lookup", "[/] result [blink]"),
    )
    query = QueryRecord(text="[bold]query[/bold]", framework="[green]fw")
    verdict = Verdict(rollout_key="k", stage="judge", passed=False, reason="[yellow]vague[/]")
    text = show(rollout(trajectory(lead), error="[red]boom[/red]"), query, [verdict])
    literals = ["[bold]user[/bold] :smile:", "[red]answer[/red]", '{"q": "[link=x]arg[/link]"}']
    literals += ["[i]think[/i]", "[/] result [blink]", "[bold]query[/bold]", "[yellow]vague[/]"]
    for literal in [*literals, "[red]boom[/red]"]:
        assert literal in text, literal


def test_long_texts_are_cut_unless_full() -> None:
    record = lookup("\n".join(f"row {i}" for i in range(1, 31)))
    short = show(record)
    assert f"row {PREVIEW_LINES}" in short
    assert f"row {PREVIEW_LINES + 1}" not in short and "row 30" not in short
    assert f"… {30 - PREVIEW_LINES} more lines" in short
    whole = show(record, full=True)
    assert all(f"row {i}" in whole for i in range(1, 31))
    assert "more lines" not in whole

    one_huge_line = lookup("Z" * 5000)
    short = show(one_huge_line)
    assert f"… {5000 - PREVIEW_CHARS} more characters" in short
    assert short.count("Z") == PREVIEW_CHARS
    assert show(one_huge_line, full=True).count("Z") == 5000


def test_long_lines_wrap_even_on_a_console_that_soft_wraps() -> None:
    render_rollout(out := console(width=60, soft_wrap=True), lookup("word " * 30 + "END"), None, [])
    assert "END" in out.export_text()


def test_reasoning_is_shown_dimmed_before_the_answer() -> None:
    lead = episode("lead", Message.user("hi"), Message.assistant("Hello.", reasoning="greet back"))
    text = show(rollout(trajectory(lead)))
    at, line = line_with(text, "thinking: greet back")
    assert line.rstrip().endswith("assistant  thinking: greet back")
    assert text.splitlines()[at + 1].strip().endswith("Hello.")
    styled = show(rollout(trajectory(lead)), styles=True)
    assert DIM in style_codes(styled, "greet back") and DIM not in style_codes(styled, "Hello.")


def test_verdicts_are_listed_with_stage_result_reason_and_score() -> None:
    verdicts = [
        Verdict(rollout_key="k", stage="format", passed=True),
        Verdict(rollout_key="k", stage="judge", passed=False, reason="misses the date", score=0.25),
    ]
    text = show(lookup("ok"), None, verdicts)
    assert cells(line_with(text, "stage")[1]) == ["stage", "passed", "reason", "score"]
    assert cells(line_with(text, "format")[1]) == ["format", "✓ passed", "", "-"]
    assert cells(line_with(text, "judge")[1]) == ["judge", "✗ failed", "misses the date", "0.25"]

    per_turn = [Verdict(rollout_key="k", stage="judge", passed=True, turn=2, score=1.0)]
    text = show(failed("x"), None, per_turn)
    assert cells(line_with(text, "stage")[1]) == ["stage", "turn", "passed", "reason", "score"]
    assert cells(line_with(text, "judge")[1]) == ["judge", "2", "✓ passed", "", "1"]


def test_a_failed_rollout_without_a_trajectory_shows_its_error() -> None:
    record = failed("ModelError: connection refused after 3 tries")
    text = show(record)
    assert "ModelError: connection refused after 3 tries" in text
    assert "no trajectory was stored for this rollout" in text and "no verdicts yet" in text
    assert (fields(text)["status"], fields(text)["run id"]) == ("failed", "-")
    assert RED in style_codes(show(record, styles=True), "connection refused")


def test_the_header_shows_counts_and_provenance() -> None:
    usage = Usage(prompt_tokens=1200, completion_tokens=34, model_calls=5, tool_calls=3)
    text = show(lookup("ok", usage=usage))
    expected = {
        "run id": "run-7f3a",
        "rollout": "r0ll0utkey000000000000aa",
        "status": "done",
        "attempts": "3",
        "sample": "2",
        "framework": "shop",
        "model": "scripted",
        "stop reason": "completed",
        "seconds": "12.3",
        "tokens": "1234 (1200 prompt, 34 completion)",
        "calls": "5 model, 3 tool",
        "framework hash": "fh-9c1d",
        "nexforge": "0.4.0",
        "sampling": '{"temperature": 0.7}',
        "seed": "11",
        "engine": "local",
    }
    assert {name: fields(text).get(name) for name in expected} == expected


def test_the_query_shows_persona_problem_type_difficulty_evidence_and_facts() -> None:
    query = QueryRecord(
        text="wheres my order??",
        precise_text="Where is order 42?",
        persona={"id": "p1", "name": "Busy parent", "user_type": "customer"},
        path=["orders", "tracking"],
        path_labels=["Orders", "Tracking"],
        difficulty="hard",
        evidence=[Evidence(tool="get_order", arguments={"id": 42}), Evidence(tool="list_orders")],
        expected=ExpectedOutcome(facts=["order 42 shipped", "arrives Friday"]),
        user=UserSide(goal="know when it arrives"),
    )
    text = show(failed("x"), query)
    expected = {
        "text": "wheres my order??",
        "precise text": "Where is order 42?",
        "persona": "Busy parent",
        "problem type": "Orders / Tracking",
        "difficulty": "hard",
        "evidence": "2 reads",
        "user goal": "know when it arrives",
        "expected facts": "• order 42 shipped",
    }
    assert {name: fields(text).get(name) for name in expected} == expected
    at, _ = line_with(text, "• order 42 shipped")
    assert "• arrives Friday" in text.splitlines()[at + 1]


def test_status_counts_queries_rollouts_and_verdicts(store: SynthesisStore) -> None:
    render_status(empty := console(), store.status())
    text = empty.export_text()
    assert cells(line_with(text, "total")[1]) == ["total", "0"] and "no verdicts yet" in text

    shop = [QueryRecord(text=t, framework="shop").keyed("fh-shop") for t in ("q one", "q two")]
    bank = QueryRecord(text="q three", framework="[bold]bank").keyed("fh-bank")
    store.add_queries([*shop, bank])
    store.add_rejection("fh-shop", seed=0, slot=2, attempt=0, reason="duplicate")
    plan = [(rollout_key(q.key, 0), q.key, 0) for q in (*shop, bank)]
    store.plan_rollouts(plan)
    records = [
        rollout(None, key=key, query_key=qkey, sample=sample, status=status)
        for (key, qkey, sample), status in zip(plan[:2], ("done", "failed"), strict=True)
    ]
    for record in records:
        store.put_rollout(record)
    hashes = [record.content_hash() for record in records]
    verdicts = ((0, "format", True), (1, "format", False), (0, "judge", True))
    store.put_verdicts(
        [
            Verdict(rollout_key=plan[i][0], stage=s, passed=p, rollout_hash=hashes[i])
            for i, s, p in verdicts
        ]
    )

    render_status(out := console(), store.status())
    text = out.export_text()

    assert cells(line_with(text, "framework")[1]) == ["framework", "queries"]
    assert cells(line_with(text, "shop")[1]) == ["shop", "2"]
    assert cells(line_with(text, "[bold]bank")[1]) == ["[bold]bank", "1"]
    assert cells(line_with(text, "total")[1]) == ["total", "3"]
    assert cells(line_with(text, "rejected")[1]) == ["rejected", "1"]
    at, head = line_with(text, "planned")
    assert cells(head) == ["planned", "done", "failed", "pending"]
    assert cells(text.splitlines()[at + 2]) == ["3", "1", "1", "1"]
    assert cells(line_with(text, "stage")[1]) == ["stage", "passed", "failed"]
    assert cells(line_with(text, "format")[1]) == ["format", "1", "1"]
    assert cells(line_with(text, "judge")[1]) == ["judge", "1", "0"]
