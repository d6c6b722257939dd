"""Delivery receipts and mobile-originated messages arriving in deliver_sm."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mcn_smpp.gsm0338 import decode_body, split_udh

ESM_CLASS_RECEIPT_MASK = 0x3C  # bits 2-5: message type
ESM_CLASS_MC_DELIVERY_RECEIPT = 0x04

#: SMPP 3.4 message_state TLV values, named as in the receipt text's ``stat:`` field
MESSAGE_STATES: dict[int, str] = {
    0: "SCHEDULED",
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
    9: "SKIPPED",
}
FINAL_STATES = frozenset({"DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "REJECTD"})

# Appendix B text: "id:IIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:..."
_RECEIPT_FIELD = re.compile(
    r"(?P<key>id|sub|dlvrd|submit date|done date|stat|err|text):(?P<value>.*?)"
    r"(?=\s+(?:id|sub|dlvrd|submit date|done date|stat|err|text):|$)",
    re.IGNORECASE | re.DOTALL,
)


def parse_receipt_text(text: str) -> dict[str, str]:
    """Fields of an ``id:... stat:...`` receipt text, keys lower-case with '_' for spaces."""
    return {
        match.group("key").lower().replace(" ", "_"): match.group("value").strip()
        for match in _RECEIPT_FIELD.finditer(text)
    }


@dataclass(frozen=True)
class DeliveryReceipt:
    message_id: str
    #: DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD, ENROUTE
    state: str
    #: raw message_state TLV when present
    message_state: int | None
    error_code: str | None
    submit_date: str | None
    done_date: str | None
    #: the subscriber the original message went to (receipt source_addr)
    source_addr: str
    destination_addr: str
    raw_text: str
    bind_id: int | None = None
    #: recognised only by its `id:... stat:...` text (no esm_class flag, no receipt TLV): a
    #: subscriber can send such a text too, so the receiver of it checks who it came from
    from_text: bool = False

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def delivered(self) -> bool:
        return self.state == "DELIVRD"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "receipt",
            "message_id": self.message_id,
            "state": self.state,
            "message_state": self.message_state,
            "error_code": self.error_code,
            "submit_date": self.submit_date,
            "done_date": self.done_date,
            "source_addr": self.source_addr,
            "destination_addr": self.destination_addr,
            "from_text": self.from_text,
        }


@dataclass(frozen=True)
class InboundMessage:
    """A mobile-originated SMS (e.g. a STOP keyword)."""

    source_addr: str
    destination_addr: str
    text: str
    data_coding: int
    esm_class: int
    udh: bytes
    body: bytes
    bind_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "mo",
            "source_addr": self.source_addr,
            "destination_addr": self.destination_addr,
            "text": self.text,
            "data_coding": self.data_coding,
        }


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.split(b"\x00", 1)[0].decode("latin-1")
    return str(value)


def is_receipt(esm_class: int) -> bool:
    """esm_class says "MC delivery receipt" (bits 2-5 = 0001)."""
    return (esm_class & ESM_CLASS_RECEIPT_MASK) == ESM_CLASS_MC_DELIVERY_RECEIPT


#: a receipt text starts with its id and carries a known final or interim state
_RECEIPT_TEXT_START = re.compile(r"\s*id:\S", re.IGNORECASE)
_KNOWN_STATES = frozenset(MESSAGE_STATES.values())


def looks_like_receipt_text(text: str) -> bool:
    """An Appendix B receipt text: starts with ``id:<id>`` and has ``stat:<known state>``.

    Used only when neither esm_class nor the TLVs say "receipt" (dialects that send receipts
    with esm_class 0). A known state is required so that an ordinary MO text that happens to
    start with "id:" is not taken for a receipt.
    """
    if not _RECEIPT_TEXT_START.match(text):
        return False
    fields = parse_receipt_text(text)
    return bool(fields.get("id")) and fields.get("stat", "").upper() in _KNOWN_STATES


def _receipt_text(body: bytes, data_coding: int) -> str:
    # Receipt texts are ASCII whatever data_coding says; a few SMSCs send them in UCS-2.
    if data_coding == 0x08 and len(body) % 2 == 0 and body[:1] == b"\x00":
        return body.decode("utf-16-be", errors="replace")
    return body.decode("latin-1")


def classify_deliver(
    *,
    esm_class: int,
    data_coding: int,
    short_message: bytes,
    message_payload: bytes | None,
    source_addr: str,
    destination_addr: str,
    receipted_message_id: str | None,
    message_state: int | None,
    bind_id: int | None = None,
    text_receipts: bool = True,
) -> DeliveryReceipt | InboundMessage:
    """Receipt or MO from the fields of a deliver_sm.

    A receipt is recognised by any of: esm_class 0x04 (MC delivery receipt), a
    ``receipted_message_id`` or ``message_state`` TLV, or (esm_class without UDHI and not a
    receipt type) a body that is an ``id:... stat:...`` receipt text. TLVs win over the text.
    ``text_receipts=False`` turns the last rule off: with an SMSC that always flags receipts,
    a subscriber's MO that looks like a receipt text then stays an MO.
    """
    raw_body = short_message or message_payload or b""
    udh, body = split_udh(raw_body, esm_class)
    receipt_id = receipted_message_id or None
    by_flag = is_receipt(esm_class) or receipt_id is not None or message_state is not None
    text = _receipt_text(body, data_coding)
    if not by_flag and (udh or not text_receipts or not looks_like_receipt_text(text)):
        return InboundMessage(
            source_addr=source_addr,
            destination_addr=destination_addr,
            text=decode_body(body, data_coding, udh),
            data_coding=data_coding,
            esm_class=esm_class,
            udh=udh,
            body=body,
            bind_id=bind_id,
        )
    fields = parse_receipt_text(text)
    if message_state is not None:
        state = MESSAGE_STATES.get(message_state, "UNKNOWN")
    else:
        state = fields.get("stat", "UNKNOWN").upper() or "UNKNOWN"
    return DeliveryReceipt(
        message_id=receipt_id or fields.get("id", ""),
        state=state,
        message_state=message_state,
        error_code=fields.get("err"),
        submit_date=fields.get("submit_date"),
        done_date=fields.get("done_date"),
        source_addr=source_addr,
        destination_addr=destination_addr,
        raw_text=text,
        bind_id=bind_id,
        from_text=not by_flag,
    )


def from_deliver_sm(
    pdu: Any, bind_id: int | None = None, *, text_receipts: bool = True
) -> DeliveryReceipt | InboundMessage:
    """Receipt or MO from a decoded deliver_sm (mcn_smpp.pdu.ShortMessagePdu, or any object
    with the same attribute names, e.g. smpplib's parsed PDU)."""
    tlv_state = getattr(pdu, "message_state", None)
    tlv_id = _text(getattr(pdu, "receipted_message_id", None))
    payload = getattr(pdu, "message_payload", None)
    return classify_deliver(
        esm_class=int(pdu.esm_class or 0),
        data_coding=int(pdu.data_coding or 0),
        short_message=bytes(pdu.short_message or b""),
        message_payload=bytes(payload) if payload else None,
        source_addr=_text(pdu.source_addr),
        destination_addr=_text(pdu.destination_addr),
        receipted_message_id=tlv_id or None,
        message_state=int(tlv_state) if tlv_state is not None else None,
        bind_id=bind_id,
        text_receipts=text_receipts,
    )
