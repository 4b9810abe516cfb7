"""The ladder's quality rung: is the framework's content worth generating data from?

The rungs before it check that a framework is well-formed and runs; a framework can pass
all of them and still be junk (prompts about "the prompt", three unrelated tables, rows
named ``Bike 1`` .. ``Bike 8``). This rung reads what a framework says and checks it,
deterministically; every problem names what is wrong and where:

- ``prompts``: each agent's prompt describes its job: no meta-text about the prompt,
  submitting or the model's own task; a role of at least a sentence; responsibilities
  that are duties, not bare tool names; guidelines that say something; a policy (when the
  environment can change state) whose items state rules, not task names.
- ``entities``: every thing the description names (``"...: orders, refunds and stock"``)
  has a table of its own; no table is named for an activity (``stock_management``).
- ``references``: a ``<thing>_id`` column is a declared reference to an existing table;
  a record (an order, a loan) references what it is about; a follow-up record (a refund,
  a fine) references the record it follows; no table stands alone.
- ``actions``: the environment has at least one domain action beyond get / list / search
  / create / update (e.g. ``cancel_order``), and each states its rule (in its description
  or in the policy).
- ``seed``: rows look like real records: no placeholder or numbered names (``Item 3``),
  varied text, statuses and numbers (not one value, not a constant step).
- ``delegation``: with sub-agents, the entry agent delegates (no state-changing tools, at
  most one read tool) and every problem type of the kit is solved by the tools of one
  agent below the entry, so every rollout goes through a sub-agent.

The same checks run during a build on the stages' output (``spec_content``), so the
architect can repair a stage with these reasons before it writes anything. Not to be
confused with ``nexforge.quality``, which judges trajectories, not frameworks.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from nexforge.architect.framework_files import FrameworkFiles
from nexforge.architect.nouns import (
    ACTIVITY_SUFFIXES,
    is_follow_up,
    is_record,
    name_words,
    named_nouns,
    singular,
    words_of,
)
from nexforge.architect.smoke import agents_by_name
from nexforge.architect.spec import DomainSpec, HierarchyPlan, ProblemType, SeedData, ToolPlan
from nexforge.runtime.config.framework import Framework

CHECKS = ("prompts", "entities", "references", "actions", "seed", "delegation")
MAX_ROWS_READ = 50
MIN_ROLE_WORDS = 6
MIN_DUTY_WORDS = 3
MIN_RULE_WORDS = 4
MIN_ROWS_FOR_PATTERNS = 4
"""Constant steps and single values are judged only on this many rows or more."""
MAX_ENTRY_READ_TOOLS = 1

CRUD_VERBS = words_of(
    "get list search find lookup look show view read fetch count create add new insert "
    "register update edit set modify change delete remove save write put patch upsert make "
    "record log"
)
"""First words of tool names that are plain record operations, not domain actions."""
RULE_WORDS = words_of(
    "only when unless if must cannot never not no before after while until within allowed "
    "always should may first at most least any every each require requires required need "
    "needs otherwise except"
)
CODE_SUFFIXES = words_of(
    "sku code number no num ref reference serial isbn plate phone zip postcode id uuid vin "
    "barcode email url slug"
)
"""Last words of column names whose values are codes (numbering is fine there)."""

_META = re.compile(
    r"\bsubmit_\w+|\bsubmit (?:the|this|your|a|an) \w+|\b(?:the|this|a|your|system|these|"
    r"each) prompts?\b|\brole[ _]statement\b|\bas an ai\b|\blanguage model\b|"
    r"\bfor testing\b|\blorem ipsum\b",
    re.IGNORECASE,
)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,2}[.)])\s+(.*\S)\s*$")
_IDENTIFIER_ITEM = re.compile(r"^`?[A-Za-z][A-Za-z0-9_.]*`?\.?$")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_PLACEHOLDER = re.compile(
    r"\b(?:lorem|ipsum|placeholder|dummy|foo|asdf|qwerty|xxx+|tbd|todo|n/a|example|"
    r"for testing|test data|sample data|some text|john doe|jane doe)\b",
    re.IGNORECASE,
)
_BARE_PLACEHOLDER = words_of(
    "string text value none null name description unknown test sample item"
)
_NUMBERED = re.compile(r"^([A-Za-z][A-Za-z .'&-]*?)\s*[#_-]?\s*(\d+)$")
_GENERIC_NUMBERED = words_of(
    "item product customer user name entity record row thing object person entry sample "
    "test example value field data table"
)
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    """One thing wrong: which check, where (a table, column, agent, tool) and what."""

    check: str
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    """text, integer, real, boolean or date."""
    values: tuple[str, ...] = ()
    """Allowed values of a status-like text column."""
    references: str | None = None
    key: bool = False


@dataclass
class Table:
    name: str
    columns: list[Column]
    rows: list[dict[str, Any]]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class ToolInfo:
    name: str
    description: str
    read_only: bool


@dataclass
class AgentInfo:
    name: str
    prompt: str
    tools: list[str]
    """Every tool it holds (its sub-agents are not tools here)."""
    delegates: list[str]


@dataclass
class FrameworkContent:
    """What the checks read, from a framework folder or from a build's stages."""

    description: str
    """The sentence the framework was built from ('' for a hand-written one)."""
    tables: list[Table]
    tools: list[ToolInfo]
    """The environment's tools."""
    agents: list[AgentInfo] = field(default_factory=list)
    entry: str | None = None
    leaves: list[ProblemType] = field(default_factory=list)

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)

    @property
    def writes(self) -> list[ToolInfo]:
        return [t for t in self.tools if not t.read_only]


