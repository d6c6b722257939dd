"""Dialogues the gateway opens itself (MAP client side): the transaction registry that routes a
peer's End/Continue/Abort (and SCCP's return of an undeliverable Begin) to the dialogue's owner."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable

from .tcap import TcapMessage

# (message addressed to the dialogue, the answering node's GT) -> TCAP messages to send back on that path.
# The message is the gateway's own Begin when SCCP returned it undeliverable (UDTS/XUDTS).
DialogueHandler = Callable[[TcapMessage, str | None], list[bytes]]


class TransactionRegistry:
    """Transaction ids of dialogues this gateway opened, so End/Continue/Abort find their owner.

    Used from two threads (the MAP client opens/closes, the signalling thread looks up): guarded by a lock.
    Ids are 4 octets, random-based so that a restarted gateway does not reuse the ids of its predecessor's
    dialogues still open at the HLR.
    """

    def __init__(self) -> None:
        self._next = itertools.count(int.from_bytes(os.urandom(3), "big") << 8)
        self._handlers: dict[bytes, DialogueHandler] = {}
        self._lock = threading.Lock()

    def open(self, handler: DialogueHandler) -> bytes:
        with self._lock:
            while True:
                otid = (next(self._next) & 0xFFFFFFFF).to_bytes(4, "big")
                if otid not in self._handlers:
                    break
            self._handlers[otid] = handler
        return otid

    def close(self, otid: bytes) -> None:
        with self._lock:
            self._handlers.pop(otid, None)

    def handler_for(self, dtid: bytes | None) -> DialogueHandler | None:
        if dtid is None:
            return None
        with self._lock:
            return self._handlers.get(dtid)

    def __len__(self) -> int:
        with self._lock:
            return len(self._handlers)
