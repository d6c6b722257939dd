"""Durable, ordered on-disk spool of accepted events (SQLite in WAL mode).

An event is committed here before the signalling answer is sent back, and leaves only
when its batch was acknowledged by the target. `synchronous=FULL` makes every commit
survive a power cut as well as a killed process.

Every commit costs an fsync, so writes are grouped: `append` commits a whole group of
events (the gateway's group commit) and `remove` deletes a forwarded batch in one
transaction. The depth per kind is counted once at open and then kept in memory, so
reading it (after every write, for the metric and /health) never scans the backlog nor waits
for another thread's commit. Another process may change the spool too (`parked retry` and `purge`
while the service runs): each write transaction first asks SQLite whether another connection
committed since (`PRAGMA data_version`, no I/O) and recounts only then.

A removal is committed without an fsync of its own (synchronous=NORMAL for that transaction):
the WAL is written in order, so the next event commit's fsync makes it durable too. A killed
process loses nothing either way; a power cut in between can only bring back rows that were
already forwarded, which the targets take again idempotently (call_ref / event_ref), never lose
one. The answer path thus never waits behind a forwarder's fsync.

`append(..., sync=False)` + `sync()` split an event commit in two so that they can run on two
threads: the commit reaches the WAL (no fsync), and `sync()` fdatasyncs the WAL file, which makes
every commit written before it started durable (what synchronous=FULL does inside each commit).
The gateway's answer path commits a group, goes on decoding the next one, and answers each group
once a sync that began after its commit returned: one fsync covers every group committed while
the previous one ran.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic_core import PydanticSerializationError, to_json

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
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    body TEXT NOT NULL,
    claimed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS blocked_circuits (
    trunk TEXT NOT NULL,
    cic INTEGER NOT NULL,
    blocked_at REAL NOT NULL,
    PRIMARY KEY (trunk, cic)
);
"""

# requests: work taken from a queue (flash calls) and its outcome, keyed by the request's own id, so
# a request delivered twice is recognised however long after (until `prune_requests`)
REQUEST_CLAIMED = "claimed"
REQUEST_SETTLED = "settled"


_T = TypeVar("_T")


def encode_body(body: dict[str, Any]) -> str:
    """An event body as spooled and sent: compact JSON in the body's own key order, written by
    pydantic-core (a fifth of json.dumps's time, which the answer path pays for every event);
    json.dumps writes what pydantic-core refuses (a lone surrogate, escaped as \\udXXX)."""
    try:
        return to_json(body).decode()
    except PydanticSerializationError:
        return json.dumps(body)


_MAX_VARIABLES = 500  # ids per DELETE statement (SQLite's host parameter limit is 32,766 since 3.32)


class SpooledEvent:
    """A spooled event: `json` is the body as spooled (`encode_body`), which a target can send as
    is; `body` is decoded from it only when asked for (the forwarding hot path never asks)."""

    __slots__ = ("_body", "id", "json", "kind")

    def __init__(self, id: int, kind: str, body: dict[str, Any] | None = None, json: str = "") -> None:
        self.id = id
        self.kind = kind
        self._body = body
        self.json = json

    @property
    def body(self) -> dict[str, Any]:
        if self._body is None:
            self._body = json.loads(self.json) if self.json else {}
        return self._body

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpooledEvent):
            return NotImplemented
        return (self.id, self.kind, self.body) == (other.id, other.kind, other.body)

    def __hash__(self) -> int:
        return hash((self.id, self.kind))

    def __repr__(self) -> str:
        return f"SpooledEvent(id={self.id!r}, kind={self.kind!r}, json={self.json!r})"


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    """An event the target kept failing on (a poison event), set aside with the last error."""

    id: int
    kind: str
    body: dict[str, Any]
    spooled_at: float
    parked_at: float
    error: str


