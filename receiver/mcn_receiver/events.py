"""Inbound SMPP PDUs -> the events the receipts function takes (mcn_core.models.inbound).

The events are built and validated with the published models, so the receiver never spools
something the function would reject as malformed.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from mcn_core.models.inbound import MoEvent, ReceiptEvent


def smpp_time(value: str | None) -> datetime | None:
    """YYMMDDhhmm[ss] (receipt text dates, SMSC time taken as UTC); None if unreadable."""
    if not value or not value.isdigit() or len(value) not in (10, 12):
        return None
    try:
        parsed = datetime.strptime(value, "%y%m%d%H%M%S" if len(value) == 12 else "%y%m%d%H%M")
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC)


class RefClock:
    """MO references that sort in arrival order (the function applies only newer ones)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._last = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()
        self._suffix = secrets.token_hex(3)  # tells receivers apart

    def next(self) -> tuple[datetime, str]:
        with self._lock:
            now = max(self._clock(), self._last + timedelta(microseconds=1))
            self._last = now
        return now, f"{now:%Y%m%dT%H%M%S.%fZ}-{self._suffix}"


def receipt_event(receipt: Any, received_at: datetime) -> ReceiptEvent:
    """From an mcn_smpp.DeliveryReceipt; mcn_core.models.base.ValidationError if it makes no valid receipt."""
    return ReceiptEvent.from_data(
        {
            "message_id": receipt.message_id,
            "state": receipt.state,
            "final": receipt.is_final,
            "error_code": receipt.error_code,
            "message_state": receipt.message_state,
            "submit_date": receipt.submit_date,
            "done_date": receipt.done_date,
            "done_at": smpp_time(receipt.done_date),
            "received_at": received_at,
            "handset": receipt.source_addr or None,
            "from_text": receipt.from_text,
        }
    )


def mo_event(message: Any, received_at: datetime, message_ref: str) -> MoEvent:
    """From an mcn_smpp.InboundMessage; mcn_core.models.base.ValidationError if it makes no valid MO."""
    return MoEvent.from_data(
        {
            "source": message.source_addr,
            "destination": message.destination_addr,
            "text": message.text,
            "received_at": received_at,
            "message_ref": message_ref,
            "data_coding": message.data_coding,
        }
    )
