"""What kinds of business deal with, and how their records live: the architect's small
store of common knowledge, used where the embedded model guesses badly.

Asked whole, the 0.5B model named a bike shop's tables after its tasks
(``stock_management``), copied worked examples (every record's statuses were a car
rental's) and put ``customer_name`` on orders. The facts a domain needs that a model of
that size does not reliably give are kept here, small and general: who a kind of
business serves and what it sells, lends or books (``TRADES``), the statuses a kind of
record goes through (``LIFECYCLES``) and the verb that moves a record into a status
(``VERBS``). Anything not listed falls back to a general default, never to an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from nexforge.architect.nouns import singular, words_of


@dataclass(frozen=True)
class Trade:
    """Who a kind of business serves, who works there, what it offers, its usual record."""

    people: str
    things: str
    record: str
    staff: str | None = None
    offers: str = "sells"
    """How it offers its things: sells, lends, books, rents, provides."""


GENERAL = Trade("customers", "products", "orders")
TRADES: dict[str, Trade] = {
    **dict.fromkeys(
        ["shop", "store", "market", "supermarket", "bakery", "brewery", "company", "business"],
        GENERAL,
    ),
    **dict.fromkeys(["firm", "farm", "factory", "warehouse"], GENERAL),
    "pharmacy": Trade("customers", "medicines", "prescriptions", "pharmacists"),
    "dealership": Trade("customers", "cars", "orders", "salespeople"),
    **dict.fromkeys(
        ["clinic", "practice", "hospital"],
        Trade("patients", "treatments", "appointments", "doctors", "provides"),
    ),
    "library": Trade("members", "books", "loans", offers="lends"),
    **dict.fromkeys(
        ["hotel", "hostel", "motel", "inn"], Trade("guests", "rooms", "bookings", offers="books")
    ),
    **dict.fromkeys(
        ["restaurant", "cafe", "bar", "pub"],
        Trade("guests", "tables", "reservations", offers="books"),
    ),
    **dict.fromkeys(
        ["gym", "studio", "club"],
        Trade("members", "classes", "bookings", "instructors", "books"),
    ),
    **dict.fromkeys(
        ["school", "university", "college"],
        Trade("students", "courses", "enrollments", "teachers", "provides"),
    ),
    **dict.fromkeys(
        ["garage", "workshop"],
        Trade("customers", "vehicles", "repairs", "mechanics", "repairs"),
    ),
    **dict.fromkeys(
        ["salon", "spa"], Trade("clients", "services", "appointments", "stylists", "provides")
    ),
    "airline": Trade("passengers", "flights", "bookings", offers="books"),
    "bank": Trade("customers", "accounts", "transactions", offers="provides"),
    "agency": Trade("clients", "services", "bookings", offers="books"),
    **dict.fromkeys(
        ["cinema", "theater", "theatre", "museum"],
        Trade("visitors", "shows", "tickets", offers="books"),
    ),
}

STAFF_BY_MODIFIER: dict[str, str] = {
    "dental": "dentists",
    "veterinary": "vets",
    "vet": "vets",
    "medical": "doctors",
    "physiotherapy": "therapists",
    "eye": "optometrists",
    "hair": "stylists",
    "law": "lawyers",
}
ADJECTIVES = words_of(
    "dental medical veterinary vet public local small big busy community city family "
    "private general online national regional university physiotherapy eye hair law "
    "independent neighbourhood neighborhood downtown new main central"
)
"""Modifiers of a business that do not name what it offers ("dental clinic")."""

LIFECYCLES: dict[str, list[str]] = {
    "order": ["pending", "paid", "shipped", "delivered", "cancelled"],
    "refund": ["requested", "approved", "paid", "rejected"],
    "return": ["requested", "received", "refunded", "rejected"],
    "repair": ["received", "in_progress", "ready", "collected", "cancelled"],
    "appointment": ["scheduled", "confirmed", "completed", "cancelled", "no_show"],
    "booking": ["pending", "confirmed", "completed", "cancelled"],
    "reservation": ["pending", "confirmed", "fulfilled", "cancelled"],
    "loan": ["active", "overdue", "returned"],
    "rental": ["reserved", "picked_up", "returned", "cancelled"],
    "ticket": ["open", "in_progress", "resolved", "closed"],
    "claim": ["submitted", "under_review", "approved", "rejected"],
    "enrollment": ["pending", "active", "completed", "withdrawn"],
    "payment": ["pending", "completed", "failed", "refunded"],
    "invoice": ["draft", "sent", "paid", "void"],
    "shipment": ["preparing", "shipped", "delivered", "returned"],
    "subscription": ["active", "paused", "cancelled"],
    "prescription": ["issued", "filled", "expired", "cancelled"],
    "admission": ["admitted", "discharged"],
    "transaction": ["pending", "completed", "reversed"],
    "visit": ["scheduled", "completed", "cancelled"],
    "fine": ["unpaid", "paid", "waived"],
    "complaint": ["open", "investigating", "resolved"],
    "exchange": ["requested", "approved", "completed", "rejected"],
}
DEFAULT_LIFECYCLE = ["open", "in_progress", "done", "cancelled"]
ALTERNATIVE_ENDS = words_of("cancelled rejected withdrawn void no_show waived failed expired")
"""Statuses a record reaches instead of finishing (the rest are steps, in order)."""

VERBS: dict[str, str] = {
    "cancelled": "cancel",
    "approved": "approve",
    "rejected": "reject",
    "shipped": "ship",
    "delivered": "deliver",
    "returned": "return",
    "confirmed": "confirm",
    "completed": "complete",
    "paid": "pay",
    "collected": "collect",
    "resolved": "resolve",
    "closed": "close",
    "waived": "waive",
    "withdrawn": "withdraw",
    "received": "receive",
    "in_progress": "start",
    "no_show": "mark_no_show",
    "paused": "pause",
    "fulfilled": "fulfil",
    "under_review": "review",
    "investigating": "investigate",
    "void": "void",
    "reversed": "reverse",
    "filled": "fill",
    "discharged": "discharge",
    "picked_up": "hand_over",
    "ready": "mark_ready",
    "refunded": "refund",
    "sent": "send",
    "active": "activate",
}
"""The verb that moves a record into a status (statuses a system sets itself, such as
``overdue`` or ``expired``, have none)."""

DATE_FIELDS: dict[str, str] = {
    "order": "placed_on",
    "refund": "requested_on",
    "return": "requested_on",
    "appointment": "scheduled_on",
    "loan": "due_on",
    "reservation": "reserved_on",
    "booking": "starts_on",
    "rental": "starts_on",
    "repair": "received_on",
    "ticket": "opened_on",
    "claim": "filed_on",
    "enrollment": "starts_on",
    "invoice": "issued_on",
}
"""The date a record of each kind carries (others get ``created_on``)."""


MONEY_FIELDS: dict[str, str] = {
    "order": "total",
    "sale": "total",
    "purchase": "total",
    "invoice": "amount",
    "refund": "amount",
    "return": "amount",
    "payment": "amount",
    "fine": "amount",
    "claim": "amount",
    "rental": "total",
    "booking": "total",
    "transaction": "amount",
    "repair": "quote",
}
"""The money a record of each kind carries (others carry none)."""


def money_field(record: str) -> str | None:
    one = singular(record)
    return MONEY_FIELDS.get(one) or MONEY_FIELDS.get(one.rsplit("_", 1)[-1])


def trade_of(head: str | None) -> Trade:
    return TRADES.get(head or "", GENERAL)


def lifecycle(record: str) -> list[str]:
    """The statuses of a record table (plural or singular name), in order."""
    one = singular(record)
    return list(LIFECYCLES.get(one) or LIFECYCLES.get(one.rsplit("_", 1)[-1]) or DEFAULT_LIFECYCLE)


def date_field(record: str) -> str:
    one = singular(record)
    return DATE_FIELDS.get(one) or DATE_FIELDS.get(one.rsplit("_", 1)[-1]) or "created_on"


@dataclass(frozen=True)
class Transition:
    """An action over a lifecycle: set the status to ``value`` when it is ``allowed_from``."""

    verb: str
    value: str
    allowed_from: list[str]


def transitions(statuses: list[str]) -> list[Transition]:
    """At most two actions: the first step with a verb after the initial status (allowed
    from every earlier step), and the first alternative end (allowed from the first half of
    the steps): orders get ``pay`` (from pending) and ``cancel`` (from pending or paid)."""
    steps = [s for s in statuses if s not in ALTERNATIVE_ENDS]
    ends = [s for s in statuses if s in ALTERNATIVE_ENDS]
    found: list[Transition] = []
    for i, status in enumerate(steps[1:], 1):
        if status in VERBS:
            found.append(Transition(VERBS[status], status, steps[:i]))
            break
    for status in ends:
        if status in VERBS:
            half = steps[: max(1, (len(steps) + 1) // 2)]
            found.append(Transition(VERBS[status], status, half))
            break
    return found


THING_NAMES: dict[str, list[str]] = {
    "product": [
        "Stainless steel water bottle", "Merino wool beanie", "Bamboo cutting board",
        "Wireless earbuds", "Canvas tote bag", "Ceramic pour-over set", "LED desk lamp",
        "Cast iron skillet", "Linen tea towel set", "Insulated lunch box",
    ],
    "bike": [
        "Trek FX 3 Disc", "Giant Escape 2", "Specialized Sirrus X 2.0", "Brompton C Line",
        "Cannondale Quick 4", "Canyon Roadlite 6", "Cube Nature EXC", "Gazelle Ultimate C8",
        "Riese & Müller Charger4", "Scott Scale 970",
    ],
    "book": [
        "The Left Hand of Darkness", "Middlemarch", "Beloved", "The Remains of the Day",
        "Things Fall Apart", "A Gentleman in Moscow", "The Name of the Rose", "Persuasion",
        "The Overstory", "Never Let Me Go",
    ],
    "room": [
        "Room 104 (double, garden view)", "Room 212 (twin)", "Room 305 (king, sea view)",
        "Room 118 (single)", "Suite 401", "Room 227 (family)", "Room 319 (double, balcony)",
        "Room 133 (accessible double)",
    ],
    "treatment": [
        "Check-up and clean", "Composite filling", "Root canal treatment", "Crown fitting",
        "Teeth whitening", "Wisdom tooth extraction", "Scale and polish", "Fissure sealant",
        "Night guard fitting",
    ],
    "class": [
        "Vinyasa Flow 60", "Yin Yoga", "Beginners' Hatha", "Power Pilates", "Morning Mobility",
        "Restorative Yoga", "HIIT Express", "Prenatal Yoga", "Ashtanga Led Primary",
    ],
    "car": [
        "Toyota Corolla Hybrid", "Ford Focus Estate", "Kia Niro EV", "Volkswagen Golf",
        "Renault Clio", "Skoda Octavia", "Tesla Model 3", "Fiat 500", "Peugeot 3008",
    ],
    "vehicle": [
        "2017 Ford Fiesta", "2020 Toyota RAV4", "2015 Volkswagen Polo", "2019 Honda Civic",
        "2021 Kia Sportage", "2016 BMW 320d", "2018 Nissan Leaf", "2014 Audi A3",
    ],
    "course": [
        "Introduction to Statistics", "Organic Chemistry I", "Academic Writing",
        "Linear Algebra", "Microeconomics", "Data Structures", "Modern European History",
        "Spanish B1",
    ],
    "service": [
        "Cut and blow-dry", "Full head highlights", "Beard trim", "Deep-tissue massage",
        "Manicure", "Facial treatment", "Root touch-up", "Hot stone massage",
    ],
    "table": [
        "Table 4 (window, two)", "Table 12 (booth, four)", "Table 7 (terrace, two)",
        "Table 15 (six)", "Table 2 (bar seating)", "Table 9 (corner, four)",
        "Private dining room",
    ],
    "flight": [
        "LH 2031 Munich-Lisbon", "BA 482 London-Madrid", "KL 1604 Amsterdam-Oslo",
        "AF 1248 Paris-Rome", "IB 3171 Madrid-Porto", "SK 905 Copenhagen-Chicago",
        "TP 1335 Lisbon-Zurich",
    ],
    "medicine": [
        "Amoxicillin 500 mg", "Ibuprofen 400 mg", "Loratadine 10 mg", "Omeprazole 20 mg",
        "Salbutamol inhaler", "Metformin 850 mg", "Cetirizine 10 mg", "Paracetamol 1 g",
    ],
    "account": [
        "Everyday current account", "Easy-access savings", "Joint current account",
        "Fixed-rate saver 2 years", "Student account", "Business current account",
        "ISA cash saver",
    ],
    "show": [
        "Hamlet (evening)", "The Nutcracker (matinee)", "Jazz at Midnight", "La Bohème",
        "Stand-up Friday", "Impressionist Gallery Tour", "Swan Lake (evening)",
    ],
    "pet": [
        "Biscuit (beagle)", "Luna (tabby cat)", "Max (labrador)", "Pepper (rabbit)",
        "Milo (border collie)", "Nala (siamese cat)", "Rocky (boxer)", "Kiwi (budgie)",
    ],
}  # fmt: skip
"""Names as catalogs and records give them, for the things of common trades (the
embedded model numbered them: ``Bike 1`` .. ``Bike 8``). Keyed by singular."""


THING_PRICES: dict[str, tuple[float, float] | None] = {
    "product": (6, 180),
    "bike": (450, 3200),
    "book": None,
    "room": (79, 320),
    "treatment": (45, 950),
    "class": (12, 28),
    "car": (35, 120),
    "vehicle": None,
    "course": (180, 1400),
    "service": (25, 160),
    "table": None,
    "flight": (59, 640),
    "medicine": (4, 60),
    "account": None,
    "show": (18, 95),
    "pet": None,
}
"""What a thing of each kind costs, from lowest to highest (``None``: it has no price)."""


def thing_price(table: str, offers: str) -> tuple[float, float] | None:
    """The price range of a table of things, ``None`` when it has no price: known kinds
    from THING_PRICES, others priced unless the business lends or repairs them."""
    one = singular(table)
    for key in (one, one.rsplit("_", 1)[-1]):
        if key in THING_PRICES:
            return THING_PRICES[key]
    return None if offers in ("lends", "repairs") else (9.0, 480.0)


def thing_names(table: str) -> list[str]:
    """Realistic names for the rows of a table of things (``bikes``), or [] if unknown."""
    one = singular(table)
    return list(THING_NAMES.get(one) or THING_NAMES.get(one.rsplit("_", 1)[-1]) or [])