# -- reading a framework --------------------------------------------------------------


def read_content(framework: Framework, files: FrameworkFiles) -> FrameworkContent:
    """The content of a loaded framework folder (its seed database read-only)."""
    env = framework.environment
    tools = (
        [ToolInfo(t.spec.name, t.spec.description, t.spec.read_only) for t in env.tools]
        if env is not None
        else []
    )
    database = env.seed.database if env is not None else None
    agents = [
        AgentInfo(
            a.name,
            a.system_prompt,
            [t.spec.name for t in a.tools],
            [s.name for s in a.sub_agents],
        )
        for a in agents_by_name(framework.entry).values()
    ]
    return FrameworkContent(
        description=framework.domain,
        tables=read_tables(database) if database is not None else [],
        tools=tools,
        agents=agents,
        entry=framework.entry.name,
        leaves=files.problem_types.leaves() if files.problem_types is not None else [],
    )


def read_tables(database: Path) -> list[Table]:
    """Every table of a SQLite file with its columns (types, CHECK ... IN values,
    references) and up to MAX_ROWS_READ rows."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        found = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        ).fetchall()
        tables = []
        for name, sql in found:
            quoted = '"' + name.replace('"', '""') + '"'
            allowed = _check_values(sql or "")
            keys = {row[3]: row[2] for row in conn.execute(f"PRAGMA foreign_key_list({quoted})")}
            columns = [
                Column(
                    name=row[1],
                    type=_field_type(str(row[2])),
                    values=tuple(allowed.get(row[1], ())),
                    references=keys.get(row[1]),
                    key=bool(row[5]),
                )
                for row in conn.execute(f"PRAGMA table_info({quoted})")
            ]
            cursor = conn.execute(f"SELECT * FROM {quoted} LIMIT ?", (MAX_ROWS_READ,))
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
            tables.append(Table(name, columns, rows))
        return tables
    finally:
        conn.close()


def _field_type(declared: str) -> str:
    kind = declared.upper()
    if "BOOL" in kind:
        return "boolean"
    if "DATE" in kind or "TIME" in kind:
        return "date"
    if "INT" in kind:
        return "integer"
    if any(word in kind for word in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
        return "real"
    return "text"


def _check_values(sql: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    pattern = r'CHECK\s*\(\s*"?(\w+)"?\s+IN\s*\(([^)]*)\)'
    for column, values in re.findall(pattern, sql, re.IGNORECASE):
        found[column] = [v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", values)]
    return found


def spec_content(
    description: str,
    domain: DomainSpec,
    seed: SeedData | None,
    tools: Sequence[ToolPlan],
    *,
    plan: HierarchyPlan | None = None,
    prompts: Mapping[str, str] | None = None,
    leaves: Sequence[ProblemType] = (),
) -> FrameworkContent:
    """The content a build's stages produced so far (before it is written)."""
    rows = seed.rows if seed is not None else {}
    tables = [
        Table(
            e.name,
            [Column(f.name, f.type, tuple(f.values), f.references) for f in e.fields],
            list(rows.get(e.name, [])),
        )
        for e in domain.entities
    ]
    agents = (
        [
            AgentInfo(a.name, (prompts or {}).get(a.name, ""), list(a.tools), list(a.delegates))
            for a in plan.agents
        ]
        if plan is not None
        else []
    )
    return FrameworkContent(
        description=description,
        tables=tables,
        tools=[ToolInfo(t.name, t.description, t.read_only) for t in tools],
        agents=agents,
        entry=plan.entry if plan is not None else None,
        leaves=list(leaves),
    )


