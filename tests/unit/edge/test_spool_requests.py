"""The spool's request ledger (flash calls): a request id is claimed once, settled with its outcome event in
one transaction, and recognised however often the queue delivers it again, across a restart."""

from __future__ import annotations

from pathlib import Path

from mcn_edge.spool import REQUEST_CLAIMED, REQUEST_SETTLED, Spool


def test_a_request_is_claimed_once_and_settled_once(tmp_path: Path):
    spool = Spool(tmp_path / "spool.sqlite3")
    ids = {"request_id": "n#1", "notification_id": "n"}
    assert spool.claim_request("n#1", ids) is None
    assert spool.claim_request("n#1", ids) == REQUEST_CLAIMED
    assert spool.claimed_requests() == [("n#1", ids)]
    assert spool.settle_request("n#1", "flash_call_outcome", {"request_id": "n#1", "outcome": "busy"})
    assert not spool.settle_request("n#1", "flash_call_outcome", {"request_id": "n#1", "outcome": "busy"})
    assert spool.depth("flash_call_outcome") == 1
    assert [e.body["outcome"] for e in spool.peek("flash_call_outcome", 10)] == ["busy"]
    assert spool.claim_request("n#1", ids) == REQUEST_SETTLED
    assert spool.claimed_requests() == []
    spool.close()


def test_the_ledger_survives_a_restart_and_unsettled_claims_are_listed(tmp_path: Path):
    spool = Spool(tmp_path / "spool.sqlite3")
    spool.claim_request("a#1", {"request_id": "a#1"})
    spool.claim_request("b#1", {"request_id": "b#1"})
    spool.settle_request("b#1", "flash_call_outcome", {"request_id": "b#1"})
    spool.claim_request("c#1", {"request_id": "c#1"})
    spool.unclaim_request("c#1")  # never started: may be taken again
    spool.close()
    again = Spool(tmp_path / "spool.sqlite3")
    assert [key for key, _ in again.claimed_requests()] == ["a#1"]
    assert again.claim_request("b#1", {}) == REQUEST_SETTLED
    assert again.claim_request("c#1", {}) is None
    assert again.depth("flash_call_outcome") == 1
    assert again.prune_requests(older_than_s=3600) == 0
    assert again.prune_requests(older_than_s=-1) == 1  # only settled requests are forgotten
    assert again.claim_request("b#1", {}) is None
    again.close()
