"""The labelled set: hand-built rollouts on two frameworks, each labelled ``good`` or with
the kind of junk it is. A reviewer would accept every ``good`` one as training data and
reject every other one. The cascade's default export filter is held to this set
(``test_labelled_set.py``) and its precision and recall per kind are reported by
``benchmarks/labelled_set.py``.

Junk kinds: the ones the data-quality issue names (list queries, tool traces, template
residue, instructions to the model, queries holding their own answer, write types that ask
for no change, answers that restate the query, answers from memory, invented values,
claimed but unmade changes, the wrong record changed, off-topic tools, no checkable
expectation) and the ones the cascade caught before (invalid calls, loops, runs cut off).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from run_builder import Answer, Call, Delegate, Hierarchy, Step

GOOD = "good"


@dataclass(frozen=True)
class Case:
    name: str
    label: str
    framework: str
    query: str
    steps: Sequence[Step]
    facts: Sequence[str] = ()
    calls: Sequence[Call] | None = None
    """Reference calls (a write type); ``[]`` expects no change; None: not a write type."""
    hash_from_calls: bool = True
    """False: a hand-written query with reference calls and no state hash."""
    no_expectation: bool = False
    type_tools: Sequence[str] = ()
    difficulty: str = "easy"
    stop_reason: str = "completed"
    meta: dict[str, Any] = field(default_factory=dict)


SHOP = Hierarchy(
    entry="lead",
    tools={"lead": ["find_customer"], "orders": ["*"], "catalog": ["search_products"]},
    sub_agents={"lead": ["orders", "catalog"]},
)
LIBRARY = Hierarchy(
    entry="lead",
    tools={"lead": ["search_members"], "loans": ["*"]},
    sub_agents={"lead": ["loans"]},
)
HIERARCHIES = {"shop": SHOP, "library": LIBRARY}

STATUS_TOOLS = ("find_customer", "list_orders", "get_order")
CANCEL_TOOLS = ("get_order", "cancel_order")


def _order_id(results: list[Any]) -> Any:
    return next(r["order_id"] for r in results if isinstance(r, dict) and "order_id" in r)


SHOP_CASES = [
    Case(
        "order status",
        GOOD,
        "shop",
        "Hi, could you check where my order 1002 is? It was a city bike and a lock.",
        [
            Delegate(
                "orders",
                "Where is order 1002?",
                [
                    Call("get_order", order_id=1002),
                    Answer("Order 1002 is shipped, total 619.00 EUR."),
                ],
            ),
            Answer(
                "Your order 1002 has shipped: one City bike and two D-locks, 619.00 EUR in total."
            ),
        ],
        facts=["shipped"],
        type_tools=STATUS_TOOLS,
    ),
    Case(
        "terse status",
        GOOD,
        "shop",
        "What's the status of order 1002?",
        [
            Delegate(
                "orders",
                "Status of order 1002?",
                [Call("get_order", order_id=1002), Answer("Order 1002 is shipped.")],
            ),
            Answer("Order 1002 is shipped."),
        ],
        facts=["shipped"],
        type_tools=STATUS_TOOLS,
    ),
    Case(
        "note written for a question",
        "writes for a question",
        "shop",
        "Has my order 1002 left the warehouse yet? I need it by Friday.",
        [
            Delegate(
                "orders",
                "Has order 1002 shipped?",
                [
                    Call("get_order", order_id=1002),
                    Call("add_note", order_id=1002, body="Customer needs it by Friday."),
                    Answer("Order 1002 is shipped."),
                ],
            ),
            Answer("Yes, order 1002 has shipped, so it should reach you before Friday."),
        ],
        facts=["shipped"],
        type_tools=STATUS_TOOLS,
    ),
    Case(
        "order contents",
        GOOD,
        "shop",
        "What exactly did I buy in order 1001? I can't find the receipt anywhere.",
        [
            Delegate(
                "orders",
                "List the items of order 1001.",
                [Call("get_order", order_id=1001), Answer("BK-TRAIL 899.00, GR-HELMET 59.00.")],
            ),
            Answer(
                "Order 1001 held one trail bike (BK-TRAIL, 899.00 EUR) and one helmet "
                "(GR-HELMET, 59.00 EUR), 958.00 EUR in total."
            ),
        ],
        facts=["BK-TRAIL", "GR-HELMET"],
        type_tools=("get_order",),
    ),
    Case(
        "cancel an order",
        GOOD,
        "shop",
        "Please cancel my order 1003, I ordered the helmet twice by mistake.",
        [
            Delegate(
                "orders",
                "Cancel order 1003: ordered twice by mistake.",
                [
                    Call("get_order", order_id=1003),
                    Call("cancel_order", order_id=1003, reason="ordered twice by mistake"),
                    Answer("Order 1003 cancelled, refund issued."),
                ],
            ),
            Answer("Done: order 1003 is cancelled and the 59.00 EUR refund is on its way."),
        ],
        calls=[Call("cancel_order", order_id=1003, reason="ordered twice by mistake")],
        type_tools=CANCEL_TOOLS,
        difficulty="medium",
    ),
    Case(
        "note on an order",
        GOOD,
        "shop",
        "Could you add a note to order 1004 that I'll bring the bike in on Saturday morning?",
        [
            Delegate(
                "orders",
                "Add a note to order 1004: customer brings the bike in on Saturday morning.",
                [
                    Call(
                        "add_note",
                        order_id=1004,
                        body="Customer brings the bike in on Saturday morning.",
                    ),
                    Answer("Note added to order 1004."),
                ],
            ),
            Answer(
                "I've added the note to order 1004: you'll bring the bike in on Saturday morning."
            ),
        ],
        calls=[
            Call("add_note", order_id=1004, body="Customer brings the bike in on Saturday morning.")
        ],
        type_tools=("get_order", "add_note"),
    ),
    Case(
        "stock of a product",
        GOOD,
        "shop",
        "Do you have any D-locks in stock at the moment? I need one this week.",
        [
            Delegate(
                "catalog",
                "Is the D-lock in stock?",
                [
                    Call("search_products", query="D-lock"),
                    Answer("D-lock GR-LOCK: 20 in stock, 35.00 EUR."),
                ],
            ),
            Answer("Yes, we have 20 D-locks in stock at 35.00 EUR each."),
        ],
        facts=["20"],
        type_tools=("search_products",),
    ),
    Case(
        "out of stock",
        GOOD,
        "shop",
        "Are the light sets back in stock yet? I'd like to fit lights before winter.",
        [
            Delegate(
                "catalog",
                "Stock of the light set?",
                [
                    Call("search_products", query="Light"),
                    Answer("Light set GR-LIGHTS: 0 in stock."),
                ],
            ),
            Answer("Sorry, the Light set (GR-LIGHTS) is out of stock: we have 0 at the moment."),
        ],
        facts=["GR-LIGHTS"],
        type_tools=("search_products",),
    ),
    Case(
        "customer city",
        GOOD,
        "shop",
        "Which city does the customer with the email ben@example.com live in? It's for a delivery form.",
        [Call("find_customer", query="ben@example.com"), Answer("Ben Okafor lives in Lyon.")],
        facts=["Lyon"],
        type_tools=("find_customer", "get_customer"),
    ),
    Case(
        "membership tier",
        GOOD,
        "shop",
        "What membership tier is Dev Rao on, and does it get him anything off bikes?",
        [
            Call("find_customer", query="Dev Rao"),
            Answer("Dev Rao is a gold member, which gives 10% off bikes."),
        ],
        facts=["gold"],
        type_tools=("find_customer", "get_customer"),
    ),
    Case(
        "place an order",
        GOOD,
        "shop",
        "I'd like to order two helmets for Ada Lind, please: one for her and one for her son.",
        [
            Call("find_customer", query="Ada Lind"),
            Delegate(
                "orders",
                "Order two helmets (GR-HELMET) for customer 1, Ada Lind.",
                [
                    Call(
                        "create_order", customer_id=1, items=[{"sku": "GR-HELMET", "quantity": 2}]
                    ),
                    Answer(lambda r: f"Placed order {_order_id(r)}, total 118.00 EUR."),
                ],
            ),
            Answer("I've placed the order for two helmets for Ada Lind; the total is 118.00 EUR."),
        ],
        calls=[Call("create_order", customer_id=1, items=[{"sku": "GR-HELMET", "quantity": 2}])],
        type_tools=("find_customer", "search_products", "create_order"),
        difficulty="medium",
    ),
    Case(
        "refused cancellation",
        GOOD,
        "shop",
        "Please cancel order 1002, I don't need the lock anymore.",
        [
            Delegate(
                "orders",
                "Cancel order 1002.",
                [
                    Call("get_order", order_id=1002),
                    Answer("Order 1002 is shipped; only placed orders can be cancelled."),
                ],
            ),
            Answer(
                "I'm sorry, order 1002 has already shipped, so it can no longer be cancelled. "
                "You can return the lock once it arrives."
            ),
        ],
        facts=["shipped"],
        calls=[],
        type_tools=CANCEL_TOOLS,
        difficulty="hard",
    ),
    Case(
        "order history",
        GOOD,
        "shop",
        "Can you list the orders Chloé Martin has placed with you so far?",
        [
            Call("find_customer", query="Chloé"),
            Delegate(
                "orders",
                "Orders of customer 3?",
                [Call("list_orders", customer_id=3), Answer("One order: 1003, placed, 59.00 EUR.")],
            ),
            Answer("Chloé Martin has one order so far: 1003, placed on 2025-12-30 for 59.00 EUR."),
        ],
        facts=["1003"],
        type_tools=("find_customer", "list_orders"),
    ),
    Case(
        "hand-written cancellation",
        GOOD,
        "shop",
        "Cancel order 1004 please, I booked the tune-up by mistake.",
        [
            Delegate(
                "orders",
                "Cancel order 1004, booked by mistake.",
                [
                    Call("get_order", order_id=1004),
                    Call("cancel_order", order_id=1004, reason="booked by mistake"),
                    Answer("Order 1004 cancelled."),
                ],
            ),
            Answer("Order 1004 is cancelled; the 80.00 EUR for the tune-up will be refunded."),
        ],
        calls=[Call("cancel_order", order_id=1004, reason="booked by mistake")],
        hash_from_calls=False,
        type_tools=CANCEL_TOOLS,
    ),
    # --- junk ---------------------------------------------------------------------------
    Case(
        "query is a list of names",
        "list query",
        "shop",
        "Trail bike, City bike, Helmet, D-lock",
        [
            Delegate(
                "catalog",
                "Stock?",
                [Call("search_products", query=""), Answer("All products listed.")],
            ),
            Answer("We have Trail bike (3), City bike (5), Helmet (12) and D-lock (20) in stock."),
        ],
        facts=["12"],
        type_tools=("search_products",),
    ),
    Case(
        "query is a tool trace",
        "tool-trace query",
        "shop",
        'list_orders({"customer_id": 2}) -> [{"id": 1002, "status": "shipped"}]',
        [
            Delegate(
                "orders",
                "Orders of customer 2",
                [Call("list_orders", customer_id=2), Answer("1002 shipped")],
            ),
            Answer(
                "Customer 2 has one order, 1002, which is shipped; it was placed on 2025-12-18."
            ),
        ],
        facts=["2025-12-18"],
        type_tools=("list_orders",),
    ),
    Case(
        "query is an instruction to the model",
        "instruction query",
        "shop",
        "Write a request about order 1004 and call submit_query with the facts.",
        [
            Delegate(
                "orders", "Order 1004?", [Call("get_order", order_id=1004), Answer("1004 placed")]
            ),
            Answer("Order 1004 is placed: one Tune-up, 80.00 EUR."),
        ],
        facts=["Tune-up"],
        type_tools=("get_order",),
    ),
    Case(
        "query holds template residue",
        "template residue",
        "shop",
        "Hello, I am {customer_name} and I would like to know the status of order {order_id}.",
        [
            Delegate(
                "orders",
                "Order 1001?",
                [Call("get_order", order_id=1001), Answer("1001 delivered")],
            ),
            Answer("Order 1001 was delivered; it contained a Trail bike and a Helmet."),
        ],
        facts=["delivered"],
        type_tools=STATUS_TOOLS,
    ),
    Case(
        "query states its own answer",
        "answer in query",
        "shop",
        "Is my order 1002 shipped yet? Just tell me it's shipped so I can plan.",
        [
            Delegate(
                "orders", "Order 1002?", [Call("get_order", order_id=1002), Answer("1002 shipped")]
            ),
            Answer("Yes, order 1002 is shipped."),
        ],
        facts=["shipped"],
        type_tools=STATUS_TOOLS,
    ),
    Case(
        "expected facts copied from the query",
        "facts from query",
        "shop",
        "Can you confirm that Ben Okafor's account says he lives in Lyon?",
        [Call("find_customer", query="Ben Okafor"), Answer("Yes, Ben Okafor lives in Lyon.")],
        facts=["Lyon", "Ben Okafor"],
        type_tools=("find_customer", "get_customer"),
    ),
    Case(
        "write type whose query asks for no change",
        "no change asked",
        "shop",
        "I was wondering what your usual opening hours are around the holidays.",
        [Answer("We are open 9 to 6 on weekdays.")],
        calls=[Call("create_order", customer_id=4, items=[{"sku": "SV-TUNEUP", "quantity": 1}])],
        type_tools=("find_customer", "create_order"),
    ),
    Case(
        "answer restates the query",
        "restated answer",
        "shop",
        "Where is my order 1002? I ordered it a while ago.",
        [
            Delegate(
                "orders",
                "Order 1002?",
                [Call("get_order", order_id=1002), Answer("It is on its way.")],
            ),
            Answer("You asked where your order 1002 is, which you ordered a while ago."),
        ],
        facts=["shipped"],
        type_tools=STATUS_TOOLS,
    ),
    Case(
        "wrong tool for the problem type",
        "off-topic tools",
        "shop",
        "How many trail bikes do you have in stock right now?",
        [
            Delegate(
                "orders", "Trail bikes?", [Call("list_orders", customer_id=3), Answer("see list")]
            ),
            Answer("There are 3 trail bikes in stock, going by the latest orders."),
        ],
        facts=["3"],
        type_tools=("search_products",),
    ),
    Case(
        "answer from memory",
        "answered from memory",
        "shop",
        "Which city is Chloé Martin's account registered in? I want to check her address.",
        [Answer("Chloé Martin is registered in Oslo.")],
        facts=["Oslo"],
        type_tools=("find_customer", "get_customer"),
    ),
    Case(
        "invented amount",
        "invented values",
        "shop",
        "What's the status of order 1004, and how much did it come to?",
        [
            Delegate("orders", "Order 1004?", [Call("get_order", order_id=1004), Answer("placed")]),
            Answer("Order 1004 is placed and came to 95.00 EUR."),
        ],
        facts=["placed"],
        type_tools=STATUS_TOOLS,
    ),
    Case(
        "claims a cancellation it never made",
        "unmade change",
        "shop",
        "Please cancel my order 1004, I won't need the tune-up after all.",
        [
            Delegate(
                "orders",
                "Order 1004?",
                [Call("get_order", order_id=1004), Answer("1004 is placed.")],
            ),
            Answer("I have cancelled order 1004 and refunded the 80.00 EUR to your card."),
        ],
        calls=[Call("cancel_order", order_id=1004, reason="tune-up no longer needed")],
        type_tools=CANCEL_TOOLS,
    ),
    Case(
        "cancels the wrong order",
        "wrong record",
        "shop",
        "Please cancel my order 1003, the helmet doesn't fit me.",
        [
            Delegate(
                "orders",
                "Cancel order 1003.",
                [
                    Call("cancel_order", order_id=1004, reason="helmet doesn't fit"),
                    Answer("Cancelled."),
                ],
            ),
            Answer("Order 1003 is cancelled and your refund is on its way."),
        ],
        calls=[Call("cancel_order", order_id=1003, reason="helmet doesn't fit")],
        type_tools=CANCEL_TOOLS,
    ),
    Case(
        "hand-written query, wrong order changed",
        "wrong record (no stored hash)",
        "shop",
        "Please cancel order 1004, the tune-up was booked for the wrong bike.",
        [
            Delegate(
                "orders",
                "Cancel order 1004.",
                [
                    Call("cancel_order", order_id=1003, reason="booked for the wrong bike"),
                    Answer("Done."),
                ],
            ),
            Answer("Order 1004 is cancelled; the refund will follow."),
        ],
        calls=[Call("cancel_order", order_id=1004, reason="booked for the wrong bike")],
        hash_from_calls=False,
        type_tools=CANCEL_TOOLS,
    ),
    Case(
        "nothing to check",
        "no expectation",
        "shop",
        "Could you tell me a little about the helmets you sell? I ride to work daily.",
        [
            Delegate(
                "catalog",
                "Helmets?",
                [Call("search_products", query="Helmet"), Answer("Helmet 59.00")],
            ),
            Answer("We sell one Helmet model (GR-HELMET) at 59.00 EUR, with 12 in stock."),
        ],
        no_expectation=True,
        type_tools=("search_products",),
    ),
    Case(
        "invalid call, never recovered",
        "invalid call",
        "shop",
        "Where is my order 1001? It has been a while since I heard anything.",
        [
            Delegate(
                "orders",
                "Order 1001?",
                [Call("get_order", order_id="one thousand and one"), Answer("It was delivered.")],
            ),
            Answer("Order 1001 was delivered."),
        ],
        facts=["delivered"],
        type_tools=STATUS_TOOLS,
    ),
    Case(
        "loops on one call",
        "loop",
        "shop",
        "What did order 1001 contain? I'd like to buy the same helmet again.",
        [
            Delegate(
                "orders",
                "Order 1001 contents?",
                [
                    Call("get_order", order_id=1001),
                    Call("get_order", order_id=1001),
                    Call("get_order", order_id=1001),
                    Call("get_order", order_id=1001),
                    Answer("Trail bike and Helmet."),
                ],
            ),
            Answer("Order 1001 contained a Trail bike and a Helmet (GR-HELMET)."),
        ],
        facts=["Helmet"],
        type_tools=("get_order",),
    ),
    Case(
        "cut off at max steps",
        "cut off",
        "shop",
        "What tier is Ada Lind on? I'm asking before she buys a bike.",
        [Call("find_customer", query="Ada")],
        facts=["gold"],
        type_tools=("find_customer",),
        stop_reason="max_steps",
    ),
]

MAYA = Call("search_members", text="Maya Chen")
TOMAS = Call("search_members", text="Tomás")
KWAME = Call("search_members", text="Kwame Mensah")

LIBRARY_CASES = [
    Case(
        "loan due date",
        GOOD,
        "library",
        "When is my copy of Middlemarch due back? My card is under maya.chen@example.org.",
        [
            Call("search_members", text="maya.chen@example.org"),
            Delegate(
                "loans",
                "When is member 1's loan of Middlemarch due?",
                [
                    Call("list_loans", member_id=1),
                    Answer("Loan 1, book 2, active, due 2026-12-10."),
                ],
            ),
            Answer("Your copy of Middlemarch is due back on 2026-12-10."),
        ],
        facts=["2026-12-10"],
        type_tools=("search_members", "list_loans", "get_loan"),
    ),
    Case(
        "renew a loan",
        GOOD,
        "library",
        "Could you renew my loan of Middlemarch? I'm Maya Chen and I need another week or two.",
        [
            MAYA,
            Delegate(
                "loans",
                "Renew member 1's loan of Middlemarch (book 2).",
                [
                    Call("list_loans", member_id=1),
                    Call("renew_loan", loan_id=1),
                    Answer("Loan 1 renewed."),
                ],
            ),
            Answer("I've renewed your loan of Middlemarch; it now shows as renewed."),
        ],
        calls=[Call("renew_loan", loan_id=1)],
        type_tools=("search_members", "list_loans", "renew_loan"),
        difficulty="medium",
    ),
    Case(
        "return a book",
        GOOD,
        "library",
        "I dropped The Overstory in the return box this morning, can you mark it as returned? It's Kwame Mensah.",
        [
            KWAME,
            Delegate(
                "loans",
                "Member 4 returned The Overstory (book 4).",
                [
                    Call("list_loans", member_id=4, book_id=4),
                    Call("return_loan", loan_id=6),
                    Answer("Loan 6 returned."),
                ],
            ),
            Answer("Thanks, Kwame: your loan of The Overstory (loan 6) is now marked as returned."),
        ],
        calls=[Call("return_loan", loan_id=6)],
        type_tools=("search_members", "list_loans", "return_loan"),
        difficulty="medium",
    ),
    Case(
        "refused renewal",
        GOOD,
        "library",
        "Can you renew my loan of Piranesi? This is Tomás Ruiz, I'm not quite finished with it.",
        [
            TOMAS,
            Delegate(
                "loans",
                "Renew member 2's loan of Piranesi (book 6).",
                [
                    Call("list_loans", member_id=2),
                    Call("renew_loan", loan_id=2),
                    Answer("Loan 2 is overdue and cannot be renewed."),
                ],
            ),
            Answer(
                "I couldn't renew your loan of Piranesi: it is overdue, and only active loans "
                "can be renewed. Please bring it back when you can."
            ),
        ],
        facts=["overdue"],
        calls=[],
        type_tools=("search_members", "list_loans", "renew_loan"),
        difficulty="hard",
    ),
    Case(
        "copies available",
        GOOD,
        "library",
        "Is there a copy of The Overstory I could borrow this week?",
        [
            Delegate(
                "loans",
                "Copies of The Overstory?",
                [
                    Call("search_books", text="Overstory"),
                    Answer("The Overstory: 3 copies available."),
                ],
            ),
            Answer("Yes, The Overstory by Richard Powers has 3 copies available right now."),
        ],
        facts=["3"],
        type_tools=("search_books", "get_book"),
    ),
    Case(
        "author of a book",
        GOOD,
        "library",
        "Who wrote Braiding Sweetgrass? I want to look for more of their books.",
        [
            Delegate(
                "loans",
                "Author of Braiding Sweetgrass?",
                [Call("search_books", text="Braiding"), Answer("Robin Wall Kimmerer.")],
            ),
            Answer("Braiding Sweetgrass is by Robin Wall Kimmerer."),
        ],
        facts=["Robin Wall Kimmerer"],
        type_tools=("search_books", "get_book"),
    ),
    Case(
        "member status",
        GOOD,
        "library",
        "Why can't Ingrid Holm borrow anything at the moment? She asked at the desk today.",
        [
            Call("search_members", text="Ingrid Holm"),
            Answer(
                "Ingrid Holm's membership is suspended, so she cannot borrow until it is active again."
            ),
        ],
        facts=["suspended"],
        type_tools=("search_members", "get_member"),
    ),
    Case(
        "overdue loans",
        GOOD,
        "library",
        "Which of my loans are overdue? I'm Tomás Ruiz and I've lost track.",
        [
            TOMAS,
            Delegate(
                "loans",
                "Overdue loans of member 2?",
                [
                    Call("list_loans", member_id=2, status="overdue"),
                    Call("get_book", book_id=6),
                    Answer("Loan 2: Piranesi, due 2026-11-28."),
                ],
            ),
            Answer("One loan is overdue: Piranesi by Susanna Clarke, which was due on 2026-11-28."),
        ],
        facts=["Piranesi"],
        type_tools=("search_members", "list_loans", "get_book"),
        difficulty="medium",
    ),
    Case(
        "new member",
        GOOD,
        "library",
        "Please sign up a new member for me: Lena Varga, lena.varga@example.org.",
        [
            Delegate(
                "loans",
                "Create member Lena Varga, lena.varga@example.org, active.",
                [
                    Call(
                        "create_member",
                        name="Lena Varga",
                        email="lena.varga@example.org",
                        status="active",
                    ),
                    Answer("Member 5 created."),
                ],
            ),
            Answer("Lena Varga is now a member (member 5), with an active card."),
        ],
        calls=[
            Call(
                "create_member", name="Lena Varga", email="lena.varga@example.org", status="active"
            )
        ],
        type_tools=("create_member",),
    ),
    Case(
        "new email",
        GOOD,
        "library",
        "Kwame Mensah has a new email address, kwame.m@example.net; could you update his record?",
        [
            KWAME,
            Delegate(
                "loans",
                "Set member 4's email to kwame.m@example.net.",
                [
                    Call("update_member", member_id=4, email="kwame.m@example.net"),
                    Answer("Updated."),
                ],
            ),
            Answer("Done: member 4, Kwame Mensah, now has the email kwame.m@example.net."),
        ],
        calls=[Call("update_member", member_id=4, email="kwame.m@example.net")],
        type_tools=("search_members", "update_member"),
    ),
    # --- junk ---------------------------------------------------------------------------
    Case(
        "query is a list of titles",
        "list query",
        "library",
        "Middlemarch, Piranesi, Pachinko",
        [
            Delegate("loans", "Books?", [Call("list_books"), Answer("Six books.")]),
            Answer("Middlemarch has 0 copies, Piranesi 0 and Pachinko 1."),
        ],
        facts=["Pachinko"],
        type_tools=("list_books",),
    ),
    Case(
        "query is a fragment",
        "fragment query",
        "library",
        "Kwame Mensah. The Overstory.",
        [
            KWAME,
            Delegate(
                "loans", "Loans of 4?", [Call("list_loans", member_id=4), Answer("Loan 6 active.")]
            ),
            Answer("Kwame Mensah's loan of The Overstory is due on 2026-12-20."),
        ],
        facts=["2026-12-20"],
        type_tools=("list_loans",),
    ),
    Case(
        "query states its due date",
        "answer in query",
        "library",
        "Is my loan of Middlemarch due on 2026-12-10? I'm Maya Chen, just checking.",
        [
            MAYA,
            Delegate(
                "loans", "Loans of 1?", [Call("list_loans", member_id=1), Answer("Due 2026-12-10.")]
            ),
            Answer("Yes, Maya, your loan of Middlemarch is due on 2026-12-10."),
        ],
        facts=["2026-12-10"],
        type_tools=("search_members", "list_loans"),
    ),
    Case(
        "claims a renewal it never made",
        "unmade change",
        "library",
        "Please renew my loan of The Overstory, I'm Kwame Mensah and I'm halfway through.",
        [
            KWAME,
            Delegate(
                "loans", "Loans of 4?", [Call("list_loans", member_id=4), Answer("Loan 6 active.")]
            ),
            Answer("I have renewed your loan of The Overstory, Kwame; enjoy the rest of it."),
        ],
        calls=[Call("renew_loan", loan_id=6)],
        type_tools=("search_members", "list_loans", "renew_loan"),
    ),
    Case(
        "renews the wrong loan",
        "wrong record",
        "library",
        "Could you renew The Overstory for me? Kwame Mensah here, I'm still reading it.",
        [
            KWAME,
            Delegate(
                "loans",
                "Renew loan of member 4.",
                [Call("renew_loan", loan_id=1), Answer("Renewed.")],
            ),
            Answer("Your loan of The Overstory is renewed, Kwame."),
        ],
        calls=[Call("renew_loan", loan_id=6)],
        type_tools=("search_members", "list_loans", "renew_loan"),
    ),
    Case(
        "author from memory",
        "answered from memory",
        "library",
        "Who wrote Pachinko? I'd like to recommend it to a friend of mine.",
        [Answer("Pachinko was written by Min Jin Lee.")],
        facts=["Min Jin Lee"],
        type_tools=("search_books", "get_book"),
    ),
    Case(
        "looks at loans for a book question",
        "off-topic tools",
        "library",
        "How many copies of Pachinko are available for borrowing right now?",
        [
            Delegate(
                "loans", "Pachinko?", [Call("list_loans", book_id=5), Answer("One loan, returned.")]
            ),
            Answer("There is 1 copy of Pachinko available."),
        ],
        facts=["1"],
        type_tools=("search_books", "get_book"),
    ),
    Case(
        "answer restates the question",
        "restated answer",
        "library",
        "Can you tell me when my Pachinko loan was due? I'm Maya Chen.",
        [
            MAYA,
            Delegate(
                "loans", "Loans of 1?", [Call("list_loans", member_id=1), Answer("Two loans.")]
            ),
            Answer("You'd like to know when your Pachinko loan was due, Maya Chen."),
        ],
        facts=["2026-11-20"],
        type_tools=("search_members", "list_loans"),
    ),
    Case(
        "invents a late fee",
        "invented values",
        "library",
        "When is Kwame Mensah's loan of The Overstory due back at the desk?",
        [
            KWAME,
            Delegate(
                "loans",
                "Loans of 4?",
                [Call("list_loans", member_id=4), Answer("Loan 6 due 2026-12-20.")],
            ),
            Answer("It is due on 2026-12-20, and after that the late fee is 45 cents a day."),
        ],
        facts=["2026-12-20"],
        type_tools=("search_members", "list_loans"),
    ),
    Case(
        "write type, thanks instead of a request",
        "no change asked",
        "library",
        "I really love the reading room upstairs, thank you all so much for it.",
        [Answer("Thank you, we are glad you enjoy it!")],
        calls=[Call("renew_loan", loan_id=1)],
        type_tools=("search_members", "renew_loan"),
    ),
    Case(
        "nothing to check (library)",
        "no expectation",
        "library",
        "What kind of books do you usually recommend for a long train journey?",
        [
            Delegate("loans", "Books?", [Call("list_books"), Answer("Six books.")]),
            Answer(
                "Piranesi by Susanna Clarke and Pachinko by Min Jin Lee are both good on a train."
            ),
        ],
        no_expectation=True,
        type_tools=("list_books",),
    ),
]

CASES: list[Case] = SHOP_CASES + LIBRARY_CASES