# -- the checks -----------------------------------------------------------------------


def check_content(content: FrameworkContent) -> list[Problem]:
    """Every problem of every check, in CHECKS order."""
    return [
        *prompt_problems(content),
        *entity_problems(content),
        *reference_problems(content),
        *action_problems(content),
        *seed_problems(content),
        *delegation_problems(content),
    ]


# prompts


def prompt_problems(content: FrameworkContent) -> list[Problem]:
    problems: list[Problem] = []
    has_policy = False
    for agent in content.agents:
        problems += agent_prompt_problems(agent, content)
        has_policy = has_policy or bool(policy_items(agent.prompt))
    if content.agents and content.writes and not has_policy:
        problems.append(
            Problem(
                "prompts",
                "policy",
                "no agent's prompt has a Policy section; state the rules the state-changing "
                f"tools follow ({', '.join(t.name for t in content.writes[:3])}: who may do "
                "what, and when)",
            )
        )
    return problems


def agent_prompt_problems(agent: AgentInfo, content: FrameworkContent) -> list[Problem]:
    """What is wrong with one agent's prompt (the framework-wide policy check aside)."""
    where = f"agent {agent.name}"
    problems: list[Problem] = []

    def add(what: str) -> None:
        problems.append(Problem("prompts", where, what))

    prompt = agent.prompt
    if not prompt.strip():
        add("the prompt is empty; describe the agent's job")
        return problems
    meta = [(line.strip(), m) for line in prompt.splitlines() if (m := _META.search(line))]
    if meta:
        line, match = meta[0]
        more = f" (and {len(meta) - 1} more such lines)" if len(meta) > 1 else ""
        add(
            f"{_quoted(line)} talks about {match.group(0).lower()!r}, not the agent's "
            f"job{more}; describe what the agent does for the users"
        )
    sections = prompt_sections(prompt)
    role = _first_paragraph(sections.get("role") or sections.get("") or [])
    if len(_words(role)) < MIN_ROLE_WORDS:
        add(
            f"the role {_quoted(role)} is not a job description; say in a sentence or two "
            "whom the agent serves and what it handles"
        )
    elif not {"you", "your"} & {w.lower() for w in _words(role)}:
        add(
            f"the role {_quoted(role)} does not speak to the agent; say what it does: "
            "'You handle ...'"
        )
    tool_names = {t.name for t in content.tools} | set(agent.tools)

    def bare(items: list[str], least: int) -> list[str]:
        return [i for i in items if _is_bare_name(i, tool_names) or len(_words(i)) < least]

    if duties := bare(_items(sections.get("responsibilities", [])), MIN_DUTY_WORDS):
        add(
            f"responsibilities {_listed(duties)} are tool or task names, not duties; write "
            "what the agent is responsible for (e.g. 'Check an order's status and explain it')"
        )
    if empty := bare(_items(sections.get("guidelines", [])), MIN_RULE_WORDS):
        add(f"guidelines {_listed(empty)} say nothing about the job")
    policy = policy_items(prompt)
    if names := bare(policy, MIN_RULE_WORDS):
        add(
            f"policy items {_listed(names)} are task names, not rules; state what is allowed "
            "when (e.g. 'Cancel an order only while it is pending or paid')"
        )
    ruleless = [
        item
        for item in policy
        if item not in names and not RULE_WORDS & {w.lower() for w in _words(item)}
    ]
    if ruleless:
        add(
            f"policy items {_listed(ruleless)} state no rule (no only / when / never / must "
            "...); say what is allowed when"
        )
    if content.tables and not _mentions_domain(prompt, content):
        tables = ", ".join(t.name for t in content.tables[:4])
        add(f"the prompt names none of the records the agent works on ({tables})")
    return problems


def policy_items(prompt: str) -> list[str]:
    """The items of a prompt's Policy (or Policies) section."""
    sections = prompt_sections(prompt)
    return [item for title in ("policy", "policies") for item in _items(sections.get(title, []))]


