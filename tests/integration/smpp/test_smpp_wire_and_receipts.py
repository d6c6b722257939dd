"""What goes over the socket (decoded by each test SMSC's own codec) and receipts/MO coming back.

Every test runs against node-smpp and smpp34; node-smpp also decodes the text (node_text),
smpp34 only the PDU fields and octets.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

import pytest

from mcn_devkit.smsc import LocalSmsc
from mcn_smpp.pool import SmppPool
from mcn_smpp.receipts import DeliveryReceipt, InboundMessage

pytestmark = pytest.mark.integration

DEST = "+905321234567"


def in_part_order(submits: list[Any]) -> list[Any]:
    """Parts by their UDH part number: smpp34 hands concurrent submits over in any order."""
    return sorted(submits, key=lambda submit: submit.short_message[5])


def test_gsm7_multipart_with_escape_pair_on_the_wire(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool(source_addr="MCN", source_addr_ton=5, source_addr_npi=0)
    text = "a" * 152 + "€" + "b" * 10
    result = pool.send(DEST, text)
    assert result.accepted and len(result.message_ids) == 2
    first, second = in_part_order(smsc.wait_for_submits(2))
    assert (first.source_addr, first.source_addr_ton, first.source_addr_npi) == ("MCN", 5, 0)
    # E.164 '+' becomes TON international / NPI ISDN with bare digits.
    assert (first.destination_addr, first.dest_addr_ton, first.dest_addr_npi) == (DEST[1:], 1, 1)
    assert (first.data_coding, first.esm_class, first.registered_delivery) == (0, 0x40, 1)
    reference = first.udh[3]
    assert first.short_message == bytes([5, 0, 3, reference, 2, 1]) + b"a" * 152
    assert second.short_message == bytes([5, 0, 3, reference, 2, 2]) + b"\x1b\x65" + b"b" * 10
    if smsc.name == "node-smpp":  # node-smpp decodes GSM 03.38 independently of our codec
        assert (first.node_text or "") + (second.node_text or "") == text
    assert [first.message_id, second.message_id] == result.message_ids


def test_ucs2_with_emoji_never_splits_a_surrogate_pair(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool()
    text = "ж" * 66 + "😀" + "ж" * 5
    assert pool.send(DEST, text).accepted
    first, second = in_part_order(smsc.wait_for_submits(2))
    assert first.data_coding == second.data_coding == 8
    assert first.short_message[6:] == ("ж" * 66).encode("utf-16-be")
    assert second.short_message[6:] == ("😀" + "ж" * 5).encode("utf-16-be")
    if smsc.name == "node-smpp":
        assert (first.node_text or "") + (second.node_text or "") == text


def test_turkish_single_shift_sends_one_gsm7_segment(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool(national_shift="turkish")
    text = "Sayın müşterimiz, 3 cevapsız çağrınız var: Ayşe 2 kez 09:14, Ali 1 kez 10:02. Arayanları şimdi arayın."
    result = pool.send(DEST, text)
    assert result.encoding == "gsm7-turkish" and len(result.parts) == 1
    (received,) = smsc.wait_for_submits(1)
    assert received.data_coding == 0 and received.esm_class == 0x40
    assert received.short_message[:4] == bytes.fromhex("03240101")
    assert b"\x1b\x69" in received.short_message  # 'ı' via the Turkish single shift table
    assert received.text == text


def test_message_payload_mode_sends_one_pdu(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool(concat="payload")
    text = "x" * 200
    result = pool.send(DEST, text)
    assert result.accepted and result.segment_count == 2 and len(result.parts) == 1
    (received,) = smsc.wait_for_submits(1)
    assert received.short_message == b""
    assert received.message_payload == b"x" * 200
    if smsc.name == "node-smpp":
        assert received.node_text == text


def test_receipts_from_tlvs_and_text_are_acknowledged(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool()
    results = [pool.send(DEST, f"m{i}") for i in range(3)]
    ids = [r.message_ids[0] for r in results]
    smsc.send_receipt(ids[0], "DELIVRD")  # TLVs + text + an unknown vendor TLV
    smsc.send_receipt(ids[1], "UNDELIV", text_only=True)  # only the id:... stat:... text
    smsc.send_receipt(ids[2], "EXPIRED", tlv_only=True)  # only receipted_message_id/message_state
    receipts = [pool.inbound.get(timeout=10) for _ in range(3)]
    assert all(isinstance(r, DeliveryReceipt) for r in receipts)
    by_id = {r.message_id: r for r in receipts if isinstance(r, DeliveryReceipt)}
    assert by_id[ids[0]].state == "DELIVRD" and by_id[ids[0]].message_state == 2 and by_id[ids[0]].delivered
    assert by_id[ids[0]].error_code == "000" and by_id[ids[0]].source_addr == DEST[1:]
    assert by_id[ids[1]].state == "UNDELIV" and by_id[ids[1]].message_state is None
    assert by_id[ids[2]].state == "EXPIRED" and by_id[ids[2]].raw_text == ""
    assert smsc.wait_until(lambda: len(smsc.deliver_sm_responses()) == 3)
    assert [e["status"] for e in smsc.deliver_sm_responses()] == [0, 0, 0]
    assert pool.live_binds() == 1  # the unknown TLV did not break the bind


def test_receipt_callback_failure_is_not_acknowledged(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    seen: queue.Queue[DeliveryReceipt | InboundMessage] = queue.Queue()

    def flaky(event: DeliveryReceipt | InboundMessage) -> None:
        seen.put(event)
        raise RuntimeError("downstream unavailable")

    pool = make_pool()
    pool._on_inbound = flaky  # a receiver service would pass on_inbound= to SmppPool
    message_id = pool.send(DEST, "x").message_ids[0]
    smsc.send_receipt(message_id)
    assert isinstance(seen.get(timeout=10), DeliveryReceipt)
    assert smsc.wait_until(lambda: len(smsc.deliver_sm_responses()) == 1)
    assert smsc.deliver_sm_responses()[0]["status"] == 0x64  # SMSC keeps it and redelivers


def test_mobile_originated_message_reaches_the_queue(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool()
    pool.warm_up()
    smsc.send_mo(DEST, "MCN", b"STOP")
    event = pool.inbound.get(timeout=10)
    assert isinstance(event, InboundMessage)
    assert (event.source_addr, event.destination_addr, event.text) == (DEST, "MCN", "STOP")
    assert smsc.wait_until(lambda: len(smsc.deliver_sm_responses()) == 1)


def test_auto_receipts_for_every_accepted_submit(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    smsc.auto_receipts("DELIVRD")
    pool = make_pool()
    result = pool.send(DEST, "y" * 200)
    receipts = [pool.inbound.get(timeout=10) for _ in result.message_ids]
    assert sorted(r.message_id for r in receipts if isinstance(r, DeliveryReceipt)) == sorted(result.message_ids)
    assert pool.send(DEST, "no receipt wanted", registered_delivery=False).accepted
    assert smsc.wait_for_submits(3)[-1].registered_delivery == 0


def test_receipts_without_the_receipt_esm_class_are_recognised(
    smsc: LocalSmsc, make_pool: Callable[..., SmppPool]
) -> None:
    # Dialects: esm_class 0, the receipt told only by its TLVs and/or its "id:... stat:" text.
    pool = make_pool()
    ids = [pool.send(DEST, f"d{i}").message_ids[0] for i in range(3)]
    smsc.send_receipt(ids[0], "DELIVRD", esm_class=0)  # TLVs and text
    smsc.send_receipt(ids[1], "UNDELIV", esm_class=0, text_only=True)
    smsc.send_receipt(ids[2], "EXPIRED", esm_class=0, tlv_only=True)
    smsc.send_mo(DEST, "MCN", b"id: what is this stat: nothing")  # an MO is still an MO
    events = [pool.inbound.get(timeout=10) for _ in range(4)]
    receipts = {e.message_id: e for e in events if isinstance(e, DeliveryReceipt)}
    mos = [e for e in events if isinstance(e, InboundMessage)]
    assert {k: v.state for k, v in receipts.items()} == {ids[0]: "DELIVRD", ids[1]: "UNDELIV", ids[2]: "EXPIRED"}
    assert receipts[ids[0]].message_state == 2 and receipts[ids[1]].message_state is None
    assert [m.text for m in mos] == ["id: what is this stat: nothing"]
    assert smsc.wait_until(lambda: len(smsc.deliver_sm_responses()) == 4)
    assert [e["status"] for e in smsc.deliver_sm_responses()] == [0, 0, 0, 0]


def test_submits_in_flight_are_batched_into_few_writes(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool(window=10)
    pool.warm_up()
    smsc.set_latency(200)  # the first submit is outstanding while the others queue behind it
    pending = [pool.send_async(DEST, f"batched {index}") for index in range(10)]
    results = [item.result() for item in pending]
    assert all(result.accepted for result in results)
    (bind,) = pool._binds
    assert bind.pdus_written - bind.writes >= 5  # several PDUs shared one sendall
    # The SMSC's own decoder cut the coalesced stream into the same ten submits.
    received = smsc.wait_for_submits(10)
    by_text = {s.text: s.message_id for s in received}
    assert by_text == {f"batched {index}": r.message_ids[0] for index, r in enumerate(results)}
    if smsc.name == "node-smpp":  # smpp34 hands submits to its listener concurrently, unordered
        assert [s.text for s in received] == [f"batched {index}" for index in range(10)]
