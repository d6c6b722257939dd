"""Token bucket shared by every bind of a pool, so the SMSC's TPS licence is never exceeded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up. Thread-safe.

    ``burst`` defaults to 1: sends are spaced 1/rate apart, which stays inside a licence
    the SMSC measures over any one-second window.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        if burst < 1:
            raise ValueError("burst must be >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = burst
        self._updated = clock()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def acquire(self, timeout: float | None = None) -> bool:
        """Take one token, waiting for it; False if that would take longer than ``timeout``."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            # Reserve now (tokens may go negative) so concurrent callers queue fairly in order.
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
            if timeout is not None and wait > timeout:
                return False
            self._tokens -= 1
        if wait > 0:
            self._sleep(wait)
        return True
