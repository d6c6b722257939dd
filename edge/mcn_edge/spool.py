"""Durable, ordered on-disk spool of accepted events (SQLite in WAL mode).

An event is committed here before the signalling answer is sent back, and leaves only
when its batch was acknowledged by the target. `synchronous=FULL` makes every commit
survive a power cut as well as a killed process.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    spooled_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_kind ON events (kind, id);
"""


@dataclass(frozen=True, slots=True)
class SpooledEvent:
    id: int
    kind: str
    body: dict


class Spool:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def append(self, items: list[tuple[str, dict]]) -> list[int]:
        """Commit events (kind, body) atomically, in order; return their ids."""
        if not items:
            return []
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                ids = [
                    self._db.execute(
                        "INSERT INTO events (kind, body, spooled_at) VALUES (?, ?, ?)",
                        (kind, json.dumps(body, sort_keys=True), now),
                    ).lastrowid
                    for kind, body in items
                ]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return ids

    def peek(self, kind: str, limit: int) -> list[SpooledEvent]:
        """The oldest `limit` events of a kind, in spool order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kind, body FROM events WHERE kind = ? ORDER BY id LIMIT ?", (kind, limit)
            ).fetchall()
        return [SpooledEvent(row[0], row[1], json.loads(row[2])) for row in rows]

    def oldest_id(self, kind: str) -> int | None:
        """The spool id of the oldest event of a kind still waiting, or None."""
        with self._lock:
            row = self._db.execute("SELECT min(id) FROM events WHERE kind = ?", (kind,)).fetchone()
        return row[0]

    def remove(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._lock:
            self._db.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in ids])

    def depth(self, kind: str | None = None) -> int:
        with self._lock:
            if kind is None:
                return self._db.execute("SELECT count(*) FROM events").fetchone()[0]
            return self._db.execute("SELECT count(*) FROM events WHERE kind = ?", (kind,)).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
