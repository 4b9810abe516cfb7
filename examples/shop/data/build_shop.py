"""Rebuild shop.sqlite deterministically: python examples/shop/data/build_shop.py

The built file is committed; this script is the source of truth for its content.
"""

import sqlite3
from pathlib import Path

HERE = Path(__file__).parent
SCHEMA = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    city TEXT NOT NULL,
    tier TEXT NOT NULL CHECK (tier IN ('standard', 'gold'))
);
CREATE TABLE products (
    sku TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    stock INTEGER NOT NULL CHECK (stock >= 0)
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers,
    status TEXT NOT NULL CHECK (status IN ('placed', 'shipped', 'delivered', 'cancelled')),
    created_at TEXT NOT NULL,
    total_cents INTEGER NOT NULL
);
CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders,
    sku TEXT NOT NULL REFERENCES products,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL,
    PRIMARY KEY (order_id, sku)
);
CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders,
    amount_cents INTEGER NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""
CUSTOMERS = [
    (1, "Ada Lind", "ada@example.com", "Oslo", "gold"),
    (2, "Ben Okafor", "ben@example.com", "Lyon", "standard"),
    (3, "Chloé Martin", "chloe@example.com", "Oslo", "standard"),
    (4, "Dev Rao", "dev@example.com", "Pune", "gold"),
]
PRODUCTS = [
    ("BK-TRAIL", "Trail bike", "bikes", 89900, 3),
    ("BK-CITY", "City bike", "bikes", 54900, 5),
    ("GR-HELMET", "Helmet", "gear", 5900, 12),
    ("GR-LOCK", "D-lock", "gear", 3500, 20),
    ("GR-LIGHTS", "Light set", "gear", 2900, 0),
    ("SV-TUNEUP", "Tune-up", "service", 8000, 99),
]
ORDERS = [
    (1001, 1, "delivered", "2025-11-03T10:15:00Z", 95800),
    (1002, 2, "shipped", "2025-12-18T16:40:00Z", 61900),
    (1003, 3, "placed", "2025-12-30T09:05:00Z", 5900),
    (1004, 4, "placed", "2025-12-31T11:20:00Z", 8000),
]
ITEMS = [
    (1001, "BK-TRAIL", 1, 89900),
    (1001, "GR-HELMET", 1, 5900),
    (1002, "BK-CITY", 1, 54900),
    (1002, "GR-LOCK", 2, 3500),
    (1003, "GR-HELMET", 1, 5900),
    (1004, "SV-TUNEUP", 1, 8000),
]
NOTES = [(1, 1002, "Customer asked for delivery after 17:00.", "2025-12-18T16:45:00Z")]


def build(path: Path) -> None:
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    with db:
        db.executescript(SCHEMA)
        db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?)", CUSTOMERS)
        db.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?)", PRODUCTS)
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", ORDERS)
        db.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?)", ITEMS)
        db.executemany("INSERT INTO notes VALUES (?, ?, ?, ?)", NOTES)
    db.close()


if __name__ == "__main__":
    build(HERE / "shop.sqlite")
