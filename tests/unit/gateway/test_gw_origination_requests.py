"""What the flash-call service makes of queue messages (mcn_gateway.origination): any body gets an outcome
or is left on the queue, never an exception; one call per request id; nothing placed for a withheld caller
or a stale request. The queue here is an in-memory list (the SQS side is tested against moto's server in
tests/integration/gateway); the spool and the trunk's state machine are the real ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcn_edge.spool import Spool
from mcn_edge.sqs import QueueMessage
from mcn_gateway.config import OriginationConfig
from mcn_gateway.metrics import Metrics
from mcn_gateway.origination import KIND_FLASH_CALL_OUTCOME, FlashCallService
from mcn_gateway.protocol.m3ua import ProtocolData


class ListQueue:
    def __init__(self) -> None:
        self.deleted: list[str] = []
        self.released: list[str] = []

    def receive(self, max_messages: int, wait_s: int, visibility_s: int) -> list[QueueMessage]:
        return []

    def delete(self, receipt_handles: list[str]) -> list[str]:
        self.deleted += receipt_handles
        return []

    def release(self, receipt_handle: str) -> None:
        self.released.append(receipt_handle)


class Rig:
    def __init__(self, path: Path, **settings: object) -> None:
        self.queue = ListQueue()
        self.sent: list[ProtocolData] = []
        self.spool = Spool(path)
        self.metrics = Metrics()
        config = OriginationConfig(
            queue_url="http://127.0.0.1/q", dpc=2001, cic_first=1, cic_last=2, grs_at_start=False, **settings
        )
        self.service = FlashCallService(
            config, 1001, self.spool, lambda kind: None, self.metrics, self._send, self.queue
        )
        self.n = 0

    def _send(self, data: ProtocolData) -> bool:
        self.sent.append(data)
        return True

    def take(self, body: object) -> str:
        self.n += 1
        handle = f"h{self.n}"
        text = body if isinstance(body, str) else json.dumps(body)
        self.service._take(QueueMessage(f"m{self.n}", handle, text))
        return handle

    def outcomes(self) -> list[dict]:
        return [e.body for e in self.spool.peek(KIND_FLASH_CALL_OUTCOME, 1000)]


def request(n: int, **fields: object) -> dict:
    now = datetime.now(UTC)
    return {
        "request_id": f"notice-{n}#1",
        "notification_id": f"notice-{n}",
        "subscriber": "+447911123456",
        "caller": "+447700900123",
        "requested_at": now.isoformat(),
        "not_after": (now + timedelta(minutes=5)).isoformat(),
        **fields,
    }


def test_a_request_places_one_call_however_often_it_is_delivered(tmp_path: Path):
    rig = Rig(tmp_path / "spool.sqlite3")
    rig.take(request(1))
    rig.take(request(1))
    assert len(rig.sent) == 1 and rig.sent[0].data[2] == 0x01  # one IAM
    assert (rig.sent[0].opc, rig.sent[0].dpc, rig.sent[0].si) == (1001, 2001, 5)
    assert rig.queue.deleted == []  # not before the outcome
    assert rig.metrics.value("mcn_gateway_origination_requests_rejected_total", {"reason": "duplicate"}) == 1


@pytest.mark.parametrize(
    ("fields", "outcome", "reason"),
    [
        ({"caller": None}, "failed", "caller withheld"),
        ({"caller": "anonymous"}, "failed", "caller withheld"),
        ({"not_after": "2020-01-01T00:00:00+00:00"}, "expired", "past not_after"),
        ({"subscriber": "12"}, "failed", "invalid request"),
    ],
)
def test_no_call_for_a_withheld_caller_a_stale_or_a_bad_request(tmp_path: Path, fields, outcome, reason):
    rig = Rig(tmp_path / "spool.sqlite3")
    handle = rig.take(request(1, **fields))
    assert rig.sent == []
    (recorded,) = rig.outcomes()
    assert recorded["outcome"] == outcome and reason in recorded["reason"]
    assert rig.queue.deleted == [handle]


def test_national_numbering_strips_the_country_code_and_refuses_others(tmp_path: Path):
    rig = Rig(tmp_path / "spool.sqlite3", nai="national", country_code="44")
    rig.take(request(1))
    assert rig.sent[0].data[2] == 0x01
    rig.take(request(2, subscriber="+33612345678"))
    assert rig.outcomes()[0]["outcome"] == "failed" and len(rig.sent) == 1


def test_requests_beyond_the_free_circuits_go_back_to_the_queue(tmp_path: Path):
    rig = Rig(tmp_path / "spool.sqlite3")
    rig.take(request(1))
    rig.take(request(2))
    handle = rig.take(request(3))
    assert len(rig.sent) == 2 and rig.queue.released == [handle]
    assert rig.spool.claimed_requests()[-1][0] == "notice-2#1"  # the third was unclaimed: it may come again


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=10,
)


@st.composite
def bodies(draw) -> object:
    kind = draw(st.sampled_from(["json", "text", "request"]))
    if kind == "text":
        return draw(st.text(max_size=60))
    if kind == "json":
        return draw(json_values)
    body = request(draw(st.integers(1, 5)))
    for key in draw(st.lists(st.sampled_from(sorted(body)), max_size=3)):
        body[key] = draw(json_values)
    return body


@pytest.fixture(scope="module")
def shared_rig(tmp_path_factory) -> Rig:
    return Rig(tmp_path_factory.mktemp("spool") / "spool.sqlite3", max_calls=4096)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(body=bodies())
def test_any_message_gets_an_outcome_or_stays_on_the_queue_never_an_exception(shared_rig, body):
    rig = shared_rig
    rig.service.trunk = rig.service.trunk.__class__(  # a fresh trunk: every example has a free circuit
        range(1, 3), 1001, 2001, rig.service.trunk.timers
    )

    def counts() -> tuple[float, float, int, int, int]:
        rejected = rig.metrics.value
        return (
            rejected("mcn_gateway_origination_requests_rejected_total", {"reason": "unreadable"}),
            rejected("mcn_gateway_origination_requests_rejected_total", {"reason": "duplicate"}),
            len(rig.sent),
            len(rig.outcomes()),
            len(rig.queue.deleted),
        )

    before = counts()
    rig.take(body)
    after = counts()
    unreadable, duplicate, placed, settled, deleted = (a - b for a, b in zip(after, before, strict=True))
    assert unreadable + duplicate + placed + settled == 1
    assert deleted == settled + (duplicate if deleted > settled else 0)
