"""What the SMPP receiver (`mcn-receiver`) forwards to the receipts function.

One event object, or a batch `{"events": [...]}` (mcn_core.models.envelope). Two kinds:

- a delivery receipt, `{"kind": "receipt", "message_id": ..., "state": "DELIVRD", ...}`
- a mobile-originated SMS to the service short code, `{"kind": "mo", "source": ..., "text": ...}`

Unknown fields are ignored (not rejected): a newer receiver must never get events dropped
as final rejections by an older function. `kind` is the union's tag: msgspec reads it to pick
the model and writes it back in `to_data()`; it is not a constructor argument.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from mcn_core.models.base import FieldProblems, Model, aware
from mcn_core.models.types import AwareDatetime

#: SMPP 3.4 message states a receipt can carry (receipt text `stat:` / message_state TLV)
RECEIPT_STATES = frozenset(
    {"SCHEDULED", "ENROUTE", "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD", "SKIPPED"}
)
#: states after which the SMSC will not try again
FINAL_RECEIPT_STATES = frozenset({"DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "REJECTD"})

_VISIBLE_ASCII = r"^[\x21-\x7e]+$"


class ReceiptEvent(Model, tag_field="kind", tag="receipt", forbid_unknown_fields=False):
    #: the SMSC message id of one submitted part (submit_sm_resp), as the receipt quotes it
    message_id: Annotated[str, Meta(min_length=1, max_length=65, pattern=_VISIBLE_ASCII)]
    #: normalised to upper case, and one of RECEIPT_STATES
    state: str
    #: set by the receiver from the state; when absent, derived from the state here
    final: bool | None = None
    error_code: Annotated[str, Meta(max_length=16)] | None = None
    message_state: int | None = None
    submit_date: Annotated[str, Meta(max_length=16)] | None = None
    done_date: Annotated[str, Meta(max_length=16)] | None = None
    done_at: AwareDatetime | None = None
    received_at: AwareDatetime
    #: the handset the notice went to, as the SMSC gives it (the receipt's originator)
    handset: Annotated[str, Meta(max_length=21)] | None = None
    #: recognised only by its `id:... stat:...` text, with no receipt flag or TLV: anyone can send
    #: such a text, so it counts only when it comes from the notice's own handset
    from_text: bool = False

    def __post_init__(self) -> None:
        state = self.state.strip().upper()
        if state not in RECEIPT_STATES:
            expected = f"expected one of {sorted(RECEIPT_STATES)}"
            raise FieldProblems(("state", f"unknown receipt state {self.state!r}; {expected}"))
        msgspec.structs.force_setattr(self, "state", state)
        aware(self.done_at, "done_at")
        aware(self.received_at, "received_at")

    @property
    def kind(self) -> Literal["receipt"]:
        return "receipt"

    @property
    def is_final(self) -> bool:
        return self.final if self.final is not None else self.state in FINAL_RECEIPT_STATES


class MoEvent(Model, tag_field="kind", tag="mo", forbid_unknown_fields=False):
    #: the subscriber, as the SMSC gives it (international digits, +E.164 or national)
    source: Annotated[str, Meta(min_length=3, max_length=21)]
    #: the number the subscriber texted (the service short code)
    destination: Annotated[str, Meta(min_length=1, max_length=21)]
    text: Annotated[str, Meta(max_length=1600)]
    received_at: AwareDatetime
    #: unique per MO and increasing in arrival order (the receiver makes it from the arrival time):
    #: a re-delivered MO, or an older one arriving late, changes nothing and is not answered twice
    message_ref: Annotated[str, Meta(min_length=1, max_length=80, pattern=_VISIBLE_ASCII)]
    data_coding: int | None = None

    def __post_init__(self) -> None:
        aware(self.received_at, "received_at")

    @property
    def kind(self) -> Literal["mo"]:
        return "mo"


InboundEvent = ReceiptEvent | MoEvent


def inbound_event(data: Any) -> InboundEvent:
    """`data` validated as a receipt or an MO, by its `kind` (ValidationError: it is neither)."""
    event: InboundEvent = msgspec.convert(data, InboundEvent, strict=False)
    return event