def prompt_sections(prompt: str) -> dict[str, list[str]]:
    """Lines under each Markdown heading, by lower-cased title ('' before the first)."""
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in prompt.splitlines():
        heading = _HEADING.match(line)
        if heading is not None:
            current = heading.group(1).strip().lower()
            sections.setdefault(current, [])
            continue
        sections[current].append(line)
    return sections


def _items(lines: list[str]) -> list[str]:
    """List items (``-``, ``*``, ``1.``), continuation lines joined."""
    items: list[str] = []
    for line in lines:
        match = _ITEM.match(line)
        if match is not None:
            items.append(match.group(1))
        elif items and line.startswith((" ", "\t")) and line.strip():
            items[-1] += " " + line.strip()
    return [i.strip() for i in items if i.strip()]


def _first_paragraph(lines: list[str]) -> str:
    paragraph: list[str] = []
    for line in lines:
        if line.strip():
            paragraph.append(line.strip())
        elif paragraph:
            break
    return " ".join(paragraph)


def _is_bare_name(item: str, tool_names: set[str]) -> bool:
    text = item.strip().strip("`").rstrip(".")
    return text in tool_names or (bool(_IDENTIFIER_ITEM.match(item.strip())) and "_" in text)


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _mentions_domain(prompt: str, content: FrameworkContent) -> bool:
    text = prompt.lower().replace("_", " ")
    words = set(re.findall(r"[a-z]+", text))
    for table in content.tables:
        if any(w in words for w in name_words(table.name) if len(w) > 2):
            return True
    return any(t.name.lower() in prompt.lower() for t in content.tools)


def _listed(items: list[str], shown: int = 3) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(_quoted(i, 40) for i in items[:shown]) + more


