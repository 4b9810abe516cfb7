"""Print the order count."""

import sqlite3
import sys

conn = sqlite3.connect(sys.argv[1])
print(conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0])
