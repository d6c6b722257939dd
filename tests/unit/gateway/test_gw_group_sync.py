"""The answer path's two threads: a group's events are committed to the WAL by the signalling thread,
its answers leave only after the spool-sync thread's fdatasync, and the next groups are decoded and
committed meanwhile (one sync then covers them all)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from mcn_devkit.sigtran.builders import MSC_PC, PLATFORM_PC, build_iam
from mcn_edge.spool import Spool
from mcn_gateway import processor as processor_module
from mcn_gateway.app import EventSink, SignallingWorker
from mcn_gateway.metrics import Metrics
from mcn_gateway.protocol import isup
from mcn_gateway.protocol.m3ua import ProtocolData


def _iam(cic: int) -> tuple[ProtocolData, float]:
    return ProtocolData(MSC_PC, PLATFORM_PC, 5, 2, 0, cic % 16, build_iam(cic)), time.time()


class _HeldSync:
    """Holds `Spool.sync` until released, recording what was committed when each sync began."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.release = threading.Event()
        self.started = threading.Event()
        self.depth_at_start: list[int] = []
        self._sync = spool.sync
        spool.sync = self  # type: ignore[method-assign]

    def __call__(self) -> None:
        self.depth_at_start.append(self.spool.depth("missed_call"))
        self.started.set()
        assert self.release.wait(30)
        self._sync()


def test_answers_wait_for_the_sync_and_later_groups_commit_meanwhile(tmp_path, processor):
    spool = Spool(tmp_path / "s.sqlite3")
    held = _HeldSync(spool)
    worker = SignallingWorker(processor, EventSink(spool, None, Metrics()))

    async def scenario() -> None:
        first = worker.submit([_iam(1), _iam(2)])
        assert await asyncio.to_thread(held.started.wait, 30)
        second = worker.submit([_iam(3)])  # decoded and committed while the first sync is held
        deadline = time.monotonic() + 30
        while spool.depth("missed_call") < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert spool.depth("missed_call") == 3
        await asyncio.sleep(0.1)
        assert not first.done() and not second.done()  # committed, not yet durable: no answer
        held.release.set()
        answers = await asyncio.wait_for(first, 30) + await asyncio.wait_for(second, 30)
        assert [isup.IsupDecoder.peek(replies[0].data) for replies in answers] == [
            (1, isup.MSG_REL),
            (2, isup.MSG_REL),
            (3, isup.MSG_REL),
        ]

    try:
        asyncio.run(scenario())
    finally:
        held.release.set()
        worker.stop()
    assert held.depth_at_start == [2, 3]  # the second sync covered the group committed during the first
    assert spool.syncs == 2


def test_a_failed_sync_sends_no_answer(tmp_path, processor):
    spool = Spool(tmp_path / "s.sqlite3")

    def broken_sync() -> None:
        raise OSError(5, "Input/output error")

    spool.sync = broken_sync  # type: ignore[method-assign]
    worker = SignallingWorker(processor, EventSink(spool, None, Metrics()))

    async def scenario() -> None:
        future = worker.submit([_iam(1)])
        try:
            await asyncio.wait_for(future, 30)
        except OSError:
            return
        raise AssertionError("answered although the events never became durable")

    try:
        asyncio.run(scenario())
    finally:
        worker.stop()


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.floats(0, 4_102_444_800, allow_nan=False),  # up to 2100
        st.integers(0, 4_102_444_800).map(lambda s: s + 0.9999995),  # rounding into the next second
        st.integers(0, 4_102_444_800).map(float),
    )
)
def test_event_times_are_what_datetime_writes(timestamp):
    """The second's text is formatted once per second (the hot path): the same text as datetime's."""
    expected = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    assert processor_module._iso(timestamp) == expected
    assert processor_module._iso(timestamp) == expected  # from the cache too