def _quoted(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


# entities


def entity_problems(content: FrameworkContent) -> list[Problem]:
    if not content.tables:
        return []
    problems: list[Problem] = []
    for noun in named_nouns(content.description):
        if not _covers(content.tables, noun):
            problems.append(
                Problem(
                    "entities",
                    "description",
                    f"names {noun!r} but no table holds them; make {noun} an entity of its own "
                    f"(one row per {singular(noun)})",
                )
            )
    for table in content.tables:
        last = table.name.rsplit("_", 1)[-1]
        if last in ACTIVITY_SUFFIXES and "_" in table.name:
            thing = table.name.rsplit("_", 1)[0]
            problems.append(
                Problem(
                    "entities",
                    f"table {table.name}",
                    f"is named for an activity, not a thing; name it for what one row is "
                    f"(e.g. {thing}_items or products)",
                )
            )
    return problems


def _covers(tables: Sequence[Table], noun: str) -> bool:
    wanted = {noun, singular(noun)}
    for table in tables:
        if wanted & set(name_words(table.name)):
            return True
        if any(c.name in wanted for c in table.columns):
            return True
    return False


# references


def reference_problems(content: FrameworkContent) -> list[Problem]:
    tables = content.tables
    if len(tables) < 2:
        return []
    by_word = _tables_by_word(tables)
    problems: list[Problem] = []
    linked: set[str] = set()
    for table in tables:
        for column in table.columns:
            if column.references is not None:
                linked |= {table.name, column.references}
                continue
            if not column.name.endswith("_id") or column.key:
                continue
            target = by_word.get(singular(column.name[:-3]))
            where = f"{table.name}.{column.name}"
            if target is None:
                problems.append(
                    Problem(
                        "references",
                        where,
                        f"points to {column.name[:-3]!r}, which is not a table; add that "
                        "entity or drop the field",
                    )
                )
            elif target != table.name:
                problems.append(
                    Problem(
                        "references",
                        where,
                        f"holds {target} ids but is not a reference (declare it as "
                        f"REFERENCES {target})",
                    )
                )
    records = [t for t in tables if is_record(t.name) and not is_follow_up(t.name)]
    for table in tables:
        targets = {c.references for c in table.columns if c.references is not None}
        if is_record(table.name) and not targets:
            problems.append(
                Problem(
                    "references",
                    f"table {table.name}",
                    f"references no other table; one {singular(table.name)} belongs to "
                    "the people and things it is about (e.g. customer_id, product_id)",
                )
            )
        primary = [r.name for r in records if r.name != table.name]
        if is_follow_up(table.name) and primary and not targets & set(primary):
            problems.append(
                Problem(
                    "references",
                    f"table {table.name}",
                    f"does not reference {primary[0]}; a {singular(table.name)} is for one "
                    f"{singular(primary[0])} ({singular(primary[0])}_id)",
                )
            )
    for table in tables:
        if table.name not in linked and not any(p.where == f"table {table.name}" for p in problems):
            problems.append(
                Problem(
                    "references",
                    f"table {table.name}",
                    "is not linked to any other table (no reference from or to it)",
                )
            )
    return problems


def _tables_by_word(tables: Sequence[Table]) -> dict[str, str]:
    found: dict[str, str] = {}
    for table in tables:
        found.setdefault(singular(table.name), table.name)
        found.setdefault(table.name, table.name)
    return found


# actions


def action_problems(content: FrameworkContent) -> list[Problem]:
    if not content.writes:
        return []
    actions = [t for t in content.writes if t.name.split("_", 1)[0].lower() not in CRUD_VERBS]
    if not actions:
        names = ", ".join(t.name for t in content.writes[:4])
        return [
            Problem(
                "actions",
                "environment",
                f"no domain action beyond get/list/search/create/update (state-changing: "
                f"{names}); add one with its rule, e.g. cancel an order only while it is "
                "pending or paid",
            )
        ]
    policy = [
        line.lower()
        for agent in content.agents
        for title, lines in prompt_sections(agent.prompt).items()
        if "polic" in title
        for line in lines
    ]
    problems: list[Problem] = []
    for action in actions:
        stated = RULE_WORDS & {w.lower() for w in _words(action.description)}
        verb = action.name.split("_", 1)[0].lower()
        in_policy = any(action.name in line or verb in line for line in policy)
        if not stated and not in_policy:
            problems.append(
                Problem(
                    "actions",
                    f"tool {action.name}",
                    "states no rule: say when it is allowed (e.g. 'only when the status is "
                    "pending'), in its description or in the policy",
                )
            )
    return problems


# seed rows


def seed_problems(content: FrameworkContent) -> list[Problem]:
    return [p for table in content.tables for p in table_seed_problems(table)]


def table_seed_problems(table: Table) -> list[Problem]:
    """Rows that do not look like real records, one problem per column at most."""
    problems: list[Problem] = []
    for column in table.columns:
        if column.key or column.references is not None or column.type == "boolean":
            continue
        if column.name.endswith("_id"):
            continue  # an undeclared reference: the references check names it
        values = [row.get(column.name) for row in table.rows]
        values = [v for v in values if v is not None]
        if not values:
            continue
        what = _column_problem(table, column, values)
        if what is not None:
            problems.append(Problem("seed", f"{table.name}.{column.name}", what))
    return problems


def _column_problem(table: Table, column: Column, values: list[Any]) -> str | None:
    if column.type == "text" and column.values:
        if (
            len(values) >= MIN_ROWS_FOR_PATTERNS
            and len(set(values)) == 1
            and len(column.values) > 1
        ):
            return (
                f"every row is {values[0]!r}; use several of {', '.join(column.values)} so "
                "actions have rows to act on and rows to refuse"
            )
        return None
    if column.type in ("integer", "real"):
        numbers = [float(v) for v in values if isinstance(v, int | float)]
        return _step_problem(numbers, lambda n: _number(n))
    dates = [_as_date(v) for v in values]
    if column.type == "date" or (values and all(d is not None for d in dates)):
        days = [float(d.toordinal()) for d in dates if d is not None]
        return _step_problem(days, lambda n: date.fromordinal(int(n)).isoformat(), unit=" day(s)")
    return _text_problem(table, column, [str(v) for v in values])


def _step_problem(numbers: list[float], show: Any, unit: str = "") -> str | None:
    if len(numbers) < MIN_ROWS_FOR_PATTERNS:
        return None
    steps = {round(b - a, 6) for a, b in itertools.pairwise(numbers)}
    if len(steps) != 1:
        return None
    (step,) = steps
    shown = ", ".join(show(n) for n in numbers[:3])
    if step == 0:
        return f"every row has {show(numbers[0])}; vary the values as real records do"
    return (
        f"{shown}, ... changes by {_number(abs(step))}{unit} from row to row; "
        "vary the values as real records do"
    )


def _number(n: float) -> str:
    return str(int(n)) if n == int(n) else f"{n:g}"


def _as_date(value: Any) -> date | None:
    match = _DATE.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def _text_problem(table: Table, column: Column, values: list[str]) -> str | None:
    words = set(name_words(column.name)) | {column.name, column.name.replace("_", " ")}
    generic = _GENERIC_NUMBERED | words | set(name_words(table.name))
    code_like = column.name.rsplit("_", 1)[-1] in CODE_SUFFIXES
    for index, value in enumerate(values):
        text = value.strip()
        bare = text.lower().rstrip(".")
        if not text or bare in _BARE_PLACEHOLDER or bare in words:
            return f"row {index + 1} is {value!r}, a placeholder; write a real value"
        if not _EMAIL.match(text) and _PLACEHOLDER.search(text):
            return f"row {index + 1} is {value!r}, a placeholder; write a real value"
        numbered = _NUMBERED.match(text)
        if not code_like and numbered is not None and numbered.group(1).strip().lower() in generic:
            return f"row {index + 1} is {value!r}, a numbered placeholder; write a real value"
    if not code_like:
        prefixes = Counter(
            m.group(1).strip().lower() for m in map(_NUMBERED.match, values) if m is not None
        )
        prefix, count = prefixes.most_common(1)[0] if prefixes else ("", 0)
        if count >= 3:
            shown = ", ".join(
                repr(v)
                for v in values
                if (m := _NUMBERED.match(v)) and m.group(1).strip().lower() == prefix
            )
            return (
                f"{_clip(shown)} are numbered names, not real records; write names as "
                "they would appear in a real system"
            )
    distinct = len({v.strip().lower() for v in values})
    if len(values) >= MIN_ROWS_FOR_PATTERNS and distinct == 1:
        return f"every row is {values[0]!r}; vary the values as real records do"
    if _is_name(column.name) and distinct < len(values):
        return f"only {distinct} different names in {len(values)} rows; each record has its own"
    return None


def _is_name(column: str) -> bool:
    return column in ("name", "title", "full_name") or column.endswith("_name")


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 4] + ", ..."


