"""Tools of the bike shop: reads and writes over data/shop.sqlite and the receipts folder.

Each function receives the run's own copy of the state (``state``); the model never sees
that parameter. Writes use the run's clock and ids, so a replay writes the same values.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from nexforge.tools import ToolInputError
from nexforge.tools.environment import EnvState, env_tool

Category = Literal["bikes", "gear", "service"]
OrderStatus = Literal["placed", "shipped", "delivered", "cancelled"]
GOLD_BIKE_DISCOUNT_PERCENT = 10


class OrderLine(BaseModel):
    sku: str = Field(description="Product SKU, e.g. GR-LOCK.")
    quantity: int = Field(ge=1, le=10)


def _rows(state: EnvState, sql: str, *params: Any) -> list[dict[str, Any]]:
    cursor = state.db.execute(sql, params)
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _one(state: EnvState, sql: str, *params: Any, missing: str) -> dict[str, Any]:
    rows = _rows(state, sql, *params)
    if not rows:
        raise ToolInputError(missing)
    return rows[0]


@env_tool(read_only=True)
def find_customer(state: EnvState, query: str) -> list[dict[str, Any]]:
    """Find customers whose name or email contains the text (case-insensitive).

    Args:
        query: Part of a name or an email address.
    """
    pattern = f"%{query.strip()}%"
    return _rows(
        state,
        "SELECT id, name, email, city, tier FROM customers "
        "WHERE name LIKE ? OR email LIKE ? ORDER BY id",
        pattern,
        pattern,
    )


@env_tool(read_only=True)
def get_customer(state: EnvState, customer_id: int) -> dict[str, Any]:
    """One customer with their tier.

    Args:
        customer_id: The customer's id.
    """
    return _one(
        state,
        "SELECT id, name, email, city, tier FROM customers WHERE id = ?",
        customer_id,
        missing=f"no customer with id {customer_id}",
    )


@env_tool(read_only=True)
def get_order(state: EnvState, order_id: int) -> dict[str, Any]:
    """One order with its items, notes and refunds.

    Args:
        order_id: The order number, e.g. 1003.
    """
    order = _one(
        state, "SELECT * FROM orders WHERE id = ?", order_id, missing=f"no order {order_id}"
    )
    order["items"] = _rows(
        state,
        "SELECT sku, quantity, unit_price_cents FROM order_items WHERE order_id = ? ORDER BY sku",
        order_id,
    )
    order["notes"] = _rows(
        state, "SELECT body, created_at FROM notes WHERE order_id = ? ORDER BY id", order_id
    )
    order["refunds"] = _rows(
        state, "SELECT id, amount_cents, reason FROM refunds WHERE order_id = ?", order_id
    )
    return order


@env_tool(read_only=True)
def list_orders(
    state: EnvState, customer_id: int, status: OrderStatus | None = None
) -> list[dict[str, Any]]:
    """A customer's orders, newest first.

    Args:
        customer_id: The customer's id.
        status: Only orders with this status.
    """
    sql = "SELECT id, status, created_at, total_cents FROM orders WHERE customer_id = ?"
    params: list[Any] = [customer_id]
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    return _rows(state, sql + " ORDER BY created_at DESC, id DESC", *params)


@env_tool(read_only=True)
def search_products(
    state: EnvState, query: str = "", category: Category | None = None, in_stock_only: bool = False
) -> list[dict[str, Any]]:
    """Products whose name or SKU contains the text, with price and stock.

    Args:
        query: Part of a product name or SKU; empty for all.
        category: Only this category.
        in_stock_only: Leave out products with no stock.
    """
    sql = "SELECT sku, name, category, price_cents, stock FROM products "
    sql += "WHERE (name LIKE ? OR sku LIKE ?)"
    params: list[Any] = [f"%{query}%", f"%{query}%"]
    if category is not None:
        sql += " AND category = ?"
        params.append(category)
    if in_stock_only:
        sql += " AND stock > 0"
    return _rows(state, sql + " ORDER BY sku", *params)


@env_tool
def create_order(state: EnvState, customer_id: int, items: list[OrderLine]) -> dict[str, Any]:
    """Place an order; takes the items from stock and writes a receipt.

    Gold-tier customers get 10% off bikes.

    Args:
        customer_id: The customer's id.
        items: What to order: SKU and quantity per line (one line per SKU).
    """
    customer = get_customer(state, customer_id)
    if not items:
        raise ToolInputError("an order needs at least one item")
    if len({line.sku for line in items}) != len(items):
        raise ToolInputError("list each SKU once")
    lines: list[tuple[OrderLine, int]] = []
    for line in items:
        product = _one(
            state,
            "SELECT category, price_cents, stock FROM products WHERE sku = ?",
            line.sku,
            missing=f"no product with SKU {line.sku}",
        )
        if product["stock"] < line.quantity:
            raise ToolInputError(f"{line.sku}: only {product['stock']} in stock")
        price = product["price_cents"]
        if customer["tier"] == "gold" and product["category"] == "bikes":
            price -= price * GOLD_BIKE_DISCOUNT_PERCENT // 100
        lines.append((line, price))
    total = sum(line.quantity * price for line, price in lines)
    now = state.clock.iso()
    order_id = state.db.execute(
        "INSERT INTO orders (customer_id, status, created_at, total_cents) "
        "VALUES (?, 'placed', ?, ?)",
        (customer_id, now, total),
    ).lastrowid
    for line, price in lines:
        state.db.execute(
            "INSERT INTO order_items VALUES (?, ?, ?, ?)",
            (order_id, line.sku, line.quantity, price),
        )
        state.db.execute(
            "UPDATE products SET stock = stock - ? WHERE sku = ?", (line.quantity, line.sku)
        )
    receipt = [f"Spokes & Sprockets - receipt for order {order_id}"]
    receipt.append(f"Customer: {customer['name']} ({customer['email']})")
    receipt.append(f"Date: {now}")
    receipt += [f"  {ln.quantity} x {ln.sku} @ {price / 100:.2f}" for ln, price in lines]
    receipt.append(f"Total: {total / 100:.2f}")
    # Files last: the database part of a failed call is rolled back, files are not.
    state.file(f"receipts/order-{order_id}.txt").write_bytes(("\n".join(receipt) + "\n").encode())
    return {"order_id": order_id, "status": "placed", "created_at": now, "total_cents": total}


@env_tool
def cancel_order(state: EnvState, order_id: int, reason: str) -> dict[str, Any]:
    """Cancel a placed order: refund it in full and put the items back in stock.

    Only orders with status 'placed' can be cancelled.

    Args:
        order_id: The order number.
        reason: Why the customer cancels (kept with the refund).
    """
    order = get_order(state, order_id)
    if order["status"] != "placed":
        raise ToolInputError(
            f"order {order_id} is {order['status']}; only placed orders can be cancelled"
        )
    now = state.clock.iso()
    state.db.execute("UPDATE orders SET status = 'cancelled' WHERE id = ?", (order_id,))
    for item in order["items"]:
        state.db.execute(
            "UPDATE products SET stock = stock + ? WHERE sku = ?", (item["quantity"], item["sku"])
        )
    refund_id = state.ids.next("RF")
    state.db.execute(
        "INSERT INTO refunds VALUES (?, ?, ?, ?, ?)",
        (refund_id, order_id, order["total_cents"], reason, now),
    )
    return {"order_id": order_id, "status": "cancelled", "refund_id": refund_id}


@env_tool
def add_note(state: EnvState, order_id: int, body: str) -> dict[str, Any]:
    """Add an internal note to an order (what the customer asked, what was agreed).

    Args:
        order_id: The order number.
        body: The note, one or two sentences.
    """
    _one(state, "SELECT id FROM orders WHERE id = ?", order_id, missing=f"no order {order_id}")
    now = state.clock.iso()
    note_id = state.db.execute(
        "INSERT INTO notes (order_id, body, created_at) VALUES (?, ?, ?)", (order_id, body, now)
    ).lastrowid
    return {"note_id": note_id, "order_id": order_id, "created_at": now}
