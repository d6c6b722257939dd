"""The spool's write path: one commit per appended group and per removed batch, depth kept in memory."""

from __future__ import annotations

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from mcn_edge.spool import Spool

KINDS = ("missed_call", "attach")


def _count(path, kind: str | None = None) -> int:
    with sqlite3.connect(str(path)) as db:
        if kind is None:
            return db.execute("SELECT count(*) FROM events").fetchone()[0]
        return db.execute("SELECT count(*) FROM events WHERE kind = ?", (kind,)).fetchone()[0]


def test_a_group_and_a_batch_are_one_commit_each(tmp_path):
    spool = Spool(tmp_path / "s.sqlite3")
    ids = spool.append([("missed_call", {"n": i}) for i in range(120)])
    assert spool.commits == 1
    assert spool.remove(ids[:100]) == 100
    assert spool.commits == 2
    assert spool.depth("missed_call") == 20 == _count(tmp_path / "s.sqlite3", "missed_call")


def test_a_batch_larger_than_one_statement_is_still_one_transaction(tmp_path):
    spool = Spool(tmp_path / "s.sqlite3")
    ids = spool.append([("attach", {"n": i}) for i in range(1700)])
    assert spool.remove(ids) == 1700
    assert spool.commits == 2
    assert spool.depth() == 0 == _count(tmp_path / "s.sqlite3")


def test_spooled_ids_are_the_ids_appended(tmp_path):
    spool = Spool(tmp_path / "s.sqlite3")
    spool.append([("attach", {"n": 0})])
    ids = spool.append([("missed_call", {"n": i}) for i in range(3)] + [("attach", {"n": 9})])
    assert ids == [event.id for event in spool.peek("missed_call", 10)] + [spool.peek("attach", 10)[1].id]


def test_depth_reads_no_rows(tmp_path):
    spool = Spool(tmp_path / "s.sqlite3")
    spool.append([("missed_call", {"n": i}) for i in range(50)])
    statements: list[str] = []
    spool._db.set_trace_callback(statements.append)
    assert spool.depth("missed_call") == 50
    assert spool.depth() == 50
    assert statements == []


def test_depth_counts_what_was_left_before_reopening(tmp_path):
    path = tmp_path / "s.sqlite3"
    spool = Spool(path)
    ids = spool.append([("missed_call", {"n": i}) for i in range(5)] + [("attach", {"n": 0})])
    spool.remove(ids[:2])
    spool.close()
    reopened = Spool(path)
    assert (reopened.depth("missed_call"), reopened.depth("attach"), reopened.depth()) == (3, 1, 4)


def test_removing_unknown_or_repeated_ids_leaves_the_depth_exact(tmp_path):
    spool = Spool(tmp_path / "s.sqlite3")
    ids = spool.append([("missed_call", {"n": i}) for i in range(3)])
    assert spool.remove([ids[0], ids[0], 99_999]) == 1
    assert spool.remove([ids[0]]) == 0
    assert spool.depth("missed_call") == 2 == _count(tmp_path / "s.sqlite3", "missed_call")


operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.lists(st.sampled_from(KINDS), min_size=0, max_size=30)),
        st.tuples(st.just("remove"), st.lists(st.integers(min_value=0, max_value=200), max_size=40)),
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(operations)
def test_depth_always_equals_a_count_of_the_rows(tmp_path_factory, ops):
    path = tmp_path_factory.mktemp("spool") / "s.sqlite3"
    spool = Spool(path)
    for op, arg in ops:
        if op == "append":
            spool.append([(kind, {"k": kind}) for kind in arg])
        else:
            spool.remove(arg)
        for kind in KINDS:
            assert spool.depth(kind) == _count(path, kind)
        assert spool.depth() == _count(path)
    spool.close()


_KILLED_WRITER = """
import os, sys
from mcn_edge.spool import Spool
spool = Spool(sys.argv[1])
ids = spool.append([("missed_call", {"n": i}) for i in range(10)], sync=False)
spool.sync()
spool.remove(ids[:4])  # committed without an fsync of its own
print("done", flush=True)
os.kill(os.getpid(), 9)  # no close, no checkpoint: what a SIGKILL leaves
"""


def test_a_killed_process_keeps_what_was_synced_and_what_was_removed(tmp_path):
    """append(sync=False) + sync() is as durable as append(); a removal without its own fsync is in the
    WAL, which a killed process does not lose (only a power cut could bring those rows back)."""
    import subprocess
    import sys

    path = tmp_path / "s.sqlite3"
    done = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(path)], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "done" and done.returncode == -9, done.stderr
    reopened = Spool(path)
    assert [event.body["n"] for event in reopened.peek("missed_call", 100)] == list(range(4, 10))
    assert reopened.depth("missed_call") == 6


def test_sync_covers_every_commit_before_it_and_counts(tmp_path):
    spool = Spool(tmp_path / "s.sqlite3")
    spool.append([("attach", {"n": 1})], sync=False)
    spool.append([("attach", {"n": 2})], sync=False)
    assert spool.syncs == 0 and spool.commits == 2
    spool.sync()
    assert spool.syncs == 1
    assert [event.body["n"] for event in spool.peek("attach", 10)] == [1, 2]
    spool.close()
    spool.close()  # twice is harmless (the gateway's stop and a test's cleanup)


def test_a_removal_restores_full_synchronous_mode_for_the_next_commit(tmp_path):
    spool = Spool(tmp_path / "s.sqlite3")
    ids = spool.append([("attach", {"n": 1})])
    spool.remove(ids)
    assert spool._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


_RETRY_ELSEWHERE = """
import sys
from mcn_edge.spool import Spool
spool = Spool(sys.argv[1])
print(len(spool.unpark([event.id for event in spool.parked()])), flush=True)
"""


def test_depth_follows_what_another_process_put_back(tmp_path):
    """`parked retry` runs in another process while the service holds the spool open: the rows it puts
    back are counted at the service's next write, so forwarding them never drives the depth negative."""
    import subprocess
    import sys

    path = tmp_path / "s.sqlite3"
    spool = Spool(path)
    ids = spool.append([("missed_call", {"n": i}) for i in range(3)])
    for event_id in ids:
        assert spool.park(event_id, "ingest: FunctionError")
    assert spool.depth() == 0
    retried = subprocess.run(
        [sys.executable, "-c", _RETRY_ELSEWHERE, str(path)], capture_output=True, text=True, check=True
    )
    assert retried.stdout.strip() == "3"
    back = [event.id for event in spool.peek("missed_call", 10)]
    assert len(back) == 3
    assert spool.remove(back[:2]) == 2  # the forwarder's next batch
    assert spool.depth("missed_call") == 1 == _count(path, "missed_call")
    spool.append([("attach", {"n": 0})])
    assert (spool.depth("missed_call"), spool.depth("attach")) == (1, 1)