# delegation


def delegation_problems(content: FrameworkContent) -> list[Problem]:
    agents = {a.name: a for a in content.agents}
    entry = agents.get(content.entry or "")
    if entry is None or not entry.delegates:
        return []
    env = {t.name: t for t in content.tools}
    problems: list[Problem] = []
    writes = [t for t in entry.tools if t in env and not env[t].read_only]
    reads = [t for t in entry.tools if t in env and env[t].read_only]
    where = f"agent {entry.name}"
    if writes:
        problems.append(
            Problem(
                "delegation",
                where,
                f"the entry agent holds state-changing tools ({', '.join(writes)}); it "
                "delegates, so they belong to its specialists",
            )
        )
    if len(reads) > MAX_ENTRY_READ_TOOLS:
        problems.append(
            Problem(
                "delegation",
                where,
                f"the entry agent holds {len(reads)} environment tools ({', '.join(reads)}); "
                f"a lead holds at most {MAX_ENTRY_READ_TOOLS} read tool and delegates the rest",
            )
        )
    below = [a for a in content.agents if a.name != entry.name]
    for leaf in content.leaves:
        needed = set(leaf.tools)
        label = f"problem type {leaf.id} ({leaf.label})"
        if needed <= set(entry.tools):
            problems.append(
                Problem(
                    "delegation",
                    label,
                    f"{entry.name} solves it alone with {', '.join(leaf.tools)}; no rollout "
                    "of it would reach a specialist",
                )
            )
        elif not any(needed <= set(a.tools) for a in below):
            problems.append(
                Problem(
                    "delegation",
                    label,
                    f"needs {', '.join(leaf.tools)}, which no single specialist holds",
                )
            )
    return problems


# reporting


def summarize(problems: Iterable[Problem], shown: int = 3) -> str:
    """``"12 problems (prompts 6, seed 3, ...): first; second; third (+9 more)"``."""
    found = list(problems)
    counts = Counter(p.check for p in found)
    by_check = ", ".join(f"{c} {counts[c]}" for c in CHECKS if counts[c])
    text = "; ".join(str(p) for p in found[:shown])
    more = f" (+{len(found) - shown} more)" if len(found) > shown else ""
    noun = "problem" if len(found) == 1 else "problems"
    return f"{len(found)} {noun} ({by_check}): {text}{more}"
