"""What the SMPP receiver (`mcn-receiver`) forwards to the receipts function.

One event object, or a batch `{"events": [...]}` (mcn_core.models.envelope). Two kinds:

- a delivery receipt, `{"kind": "receipt", "message_id": ..., "state": "DELIVRD", ...}`
- a mobile-originated SMS to the service short code, `{"kind": "mo", "source": ..., "text": ...}`

Unknown fields are ignored (not rejected): a newer receiver must never get events dropped
as final rejections by an older function.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from mcn_core.models.types import AwareDatetime

#: SMPP 3.4 message states a receipt can carry (receipt text `stat:` / message_state TLV)
RECEIPT_STATES = frozenset(
    {"SCHEDULED", "ENROUTE", "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD", "SKIPPED"}
)
#: states after which the SMSC will not try again
FINAL_RECEIPT_STATES = frozenset({"DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "REJECTD"})


class ReceiptEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: Literal["receipt"]
    #: the SMSC message id of one submitted part (submit_sm_resp), as the receipt quotes it
    message_id: str = Field(min_length=1, max_length=65, pattern=r"^[\x21-\x7e]+$")
    state: str
    #: set by the receiver from the state; when absent, derived from the state here
    final: bool | None = None
    error_code: str | None = Field(default=None, max_length=16)
    message_state: int | None = None
    submit_date: str | None = Field(default=None, max_length=16)
    done_date: str | None = Field(default=None, max_length=16)
    done_at: AwareDatetime | None = None
    received_at: AwareDatetime
    #: the handset the notice went to, as the SMSC gives it (the receipt's originator)
    handset: str | None = Field(default=None, max_length=21)
    #: recognised only by its `id:... stat:...` text, with no receipt flag or TLV: anyone can send
    #: such a text, so it counts only when it comes from the notice's own handset
    from_text: bool = False

    @field_validator("state")
    @classmethod
    def _known_state(cls, value: str) -> str:
        state = value.strip().upper()
        if state not in RECEIPT_STATES:
            raise ValueError(f"unknown receipt state {value!r}; expected one of {sorted(RECEIPT_STATES)}")
        return state

    @property
    def is_final(self) -> bool:
        return self.final if self.final is not None else self.state in FINAL_RECEIPT_STATES


class MoEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: Literal["mo"]
    #: the subscriber, as the SMSC gives it (international digits, +E.164 or national)
    source: str = Field(min_length=3, max_length=21)
    #: the number the subscriber texted (the service short code)
    destination: str = Field(min_length=1, max_length=21)
    text: str = Field(max_length=1600)
    received_at: AwareDatetime
    #: unique per MO and increasing in arrival order (the receiver makes it from the arrival time):
    #: a re-delivered MO, or an older one arriving late, changes nothing and is not answered twice
    message_ref: str = Field(min_length=1, max_length=80, pattern=r"^[\x21-\x7e]+$")
    data_coding: int | None = None


InboundEvent = Annotated[ReceiptEvent | MoEvent, Field(discriminator="kind")]
INBOUND_EVENT: TypeAdapter[ReceiptEvent | MoEvent] = TypeAdapter(InboundEvent)
