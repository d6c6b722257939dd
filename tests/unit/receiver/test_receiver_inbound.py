"""Receiver.on_inbound without an SMSC: what the pooled SMPP layer hands over is spooled as the published
event models, and a deliver_sm that makes no valid event is acknowledged, logged and counted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mcn_core.models.inbound import ReceiptEvent, inbound_event
from mcn_edge.spool import Spool
from mcn_edge.targets import TransientForwardError
from mcn_receiver.config import ReceiverConfig
from mcn_receiver.service import Receiver
from mcn_smpp import DeliveryReceipt


class _IdlePool:
    """Stands in for the SMPP bind only (not under test here): no SMSC, so nothing arrives by itself."""

    def __init__(self, smpp: Any, on_inbound: Any) -> None:
        self.on_inbound = on_inbound

    def live_binds(self) -> int:
        return 0

    def warm_up(self) -> None:
        raise ConnectionError("no SMSC in a unit test")

    def close(self) -> None:
        pass


class _Down:
    """The forwarder must not take the events away before the test reads the spool."""

    name = "lambda:down"

    def send(self, events: list[dict]) -> list[dict]:
        raise TransientForwardError("down")


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    config = ReceiverConfig(
        target=f"file:{tmp_path / 'out.jsonl'}",
        spool_path=str(tmp_path / "spool.sqlite3"),
        drain_timeout_s=0,
        rebind_initial_s=5,
    )
    smpp = SimpleNamespace(host="127.0.0.1", port=1, binds=1)
    with Receiver(config, smpp, target=_Down(), pool_factory=_IdlePool) as started:
        started.forwarder.stop()  # read the spool as committed, without a worker racing
        yield started


def _receipt(message_id: str, state: str = "DELIVRD") -> DeliveryReceipt:
    return DeliveryReceipt(
        message_id=message_id,
        state=state,
        message_state=None,
        error_code="000",
        submit_date="2612011459",
        done_date="2612011500",
        source_addr="447911123456",
        destination_addr="62226",
        raw_text=f"id:{message_id} stat:{state}",
    )


def test_a_receipt_is_spooled_as_the_published_model(receiver: Receiver) -> None:
    receiver.on_inbound(_receipt("abc123"))
    [item] = Spool(receiver.config.spool_path).peek("receipt", 10)
    event = inbound_event(item.body)
    assert isinstance(event, ReceiptEvent) and event.message_id == "abc123" and event.is_final
    assert json.loads(json.dumps(item.body)) == item.body
    assert receiver.metrics.value("mcn_receiver_events_total", {"kind": "receipt"}) == 1


def test_a_receipt_without_an_id_is_acknowledged_counted_and_not_forwarded(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.on_inbound(_receipt(""))  # returns: deliver_sm_resp OK, a redelivery would not fix it
    assert Spool(receiver.config.spool_path).depth() == 0
    assert receiver.metrics.value("mcn_receiver_invalid_events_total", {"kind": "receipt"}) == 1
    assert "invalid receipt from the SMSC, not forwarded: message_id" in caplog.text
