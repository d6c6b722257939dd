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
        return value.rstrip(b"\x00").decode("latin-1")
    return str(value)


def is_receipt(esm_class: int) -> bool:
    return (esm_class & ESM_CLASS_RECEIPT_MASK) == ESM_CLASS_MC_DELIVERY_RECEIPT


def from_deliver_sm(pdu: Any, bind_id: int | None = None) -> DeliveryReceipt | InboundMessage:
    """Receipt or MO from a parsed smpplib deliver_sm (TLVs preferred, the text as fallback)."""
    esm_class = int(pdu.esm_class or 0)
    data_coding = int(pdu.data_coding or 0)
    raw_body = pdu.short_message or getattr(pdu, "message_payload", None) or b""
    source = _text(pdu.source_addr)
    destination = _text(pdu.destination_addr)
    udh, body = split_udh(raw_body, esm_class)
    if not is_receipt(esm_class):
        return InboundMessage(
            source_addr=source,
            destination_addr=destination,
            text=decode_body(body, data_coding, udh),
            data_coding=data_coding,
            esm_class=esm_class,
            udh=udh,
            body=body,
            bind_id=bind_id,
        )
    # Receipt texts are ASCII whatever data_coding says.
    text = body.decode("latin-1")
    fields = parse_receipt_text(text)
    tlv_id = _text(getattr(pdu, "receipted_message_id", None))
    tlv_state = getattr(pdu, "message_state", None)
    message_state = int(tlv_state) if tlv_state is not None else None
    if message_state is not None:
        state = MESSAGE_STATES.get(message_state, "UNKNOWN")
    else:
        state = fields.get("stat", "UNKNOWN").upper()
    return DeliveryReceipt(
        message_id=tlv_id or fields.get("id", ""),
        state=state,
        message_state=message_state,
        error_code=fields.get("err"),
        submit_date=fields.get("submit_date"),
        done_date=fields.get("done_date"),
        source_addr=source,
        destination_addr=destination,
        raw_text=text,
        bind_id=bind_id,
    )
