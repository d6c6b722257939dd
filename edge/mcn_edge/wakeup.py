"""Thread hand-offs whose wake-up costs the waking thread no system call made under the GIL.

`queue.SimpleQueue.put` and `threading.Event.set` wake a sleeping thread by releasing a lock, a
futex system call made while the GIL is held. On a busy machine the kernel often switches to the
woken thread right there, so the GIL stays with a thread that is not running and nothing in the
process runs until it comes back (profiles of the gateway showed a fifth of the GIL held this way).
Here the sleeper blocks reading a pipe and the waker writes one byte with `os.write`, which
releases the GIL during the call; and the waker writes only when the other side sleeps.
"""

from __future__ import annotations

import collections
import contextlib
import os
import select
import threading
import weakref
from typing import Generic, TypeVar

_T = TypeVar("_T")


def _close(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class _Pipe:
    """The sleeper's side reads, the waker's side writes (non-blocking: a full pipe already wakes).
    The descriptors are closed when the pipe is garbage: then no thread can be using them (closing
    earlier would let a late waker write into whatever file reused the number)."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        os.set_blocking(self._read_fd, False)
        weakref.finalize(self, _close, self._read_fd, self._write_fd)
        # threads about to sleep or asleep: each registers before its last check of the condition, so a
        # waker that changed the condition and then finds nobody here knows that check will see it
        self._sleepers: set[int] = set()

    def about_to_sleep(self) -> None:
        self._sleepers.add(threading.get_ident())

    def awake(self) -> None:
        self._sleepers.discard(threading.get_ident())

    def wake(self) -> None:
        if self._sleepers:
            with contextlib.suppress(BlockingIOError):  # full: the sleeper wakes anyway
                os.write(self._write_fd, b"\x01")

    def sleep(self, timeout: float | None, consume: bool = True) -> None:
        """Block until woken or `timeout` (None: no limit) passed; the caller re-checks its condition.
        `consume=False` leaves the wake-up in the pipe (for every other sleeper) until `drain`."""
        poller = select.poll()  # per call: one poll object must not be polled by two threads at once
        poller.register(self._read_fd, select.POLLIN)
        poller.poll(None if timeout is None else max(0, int(timeout * 1000 + 0.999)))
        if consume:
            self.drain()

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):  # nothing (left) to read
            while os.read(self._read_fd, 4096):
                pass


class HandoffQueue(Generic[_T]):
    """An unbounded FIFO from any thread to one consumer thread (what SimpleQueue does for us)."""

    def __init__(self) -> None:
        self._items: collections.deque[_T] = collections.deque()
        self._pipe = _Pipe()

    def put(self, item: _T) -> None:
        self._items.append(item)  # atomic; the consumer sees it at its next check
        self._pipe.wake()

    def get(self) -> _T:
        """The next item, waiting as long as it takes."""
        while True:
            try:
                return self._items.popleft()
            except IndexError:
                pass
            self._pipe.about_to_sleep()
            try:
                if self._items:  # put after our first check, maybe before we registered
                    continue
                self._pipe.sleep(None)
            finally:
                self._pipe.awake()

    def get_nowait(self) -> _T:
        """The next item; IndexError when there is none."""
        return self._items.popleft()


class Wakeup:
    """`threading.Event`'s set / wait / clear for one or more sleepers, woken without the GIL: a set
    writes one byte (if anyone sleeps), which stays readable, so wakes every sleeper, until `clear`."""

    def __init__(self) -> None:
        self._flag = False
        self._pipe = _Pipe()

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        self._flag = True
        self._pipe.wake()

    def clear(self) -> None:
        self._flag = False
        self._pipe.drain()  # a system call, but only after a wait (the sleeper's side)

    def wait(self, timeout: float | None = None) -> bool:
        """True when set (at once, or within `timeout` seconds)."""
        if self._flag:
            return True
        self._pipe.about_to_sleep()
        try:
            if not self._flag:
                self._pipe.sleep(timeout, consume=False)
        finally:
            self._pipe.awake()
        return self._flag
