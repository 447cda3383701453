"""Migration state that must survive restarts and be shared by replicas: a tiny SQLite store.

Values are JSON. Every read goes to the file, so a second proxy (or the CLI) reading
the same file sees the same phase.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson


class StateStore:
    """A durable key -> JSON value map."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL)"
        )

    def get(self, key: str, default: Any = None) -> Any:
        row = self._conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return default if row is None else orjson.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        self._conn.execute(
            "INSERT INTO state (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, orjson.dumps(value)),
        )

    def items(self, prefix: str) -> list[tuple[str, Any]]:
        """Every key starting with ``prefix`` and its value, in the order they were first put."""
        rows = self._conn.execute(
            "SELECT key, value FROM state WHERE substr(key, 1, ?) = ? ORDER BY rowid",
            (len(prefix), prefix),
        ).fetchall()
        return [(key, orjson.loads(value)) for key, value in rows]

    def delete(self, key: str) -> None:
        self._conn.execute("DELETE FROM state WHERE key = ?", (key,))

    def close(self) -> None:
        self._conn.close()
