"""A second framework for the labelled set: a library's loans desk, generated the way the
architect generates environments (``write_environment`` over a domain spec: one table per
entity, references, two domain actions, the generic table tools) with a lead that
delegates every loan to a specialist. Seed rows are hand-written to look like records."""

from __future__ import annotations

from pathlib import Path

from nexforge.architect.envgen import plan_tools, write_environment
from nexforge.architect.spec import DomainSpec, SeedData

DOMAIN = DomainSpec.model_validate(
    {
        "name": "library",
        "title": "Riverside Library loans desk",
        "purpose": "Lends books to members and keeps track of their loans.",
        "user_types": ["member", "librarian"],
        "tasks": ["check a loan", "renew a loan", "return a book", "join the library"],
        "entities": [
            {
                "name": "members",
                "singular": "member",
                "fields": [
                    {"name": "name", "type": "text"},
                    {"name": "email", "type": "text"},
                    {"name": "status", "type": "text", "values": ["active", "suspended"]},
                ],
            },
            {
                "name": "books",
                "singular": "book",
                "fields": [
                    {"name": "title", "type": "text"},
                    {"name": "author", "type": "text"},
                    {"name": "copies_available", "type": "integer"},
                ],
            },
            {
                "name": "loans",
                "singular": "loan",
                "fields": [
                    {"name": "member_id", "type": "integer", "references": "members"},
                    {"name": "book_id", "type": "integer", "references": "books"},
                    {"name": "due_date", "type": "date"},
                    {
                        "name": "status",
                        "type": "text",
                        "values": ["active", "overdue", "renewed", "returned"],
                    },
                ],
            },
        ],
        "policies": ["A loan can be renewed once, and only while it is active."],
        "actions": [
            {
                "name": "renew_loan",
                "description": "Renew an active loan.",
                "entity": "loans",
                "field": "status",
                "value": "renewed",
                "allowed_from": ["active"],
            },
            {
                "name": "return_loan",
                "description": "Record a returned book.",
                "entity": "loans",
                "field": "status",
                "value": "returned",
                "allowed_from": ["active", "overdue", "renewed"],
            },
        ],
    }
)

SEED = SeedData(
    rows={
        "members": [
            {"name": "Maya Chen", "email": "maya.chen@example.org", "status": "active"},
            {"name": "Tomás Ruiz", "email": "tomas.ruiz@example.org", "status": "active"},
            {"name": "Ingrid Holm", "email": "ingrid.holm@example.org", "status": "suspended"},
            {"name": "Kwame Mensah", "email": "kwame.mensah@example.org", "status": "active"},
        ],
        "books": [
            {
                "title": "The Left Hand of Darkness",
                "author": "Ursula K. Le Guin",
                "copies_available": 2,
            },
            {"title": "Middlemarch", "author": "George Eliot", "copies_available": 0},
            {
                "title": "Braiding Sweetgrass",
                "author": "Robin Wall Kimmerer",
                "copies_available": 1,
            },
            {"title": "The Overstory", "author": "Richard Powers", "copies_available": 3},
            {"title": "Pachinko", "author": "Min Jin Lee", "copies_available": 1},
            {"title": "Piranesi", "author": "Susanna Clarke", "copies_available": 0},
        ],
        "loans": [
            {"member_id": 1, "book_id": 2, "due_date": "2026-12-10", "status": "active"},
            {"member_id": 2, "book_id": 6, "due_date": "2026-11-28", "status": "overdue"},
            {"member_id": 4, "book_id": 1, "due_date": "2026-12-15", "status": "renewed"},
            {"member_id": 1, "book_id": 5, "due_date": "2026-11-20", "status": "returned"},
            {"member_id": 3, "book_id": 3, "due_date": "2026-12-02", "status": "overdue"},
            {"member_id": 4, "book_id": 4, "due_date": "2026-12-20", "status": "active"},
        ],
    }
)

FRAMEWORK_YAML = """name: library
description: Loans desk of the Riverside Library.
entry_agent: agents/lead.yaml
environment:
  seed: data/library.sqlite
  tools: tools/library_tools.py
"""
LEAD_YAML = """name: lead
description: Talks to members and hands loan work to the loans desk.
system_prompt: |
  You run the front desk of the Riverside Library. Find the member with search_members,
  then hand loan and book questions and changes to `loans` with the member's id.
tools:
  - env: search_members
sub_agents:
  - config: loans.yaml
"""
LOANS_YAML = """name: loans
description: Looks up books and loans, renews and returns loans, manages members.
system_prompt: |
  You handle loans at the Riverside Library. A loan can be renewed once, and only while
  it is active.
tools:
  - env: "*"
"""


def write_library(root: Path) -> Path:
    """The library framework under ``root`` (written once; returns its folder)."""
    folder = root / "library"
    if (folder / "framework.yaml").exists():
        return folder
    write_environment(DOMAIN, SEED, plan_tools(DOMAIN), folder)
    (folder / "agents").mkdir(parents=True, exist_ok=True)
    (folder / "framework.yaml").write_text(FRAMEWORK_YAML, encoding="utf-8")
    (folder / "agents" / "lead.yaml").write_text(LEAD_YAML, encoding="utf-8")
    (folder / "agents" / "loans.yaml").write_text(LOANS_YAML, encoding="utf-8")
    return folder