class Spool:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # the connection: held across each commit (and its fsync)
        self._depth_lock = threading.Lock()  # the depth counter only: never held across I/O
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._depth: Counter[str] = Counter(
            dict(self._db.execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall())
        )
        self._data_version = self._db.execute("PRAGMA data_version").fetchone()[0]
        self.commits = 0  # write transactions committed (one fsync each at synchronous=FULL)
        self.syncs = 0  # fdatasyncs of the WAL by `sync()`
        self._wal_fd: int | None = None
        self._wal_lock = threading.Lock()  # the WAL's file descriptor only (never the connection's lock)

    def _write(self, statements: Callable[[], _T], *, fsync: bool = True) -> _T:
        """Run `statements` in one write transaction; the caller holds the lock. `fsync=False`: the
        commit reaches the WAL (a killed process keeps it) and the disk with the next fsync'ed one."""
        if not fsync:
            self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._recount_if_changed_elsewhere()
                result = statements()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        finally:
            if not fsync:
                self._db.execute("PRAGMA synchronous=FULL")
        self.commits += 1
        return result

    def _recount_if_changed_elsewhere(self) -> None:
        """Inside a write transaction (no other writer until it ends): if another connection committed
        since this one last looked, count the rows again, before this transaction's own changes."""
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return
        self._data_version = version
        counts = dict(self._db.execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall())
        with self._depth_lock:
            self._depth = Counter(counts)

    def append(self, items: list[tuple[str, dict[str, Any]]], *, sync: bool = True) -> list[int]:
        """Commit events (kind, body) atomically, in order; return their ids. `sync=False`: committed to
        the WAL only (a killed process keeps them); durable once a `sync()` started after this returned."""
        if not items:
            return []
        now = time.time()
        rows = [(kind, encode_body(body), now) for kind, body in items]
        insert = "INSERT INTO events (kind, body, spooled_at) VALUES (?, ?, ?)"

        def insert_all() -> int:
            self._db.executemany(insert, rows)
            last: int = self._db.execute("SELECT last_insert_rowid()").fetchone()[0]
            return last

        with self._lock:
            # AUTOINCREMENT ids of one transaction (the only writer holds the lock) are consecutive
            last = self._write(insert_all, fsync=sync)
            with self._depth_lock:
                self._depth.update(kind for kind, _body in items)
        return list(range(last - len(rows) + 1, last + 1))

    def peek(self, kind: str, limit: int, after_id: int = 0) -> list[SpooledEvent]:
        """The oldest `limit` events of a kind with an id above `after_id`, in spool order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kind, body FROM events WHERE kind = ? AND id > ? ORDER BY id LIMIT ?",
                (kind, after_id, limit),
            ).fetchall()
        return [SpooledEvent(row[0], row[1], None, row[2]) for row in rows]

    def oldest_id(self, kind: str) -> int | None:
        """The spool id of the oldest event of a kind still waiting, or None."""
        with self._lock:
            row = self._db.execute("SELECT min(id) FROM events WHERE kind = ?", (kind,)).fetchone()
        oldest: int | None = row[0]
        return oldest

    def remove(self, ids: list[int]) -> int:
        """Delete events by id in one transaction, with no fsync of its own (see the module's note);
        return how many were there."""
        if not ids:
            return 0
        unique = sorted(set(ids))

        def delete() -> list[str]:
            kinds: list[str] = []
            for start in range(0, len(unique), _MAX_VARIABLES):
                chunk = unique[start : start + _MAX_VARIABLES]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"DELETE FROM events WHERE id IN ({marks}) RETURNING kind", chunk)
                kinds.extend(row[0] for row in rows.fetchall())
            return kinds

        with self._lock:
            removed = self._write(delete, fsync=False)
            with self._depth_lock:
                self._depth.subtract(removed)
        return len(removed)

    # -- dead letters: events the target kept failing on, out of the flow, kept with their error --
    def park(self, event_id: int, error: str) -> bool:
        """Move a spooled event to the dead letters, atomically; False if it is no longer spooled."""

        def move() -> str | None:
            row = self._db.execute("SELECT kind FROM events WHERE id = ?", (event_id,)).fetchone()
            if row is None:
                return None
            self._db.execute(
                "INSERT INTO dead_letters (id, kind, body, spooled_at, parked_at, error) "
                "SELECT id, kind, body, spooled_at, ?, ? FROM events WHERE id = ?",
                (time.time(), error, event_id),
            )
            self._db.execute("DELETE FROM events WHERE id = ?", (event_id,))
            return str(row[0])

        with self._lock:
            kind = self._write(move)
            if kind is not None:
                with self._depth_lock:
                    self._depth[kind] -= 1  # the depth counts only events still in the flow
        return kind is not None

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

        def move() -> list[tuple[int, str]]:
            moved = []
            for event_id in ids:
                row = self._db.execute("SELECT kind, body FROM dead_letters WHERE id = ?", (event_id,)).fetchone()
                if row is None:
                    continue
                cursor = self._db.execute(
                    "INSERT INTO events (kind, body, spooled_at) VALUES (?, ?, ?)", (row[0], row[1], time.time())
                )
                moved.append((int(cursor.lastrowid or 0), str(row[0])))
                self._db.execute("DELETE FROM dead_letters WHERE id = ?", (event_id,))
            return moved

        with self._lock:
            moved = self._write(move)
            with self._depth_lock:
                self._depth.update(kind for _new_id, kind in moved)
        return [new_id for new_id, _kind in moved]

    def purge_parked(self, ids: list[int]) -> int:
        """Delete parked events for good (an operator's decision); how many were deleted."""
        with self._lock:
            return self._write(
                lambda: sum(self._db.execute("DELETE FROM dead_letters WHERE id = ?", (i,)).rowcount for i in ids)
            )

    def parked_count(self) -> int:
        with self._lock:
            count: int = self._db.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
        return count

    # -- requests taken from a queue: claimed once, settled with their outcome event atomically --
    def claim_request(self, key: str, body: dict[str, Any]) -> str | None:
        """Record that request `key` is being worked on; None if it is new, else its state
        (REQUEST_CLAIMED: under way or interrupted; REQUEST_SETTLED: its outcome is spooled)."""

        def claim() -> str | None:
            row = self._db.execute("SELECT state FROM requests WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return str(row[0])
            self._db.execute(
                "INSERT INTO requests (key, state, body, claimed_at) VALUES (?, ?, ?, ?)",
                (key, REQUEST_CLAIMED, json.dumps(body, sort_keys=True), time.time()),
            )
            return None

        with self._lock:
            return self._write(claim)

    def unclaim_request(self, key: str) -> None:
        """Forget a claim whose work never started (it may be taken again)."""
        with self._lock:
            self._write(
                lambda: self._db.execute("DELETE FROM requests WHERE key = ? AND state = ?", (key, REQUEST_CLAIMED))
            )

    def settle_request(self, key: str, kind: str, body: dict[str, Any]) -> bool:
        """Spool the request's outcome event and mark it settled, in one transaction; False (nothing
        spooled) when it was settled before."""
        row_body = json.dumps(body, sort_keys=True)

        def settle() -> bool:
            row = self._db.execute("SELECT state FROM requests WHERE key = ?", (key,)).fetchone()
            if row is not None and row[0] == REQUEST_SETTLED:
                return False
            now = time.time()
            self._db.execute("INSERT INTO events (kind, body, spooled_at) VALUES (?, ?, ?)", (kind, row_body, now))
            self._db.execute(
                "INSERT INTO requests (key, state, body, claimed_at) VALUES (?, ?, '{}', ?) "
                "ON CONFLICT(key) DO UPDATE SET state = excluded.state",
                (key, REQUEST_SETTLED, now),
            )
            return True

        with self._lock:
            settled = self._write(settle)
            if settled:
                with self._depth_lock:
                    self._depth[kind] += 1
        return settled

    def claimed_requests(self) -> list[tuple[str, dict[str, Any]]]:
        """Requests claimed and never settled (the process stopped during their work): (key, body)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, body FROM requests WHERE state = ? ORDER BY claimed_at", (REQUEST_CLAIMED,)
            ).fetchall()
        return [(str(row[0]), json.loads(row[1])) for row in rows]

    def prune_requests(self, older_than_s: float) -> int:
        """Forget settled requests claimed more than `older_than_s` ago; how many."""
        cutoff = time.time() - older_than_s
        with self._lock:
            return self._write(
                lambda: (
                    self._db.execute(
                        "DELETE FROM requests WHERE state = ? AND claimed_at < ?", (REQUEST_SETTLED, cutoff)
                    ).rowcount
                )
            )

    def sync(self) -> None:
        """Make every commit written so far durable: fdatasync the WAL file, as a synchronous=FULL commit
        does, without holding the connection (commits go on meanwhile; the next sync covers them)."""
        with self._wal_lock:
            if self._wal_fd is None:
                # the WAL exists while this connection is open (WAL mode, opened in __init__)
                self._wal_fd = os.open(f"{self.path}-wal", os.O_RDWR)
            os.fdatasync(self._wal_fd)
            self.syncs += 1

    # -- circuits the operator blocked (gateway origination): they stay blocked across restarts --
    def set_blocked_circuits(self, trunk: str, cics: list[int], blocked: bool) -> None:
        """Record (blocked) or forget (unblocked) an operator's block of `cics` on `trunk`, in one commit."""
        now = time.time()

        def write() -> None:
            if blocked:
                self._db.executemany(
                    "INSERT OR IGNORE INTO blocked_circuits (trunk, cic, blocked_at) VALUES (?, ?, ?)",
                    [(trunk, cic, now) for cic in cics],
                )
            else:
                self._db.executemany(
                    "DELETE FROM blocked_circuits WHERE trunk = ? AND cic = ?", [(trunk, cic) for cic in cics]
                )

        with self._lock:
            self._write(write)

    def blocked_circuits(self, trunk: str) -> list[int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT cic FROM blocked_circuits WHERE trunk = ? ORDER BY cic", (trunk,)
            ).fetchall()
        return [int(row[0]) for row in rows]

    def depth(self, kind: str | None = None) -> int:
        """Events waiting (of one kind, or all): kept in memory, O(1), and never waiting for a commit in
        progress (the gateway reads it right after its own commit, before answering)."""
        with self._depth_lock:
            if kind is None:
                return sum(self._depth.values())
            return self._depth[kind]

    def close(self) -> None:
        with self._lock:
            self._db.close()
        with self._wal_lock:
            if self._wal_fd is not None:
                os.close(self._wal_fd)
                self._wal_fd = None
