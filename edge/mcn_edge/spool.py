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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    spooled_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_kind ON events (kind, id);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    spooled_at REAL NOT NULL,
    parked_at REAL NOT NULL,
    error TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class SpooledEvent:
    id: int
    kind: str
    body: dict


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    """An event the target kept failing on (a poison event), set aside with the last error."""

    id: int
    kind: str
    body: dict
    spooled_at: float
    parked_at: float
    error: str


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

    def peek(self, kind: str, limit: int, after_id: int = 0) -> list[SpooledEvent]:
        """The oldest `limit` events of a kind with an id above `after_id`, in spool order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kind, body FROM events WHERE kind = ? AND id > ? ORDER BY id LIMIT ?",
                (kind, after_id, limit),
            ).fetchall()
        return [SpooledEvent(row[0], row[1], json.loads(row[2])) for row in rows]

    def oldest_id(self, kind: str) -> int | None:
        """The spool id of the oldest event of a kind still waiting, or None."""
        with self._lock:
            row = self._db.execute("SELECT min(id) FROM events WHERE kind = ?", (kind,)).fetchone()
        return row[0]

    def remove(self, ids: list[int]) -> None:
        """Remove a forwarded batch in one transaction (one fsync per batch, not per event)."""
        if not ids:
            return
        with self._lock:
            self._transaction(lambda: self._db.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in ids]))

    # -- dead letters: events the target kept failing on, out of the flow, kept with their error --
    def park(self, event_id: int, error: str) -> bool:
        """Move a spooled event to the dead letters, atomically; False if it is no longer spooled."""

        def move() -> bool:
            moved = self._db.execute(
                "INSERT INTO dead_letters (id, kind, body, spooled_at, parked_at, error) "
                "SELECT id, kind, body, spooled_at, ?, ? FROM events WHERE id = ?",
                (time.time(), error, event_id),
            ).rowcount
            self._db.execute("DELETE FROM events WHERE id = ?", (event_id,))
            return moved > 0

        with self._lock:
            return self._transaction(move)

    def parked(self, kind: str | None = None, ids: list[int] | None = None) -> list[ParkedEvent]:
        """Parked events (all, of a kind, or these ids), oldest first."""
        query = "SELECT id, kind, body, spooled_at, parked_at, error FROM dead_letters WHERE 1 = 1"
        params: list[object] = []
        if kind is not None:
            query += " AND kind = ?"
            params.append(kind)
        if ids is not None:
            query += f" AND id IN ({','.join('?' * len(ids))})"
            params.extend(ids)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", params).fetchall()
        return [ParkedEvent(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5]) for r in rows]

    def unpark(self, ids: list[int]) -> list[int]:
        """Put parked events back in the flow (at the tail of the spool, as new events); their new ids."""

        def move() -> list[int]:
            new_ids = []
            for event_id in ids:
                row = self._db.execute("SELECT kind, body FROM dead_letters WHERE id = ?", (event_id,)).fetchone()
                if row is None:
                    continue
                cursor = self._db.execute(
                    "INSERT INTO events (kind, body, spooled_at) VALUES (?, ?, ?)", (row[0], row[1], time.time())
                )
                new_ids.append(int(cursor.lastrowid or 0))
                self._db.execute("DELETE FROM dead_letters WHERE id = ?", (event_id,))
            return new_ids

        with self._lock:
            return self._transaction(move)

    def purge_parked(self, ids: list[int]) -> int:
        """Delete parked events for good (an operator's decision); how many were deleted."""
        with self._lock:
            return self._transaction(
                lambda: sum(self._db.execute("DELETE FROM dead_letters WHERE id = ?", (i,)).rowcount for i in ids)
            )

    def parked_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM dead_letters").fetchone()[0]

    def _transaction(self, work: Callable[[], _T]) -> _T:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            result = work()
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return result

    def depth(self, kind: str | None = None) -> int:
        with self._lock:
            if kind is None:
                return self._db.execute("SELECT count(*) FROM events").fetchone()[0]
            return self._db.execute("SELECT count(*) FROM events WHERE kind = ?", (kind,)).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
