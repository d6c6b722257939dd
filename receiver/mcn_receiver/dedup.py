"""Redelivered deliver_sm: recognised before spooling, so a resend is neither applied nor answered twice.

An SMSC resends a deliver_sm whose deliver_sm_resp it did not get (lost on the wire, a bind that
dropped, a slow answer). The resend carries nothing that ties it to the first copy (a new sequence
number; the receiver would give it a new MO reference), so the receiver remembers what it spooled:

- a receipt by its receipted message id and state (an SMSC reports each state of a message once);
- an MO by source, destination, data coding, UDH and the exact bytes of the text.

for `window_s` seconds, durably (a table in the spool's SQLite file, so a restart between the
first copy and the resend still recognises it). Within the window, a subscriber sending the very
same text to the same number twice counts once: for keywords (STOP twice) that changes nothing.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbound_seen (
    key TEXT PRIMARY KEY,
    seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS inbound_seen_by_time ON inbound_seen (seen_at);
"""

#: forget keys older than the window every this many inbound events
_PRUNE_EVERY = 500


def inbound_key(event: Any) -> str:
    """The identity of an inbound deliver_sm (mcn_smpp.DeliveryReceipt or InboundMessage)."""
    if hasattr(event, "message_id") and hasattr(event, "state"):
        return f"receipt:{event.message_id}:{event.state}"
    digest = hashlib.sha256()
    for part in (event.source_addr, event.destination_addr, str(event.data_coding)):
        digest.update(part.encode() + b"\x00")
    digest.update(bytes(event.udh or b"").hex().encode() + b"\x00")
    digest.update(bytes(event.body or b""))
    return f"mo:{digest.hexdigest()}"


class InboundDedup:
    """Keys seen within the window, kept in the spool's SQLite file (its own table and connection)."""

    def __init__(self, path: str | Path, window_s: float, clock: Callable[[], float] = time.time) -> None:
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._since_prune = 0

    def seen(self, key: str) -> bool:
        """Whether `key` was spooled within the window."""
        with self._lock:
            row = self._db.execute("SELECT seen_at FROM inbound_seen WHERE key = ?", (key,)).fetchone()
        return row is not None and row[0] >= self._clock() - self.window_s

    def remember(self, key: str) -> None:
        """Record `key` as spooled now (called right after the event was spooled)."""
        now = self._clock()
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO inbound_seen (key, seen_at) VALUES (?, ?)", (key, now))
            self._since_prune += 1
            if self._since_prune >= _PRUNE_EVERY:
                self._since_prune = 0
                self._db.execute("DELETE FROM inbound_seen WHERE seen_at < ?", (now - self.window_s,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
