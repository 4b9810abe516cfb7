"""Expected facts in an answer: forgiving about case, spacing, accents and number format."""

from __future__ import annotations

import pytest

from nexforge.synthesis.facts import missing_facts, states


@pytest.mark.parametrize(
    ("answer", "fact"),
    [
        ("Your order 1003 is CANCELLED.", "cancelled"),
        ("Customer: Ada   Lind,\nGold tier", "ada lind"),
        ("Chloe Martin placed it", "Chloé Martin"),
        ("The total is 2,427.30 EUR", "2427.3"),
        ("The total is 2427.30 EUR", "2,427.30"),
        ("refund of 12.50", "12.5"),
        ("it costs 12 euros", "12.00"),
        ("order #0042 shipped", "42"),
        ('{"order_id": 1005, "status": "placed"}', "1005"),
        ("SKU: bk-trail", "BK-TRAIL"),
        ("created 2026-01-05T09:01:00Z", "2026-01-05"),
    ],
)
def test_a_fact_written_differently_is_still_stated(answer: str, fact: str) -> None:
    assert states(answer, fact)


@pytest.mark.parametrize(
    ("answer", "fact"),
    [
        ("Order 10030 is cancelled", "1003"),
        ("The total is 12.51", "12.5"),
        ("Ada Lind", "Ada Lindqvist"),
        ("Lind, Ada", "Ada Lind"),
        ("anything", ""),
        ("anything", " - "),
    ],
)
def test_a_fact_that_is_not_there_is_missing(answer: str, fact: str) -> None:
    assert not states(answer, fact)


def test_missing_facts_lists_the_ones_not_stated_in_order() -> None:
    answer = "Order 1003 (Ada Lind) is cancelled; refund 77."
    assert missing_facts(answer, ["1003", "refund 78", "Ada Lind", "shipped"]) == [
        "refund 78",
        "shipped",
    ]


@pytest.mark.parametrize(
    "answer",
    [
        "It was placed on December 4, 2025.",
        "placed on 4 December 2025",
        "on Dec 4th, 2025",
        "on the 4th of December, 2025",
        "placed 2025-12-04",
    ],
)
def test_an_iso_date_is_stated_as_people_write_it(answer: str) -> None:
    assert states(answer, "2025-12-04")


@pytest.mark.parametrize(
    "answer",
    ["December 5, 2025", "December 4", "4 December 2024", "November 4, 2025", "2025-12-14"],
)
def test_another_day_month_or_year_is_not_the_date(answer: str) -> None:
    assert not states(answer, "2025-12-04")
