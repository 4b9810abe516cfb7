"""Rebuild shop.sqlite deterministically: python examples/data_analyst/data/build_shop_db.py"""

import sqlite3
from pathlib import Path

HERE = Path(__file__).parent
CUSTOMERS = [(1, "Ada", "Oslo"), (2, "Ben", "Lyon"), (3, "Chloé", "Oslo"), (4, "Dev", "Pune")]
PRODUCTS = [
    (1, "Trail bike", "bikes", 899.0),
    (2, "City bike", "bikes", 549.0),
    (3, "Helmet", "gear", 59.0),
    (4, "Lock", "gear", 35.0),
    (5, "Tune-up", "service", 80.0),
]
ORDERS = [
    (1, 1, "2026-01-05", "delivered"),
    (2, 2, "2026-01-19", "delivered"),
    (3, 1, "2026-02-02", "returned"),
    (4, 3, "2026-02-14", "delivered"),
    (5, 4, "2026-03-01", "pending"),
]
ITEMS = [(1, 1, 1), (1, 3, 1), (2, 2, 1), (2, 4, 2), (3, 3, 1), (4, 5, 1), (4, 4, 1), (5, 2, 1)]


def build(path: Path) -> None:
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT);
            CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
                                   category TEXT NOT NULL, price REAL NOT NULL);
            CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers,
                                 ordered_at TEXT NOT NULL, status TEXT NOT NULL);
            CREATE TABLE order_items (order_id INTEGER REFERENCES orders,
                                      product_id INTEGER REFERENCES products,
                                      quantity INTEGER NOT NULL);
            """
        )
        db.executemany("INSERT INTO customers VALUES (?, ?, ?)", CUSTOMERS)
        db.executemany("INSERT INTO products VALUES (?, ?, ?, ?)", PRODUCTS)
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", ORDERS)
        db.executemany("INSERT INTO order_items VALUES (?, ?, ?)", ITEMS)
    db.close()


if __name__ == "__main__":
    build(HERE / "shop.sqlite")
