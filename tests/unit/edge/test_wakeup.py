"""The hand-offs between the gateway's threads: nothing lost, nobody left asleep, and no write at all
when nobody sleeps (the point of them: no system call under the GIL on the busy path)."""

from __future__ import annotations

import gc
import os
import threading
import time

from mcn_edge.wakeup import HandoffQueue, Wakeup


def _pending_bytes(pipe) -> int:
    try:
        return len(os.read(pipe._read_fd, 4096))
    except BlockingIOError:
        return 0


def test_every_item_arrives_in_order_per_producer_and_the_consumer_always_wakes():
    handoff: HandoffQueue[tuple[int, int]] = HandoffQueue()
    producers, per_producer = 4, 3000
    received: list[tuple[int, int]] = []

    def consume() -> None:
        for _ in range(producers * per_producer):
            received.append(handoff.get())

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()

    def produce(n: int) -> None:
        for i in range(per_producer):
            handoff.put((n, i))
            if i % 97 == 0:
                time.sleep(0.0005)  # let the consumer fall asleep now and then

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    consumer.join(timeout=60)
    assert not consumer.is_alive(), f"consumer stuck after {len(received)} items"
    for n in range(producers):
        assert [i for p, i in received if p == n] == list(range(per_producer))


def test_get_nowait_and_no_write_while_nobody_sleeps():
    handoff: HandoffQueue[int] = HandoffQueue()
    for i in range(5):
        handoff.put(i)
    assert _pending_bytes(handoff._pipe) == 0  # nobody was asleep: no wake-up written
    assert [handoff.get_nowait() for _ in range(5)] == list(range(5))
    try:
        handoff.get_nowait()
    except IndexError:
        pass
    else:
        raise AssertionError("an empty hand-off gave an item")


def test_wakeup_wakes_a_sleeper_and_times_out_without_one():
    wakeup = Wakeup()
    started = time.monotonic()
    assert wakeup.wait(0.05) is False
    assert time.monotonic() - started >= 0.04
    woke = threading.Event()

    def sleeper() -> None:
        if wakeup.wait(60):
            woke.set()

    thread = threading.Thread(target=sleeper, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not wakeup._pipe._sleepers and time.monotonic() < deadline:
        time.sleep(0.001)
    wakeup.set()
    assert woke.wait(30)
    assert wakeup.is_set()
    wakeup.clear()
    assert not wakeup.is_set() and wakeup.wait(0) is False


def test_a_set_with_nobody_waiting_writes_nothing_and_a_later_wait_returns_at_once():
    wakeup = Wakeup()
    wakeup.set()
    assert _pending_bytes(wakeup._pipe) == 0
    assert wakeup.wait(60) is True  # the flag, not the pipe


def test_two_sleepers_are_both_woken():
    wakeup = Wakeup()
    woken = []
    threads = [threading.Thread(target=lambda: woken.append(wakeup.wait(60)), daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(wakeup._pipe._sleepers) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    wakeup.set()
    for thread in threads:
        thread.join(timeout=30)
    assert woken == [True, True]


def test_the_pipe_is_closed_when_nothing_refers_to_it_any_more():
    handoff: HandoffQueue[int] = HandoffQueue()
    read_fd = handoff._pipe._read_fd
    pipe_stat = os.fstat(read_fd)
    del handoff
    gc.collect()
    try:
        now = os.fstat(read_fd)
    except OSError:
        return  # closed
    assert not os.path.samestat(pipe_stat, now), "the pipe is still open"  # else the number was reused
