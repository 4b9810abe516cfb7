"""What a domain's words say: singular and plural, the things a description names, and
the kinds of entity a noun usually is.

Shared by the architect (which makes every named thing an entity and links records to
what they are about) and by the ladder's quality rung (which checks that it did), so
both read a description the same way. Deliberately small word lists, English only:
they decide what is *required*, so a word missing here asks less, never more.
"""

from __future__ import annotations

import re


def words_of(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``: word lists read as prose."""
    return frozenset(text.split())


FUNCTION_HEADS = words_of(
    "desk helpdesk system assistant service portal app application platform tool team "
    "agent bot center centre office line workflow tracker manager management support "
    "hub console dashboard chat chatbot frontdesk reception"
)
"""Heads that name what the framework *is*: their modifiers name what it handles
("appointment desk" handles appointments; "support desk" names nothing)."""

BUSINESS_HEADS = words_of(
    "shop store clinic library hotel restaurant company business firm agency gym salon "
    "school university college hospital pharmacy garage bakery cafe bank airline practice "
    "studio workshop warehouse market supermarket dealership brewery bar pub spa lab "
    "laboratory museum theater theatre cinema club hostel motel inn farm factory"
)
"""Heads that name the business itself ("a bike shop"): such a phrase names no entity."""

STOP_WORDS = words_of(
    "a an the its their our your my his her of for and or with to in on at by from "
    "small local busy new all any some every each"
)

MASS_NOUNS = words_of("stock inventory equipment staff feedback data information")

PEOPLE = words_of(
    "customer client patient member guest student user employee staff dentist doctor "
    "physician nurse vet veterinarian technician mechanic driver passenger tenant owner "
    "borrower reader subscriber visitor traveler traveller buyer seller supplier vendor "
    "instructor teacher trainer attendee applicant candidate contact person "
    "librarian agent stylist therapist courier landlord"
)
"""Nouns for the people a system serves or whose work it schedules."""

FOLLOW_UPS = words_of(
    "refund return payment invoice cancellation claim exchange renewal fine review "
    "complaint shipment delivery receipt note order_item line_item item_line"
)
"""Records that belong to another record (a refund is for an order, a fine for a loan)."""

RECORDS = FOLLOW_UPS | words_of(
    "order booking reservation appointment loan rental repair ticket visit enrollment "
    "enrolment subscription transaction sale purchase request prescription vaccination lease "
    "checkout hold registration application incident inspection job work_order quote "
    "estimate transfer deposit withdrawal admission stay trip session class_booking "
    "service_request maintenance"
)
"""Records of something that happened between people and things: one always points at
the people or things it is about."""

ACTIVITY_SUFFIXES = words_of(
    "management processing handling tracking creation administration system operations "
    "info information data"
)
"""Last words of a table name that name an activity or a bag of data, not a thing."""

_WORD = re.compile(r"[a-z]+")
_SPLIT = re.compile(
    r",|;|/|&|\band\b|\bor\b|\bwith\b|\bfor\b|\bof\b|\bplus\b|\bhandling\b|\bmanaging\b"
    r"|\btracking\b|\bincluding\b|\bcovering\b"
)


def singular(word: str) -> str:
    """``refunds`` -> ``refund``, ``deliveries`` -> ``delivery``, ``stock`` -> ``stock``."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "uses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def plural(word: str) -> str:
    """``refund`` -> ``refunds``, ``delivery`` -> ``deliveries``; mass nouns stay."""
    last = word.rsplit("_", 1)[-1]
    if last in MASS_NOUNS or (last.endswith("s") and singular(last) != last):
        return word
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh", "z")):
        return word + "es"
    return word + "s"


def named_nouns(description: str) -> list[str]:
    """The things a description names as what the framework handles, as plural
    identifiers, in order: ``"A support desk for a bike shop: orders, refunds and stock"``
    -> ``["orders", "refunds", "stock"]``; ``"A dental clinic's appointment desk"`` ->
    ``["appointments"]``; ``"A library's loans and reservations"`` -> ``["loans",
    "reservations"]``.

    Only the part after a colon (or else after a possessive ``'s``) is read when there is
    one. Each phrase gives its head noun, or the modifier of a FUNCTION_HEADS head; a
    phrase headed by a business ("a bike shop") gives nothing.
    """
    text = description.lower().replace("\u2019", "'")
    if ":" in text:
        text = text.split(":", 1)[1]
    elif "'s " in text:
        text = text.split("'s ", 1)[1]
    found: list[str] = []
    for chunk in _SPLIT.split(text):
        words = [w for w in _WORD.findall(chunk) if w not in STOP_WORDS]
        noun = _phrase_noun(words)
        if noun is not None:
            name = plural(noun)
            if name not in found:
                found.append(name)
    return found


def _phrase_noun(words: list[str]) -> str | None:
    if not words:
        return None
    head = words[-1]
    if head in BUSINESS_HEADS:
        return None
    if head in FUNCTION_HEADS:
        # "appointment desk" names appointments; "bike shop support desk" names nothing.
        modifier = words[-2] if len(words) > 1 else None
        if modifier is None or modifier in FUNCTION_HEADS | BUSINESS_HEADS:
            return None
        return singular(modifier)
    return singular(head)


def name_words(name: str) -> list[str]:
    """An identifier's words, each also as its singular: ``stock_items`` -> stock, items,
    item."""
    words = [w for w in name.split("_") if w]
    return list(dict.fromkeys([*words, *(singular(w) for w in words)]))


def is_record(name: str) -> bool:
    """``orders``, ``order_items``, ``damage_claims``: a table of records."""
    return _kind_of(name, RECORDS)


def is_follow_up(name: str) -> bool:
    """``refunds``, ``fines``: a record that belongs to another record."""
    return _kind_of(name, FOLLOW_UPS)


def is_people(name: str) -> bool:
    return _kind_of(name, PEOPLE)


def _kind_of(name: str, words: frozenset[str]) -> bool:
    one = singular(name)
    return one in words or singular(name.rsplit("_", 1)[-1]) in words
