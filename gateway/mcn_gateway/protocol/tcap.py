"""TCAP (ITU-T Q.773) and the MAP operations the gateway handles (3GPP TS 29.002).

Decoding is layered so that only what is needed gets decoded:
1. the TCAP envelope (message type, transaction ids, dialogue AC name, components)
   is walked on pycrate's generic BER TLV parser (ASN1CodecBER.decode_all);
2. the MAP argument of an invoke is decoded with the pycrate ASN.1 type of that
   operation (pycrate_asn1dir.TCAP_MAPv2v3) only when the gateway acts on it.
A full `TCAP-MAP-Message` decode of every message (including large
insertSubscriberData arguments the gateway never uses) is what made naive decoding
slow; the firewall decides on the opcode before any argument decoding.

Real traffic violates some ASN.1 size bounds (e.g. offeredCamel4CSIs, extension
containers); pycrate rejects those by default, so decoding runs with bound checks
relaxed (`relaxed_bounds`). Answers (End, Abort) are encoded with the full
TCAP-MAP-Message type.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pycrate_asn1dir import TCAP_MAPv2v3
from pycrate_asn1rt.asnobj import ASN1Obj
from pycrate_asn1rt.codecs import ASN1CodecBER
from pycrate_core.charpy import Charpy
from pycrate_mobile.TS24008_IE import decode_bcd
from pycrate_mobile.TS29002_MAPIE import AddressString

from . import DecodeError

_MODULES = TCAP_MAPv2v3.GLOBAL.MOD
TCAP_MAP_MESSAGE = _MODULES["TCAP-MAP-Messages"]["TCAP-MAP-Message"]

# TCAP message types: [APPLICATION n]
TCAP_UNIDIRECTIONAL = 1
TCAP_BEGIN = 2
TCAP_END = 4
TCAP_CONTINUE = 5
TCAP_ABORT = 7
TCAP_NAMES = {1: "unidirectional", 2: "begin", 4: "end", 5: "continue", 7: "abort"}

# component types: [CONTEXT n]
COMPONENT_INVOKE = 1
COMPONENT_RETURN_RESULT_LAST = 2
COMPONENT_RETURN_ERROR = 3
COMPONENT_REJECT = 4
COMPONENT_RETURN_RESULT_NOT_LAST = 7

# MAP operation codes (TS 29.002 17.5)
OP_UPDATE_LOCATION = 2
OP_SEND_ROUTING_INFO_FOR_SM = 45
OP_REPORT_SM_DELIVERY_STATUS = 47
OP_ALERT_SERVICE_CENTRE_WITHOUT_RESULT = 49  # MAP v1
OP_INFORM_SERVICE_CENTRE = 63
OP_ALERT_SERVICE_CENTRE = 64
OP_READY_FOR_SM = 66

MAP_OPERATION_NAMES = {
    2: "updateLocation",
    3: "cancelLocation",
    7: "insertSubscriberData",
    22: "sendRoutingInfo",
    45: "sendRoutingInfoForSM",
    46: "mo-forwardSM",
    44: "mt-forwardSM",
    47: "reportSM-DeliveryStatus",
    49: "alertServiceCentreWithoutResult",
    56: "sendAuthenticationInfo",
    63: "informServiceCentre",
    64: "alertServiceCentre",
    66: "readyForSM",
    71: "anyTimeInterrogation",
}

_ARGUMENT_TYPES = {
    OP_ALERT_SERVICE_CENTRE: ("MAP-SM-DataTypes", "AlertServiceCentreArg"),
    OP_ALERT_SERVICE_CENTRE_WITHOUT_RESULT: ("MAP-SM-DataTypes", "AlertServiceCentreArg"),
    OP_READY_FOR_SM: ("MAP-SM-DataTypes", "ReadyForSM-Arg"),
    OP_UPDATE_LOCATION: ("MAP-MS-DataTypes", "UpdateLocationArg"),
    OP_SEND_ROUTING_INFO_FOR_SM: ("MAP-SM-DataTypes", "RoutingInfoForSM-Arg"),
    OP_REPORT_SM_DELIVERY_STATUS: ("MAP-SM-DataTypes", "ReportSM-DeliveryStatusArg"),
    OP_INFORM_SERVICE_CENTRE: ("MAP-SM-DataTypes", "InformServiceCentreArg"),
}
# results of the operations the gateway invokes (v3 syntax; a v2 result is decoded only as far as needed)
_RESULT_TYPES = {
    OP_SEND_ROUTING_INFO_FOR_SM: ("MAP-SM-DataTypes", "RoutingInfoForSM-Res"),
    OP_REPORT_SM_DELIVERY_STATUS: ("MAP-SM-DataTypes", "ReportSM-DeliveryStatusRes"),
}

# MAP error codes (TS 29.002 17.6.6) the SMS gateway procedures can meet
ERR_UNKNOWN_SUBSCRIBER = 1
ERR_ABSENT_SUBSCRIBER_SM = 6
ERR_TELESERVICE_NOT_PROVISIONED = 11
ERR_CALL_BARRED = 13
ERR_FACILITY_NOT_SUPPORTED = 21
ERR_ABSENT_SUBSCRIBER = 27
ERR_SYSTEM_FAILURE = 34
ERR_DATA_MISSING = 35
ERR_UNEXPECTED_DATA_VALUE = 36
ERR_MESSAGE_WAITING_LIST_FULL = 33
MAP_ERROR_NAMES = {
    1: "unknownSubscriber",
    6: "absentSubscriberSM",
    11: "teleserviceNotProvisioned",
    13: "callBarred",
    21: "facilityNotSupported",
    27: "absentSubscriber",
    33: "messageWaitingListFull",
    34: "systemFailure",
    35: "dataMissing",
    36: "unexpectedDataValue",
}

# MW-Status (TS 29.002 7.6.8.3): BIT STRING, bit 0 first
MW_SC_ADDRESS_NOT_INCLUDED = 0
MW_MNRF_SET = 1
MW_MCEF_SET = 2
MW_MNRG_SET = 3

# sm-DeliveryOutcome (ReportSM-DeliveryStatusArg)
SM_DELIVERY_OUTCOMES = ("memoryCapacityExceeded", "absentSubscriber", "successfulTransfer")

# the dialogue-as-id OID (Q.773) and the MAP application contexts of interest (TS 29.002 17.3.3)
DIALOGUE_AS_ID = (0, 0, 17, 773, 1, 1, 1)
AC_SHORT_MSG_ALERT = (0, 4, 0, 0, 1, 0, 23)  # + version
AC_SHORT_MSG_GATEWAY = (0, 4, 0, 0, 1, 0, 20)
AC_NETWORK_LOC_UP = (0, 4, 0, 0, 1, 0, 1)
AC_MWD_MNGT = (0, 4, 0, 0, 1, 0, 24)

# reject problem codes (Q.773): invokeProblem
INVOKE_PROBLEM_UNRECOGNIZED_OPERATION = 1
INVOKE_PROBLEM_MISTYPED_PARAMETER = 2
# P-AbortCause
P_ABORT_UNRECOGNIZED_TRANSACTION_ID = 2
P_ABORT_RESOURCE_LIMITATION = 4

_bounds_lock = threading.Lock()


@contextlib.contextmanager
def relaxed_bounds() -> Iterator[None]:
    """Decode without ASN.1 size/range bound checks: real networks send out-of-bound values."""
    with _bounds_lock:
        saved = (ASN1Obj._SAFE_BND, ASN1Obj._SAFE_BNDTAB)
        ASN1Obj._SAFE_BND = ASN1Obj._SAFE_BNDTAB = False
        try:
            yield
        finally:
            ASN1Obj._SAFE_BND, ASN1Obj._SAFE_BNDTAB = saved


@dataclass(slots=True)
class Component:
    kind: int
    invoke_id: int | None
    opcode: int | None = None  # local opcode; global (OID) opcodes are kept as None
    parameter: bytes | None = None  # the full BER TLV of the argument / result
    error_code: int | None = None


@dataclass(slots=True)
class TcapMessage:
    kind: int
    otid: bytes | None = None
    dtid: bytes | None = None
    application_context: tuple[int, ...] | None = None
    dialogue_pdu: int | None = None  # APPLICATION tag of the dialogue PDU: 0 AARQ, 1 AARE, 4 ABRT
    components: list[Component] = field(default_factory=list)
    abort_cause: int | None = None
    dialogue_result: int | None = None  # AARE result: 0 accepted, 1 reject-permanent
    dialogue_diagnostic: tuple[int, int] | None = None  # (1 service-user | 2 service-provider, value)

    @property
    def name(self) -> str:
        return TCAP_NAMES.get(self.kind, f"tcap({self.kind})")

    @property
    def ac_version(self) -> int | None:
        return self.application_context[-1] if self.application_context else None

    def invokes(self) -> list[Component]:
        return [c for c in self.components if c.kind == COMPONENT_INVOKE]


def _is_eoc(tlv: list) -> bool:
    return tlv[0] == 0 and tlv[1] == 0 and tlv[2] == 0 and tlv[3] == 0


def _children(tlv: list) -> list:
    """Sub-elements of a constructed element (end-of-contents markers of indefinite lengths removed)."""
    value = tlv[4]
    if not isinstance(value, list):
        raise DecodeError("tcap", "expected a constructed element")
    return [child for child in value if not _is_eoc(child)]


def _content(buf: bytes, tlv: list) -> bytes:
    value = tlv[4]
    if isinstance(value, list):
        raise DecodeError("tcap", "expected a primitive element")
    return buf[value[0] >> 3 : value[1] >> 3]


def _tlv_bytes(buf: bytes, tlv: list) -> bytes:
    """The whole element (tag + length + value) a TLV node was decoded from."""
    value = tlv[4]
    end = (value[1] >> 3) if not isinstance(value, list) else (_end_of(value) if value else tlv[5] >> 3)
    start = _start_of(buf, tlv)
    return buf[start:end]


def _end_of(children: list) -> int:
    last = children[-1]
    value = last[4]
    if isinstance(value, list):
        return _end_of(value) if value else last[5] >> 3
    if value == 0:  # EOC
        return last[5] >> 3
    return value[1] >> 3


def _start_of(buf: bytes, tlv: list) -> int:
    # ccur (tlv[5]) is the value start; walk back over the length and tag octets
    value_start = tlv[5] >> 3
    length = tlv[3]
    length_octets = 1 if length == -1 or length < 0x80 else 1 + (length.bit_length() + 7) // 8
    tag_octets = 1 if tlv[2] < 31 else 1 + (tlv[2].bit_length() + 6) // 7
    return value_start - length_octets - tag_octets


def _integer(raw: bytes) -> int:
    if not raw:
        raise DecodeError("tcap", "empty INTEGER")
    return int.from_bytes(raw, "big", signed=True)


def _oid(raw: bytes) -> tuple[int, ...]:
    if not raw:
        raise DecodeError("tcap", "empty OBJECT IDENTIFIER")
    arcs: list[int] = []
    value = 0
    for octet in raw:
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return tuple(head + arcs[1:])


_COMPONENT_TAGS = frozenset((1, 2, 3, 4, 7))


def _descend(path: tuple[tuple[int, int], ...]) -> bool:
    """Which constructed elements the envelope walk opens: everything in the dialogue portion; in the
    component portion the components and a returnResult's (opcode, result) sequence, but never an
    argument or result value (decoded on demand by its MAP type)."""
    if len(path) <= 1:
        return True  # the TCAP message itself
    portion = path[1]
    if portion == (1, 11):  # dialogue portion: small, fully decoded
        return True
    if portion != (1, 12):
        return len(path) == 2
    if len(path) == 2:
        return True  # the component portion
    if len(path) == 3:
        return path[2][0] == 2 and path[2][1] in _COMPONENT_TAGS
    return len(path) == 4 and path[2][1] in (COMPONENT_RETURN_RESULT_LAST, COMPONENT_RETURN_RESULT_NOT_LAST)


def _walk(char: Charpy, end: int, path: tuple[tuple[int, int], ...]) -> list:
    """BER TLVs in pycrate's decode_all layout ([class, constructed, tag, length, value, value start]),
    read with pycrate's tag/length decoders, opening only what `_descend` asks for."""
    items = []
    while end - char._cur >= 16:
        tag_class, constructed, tag = ASN1CodecBER.decode_tag(char)
        length = ASN1CodecBER.decode_len(char)
        start = char._cur
        if length >= 0 and start + 8 * length > end:
            raise DecodeError("tcap", f"BER element [{tag_class}:{tag}] overruns its container")
        if constructed and length == -1:
            value: object = ASN1CodecBER.decode_all(char, lundef=True)  # indefinite: scan to its EOC
        elif constructed and _descend((*path, (tag_class, tag))):
            value = _walk(char, start + 8 * length, (*path, (tag_class, tag)))
            char._cur = start + 8 * length
        else:
            if length < 0:
                raise DecodeError("tcap", "indefinite length on a primitive element")
            value = (start, start + 8 * length)
            char._cur = start + 8 * length
        items.append([tag_class, constructed, tag, length, value, start])
    return items


class TcapDecoder:
    """Decodes a TCAP message's envelope; MAP arguments on demand with `decode_argument`."""

    def decode(self, buf: bytes) -> TcapMessage:
        try:
            tlvs = _walk(Charpy(buf), 8 * len(buf), ())
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError("tcap", f"BER: {exc}") from exc
        if not tlvs:
            raise DecodeError("tcap", "empty")
        top = tlvs[0]
        tag_class, _constructed, tag = top[0], top[1], top[2]
        if tag_class != 1 or tag not in TCAP_NAMES:
            raise DecodeError("tcap", f"not a TCAP message (tag class {tag_class}, tag {tag})")
        message = TcapMessage(kind=tag)
        try:
            for element in _children(top):
                if element[0] != 1:
                    continue
                if element[2] == 8:
                    message.otid = _content(buf, element)
                elif element[2] == 9:
                    message.dtid = _content(buf, element)
                elif element[2] == 10:
                    message.abort_cause = _integer(_content(buf, element))
                elif element[2] == 11:
                    self._dialogue(buf, element, message)
                elif element[2] == 12:
                    message.components = [self._component(buf, c) for c in _children(element)]
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError("tcap", f"{message.name}: {exc}") from exc
        if message.kind in (TCAP_BEGIN, TCAP_CONTINUE) and message.otid is None:
            raise DecodeError("tcap", f"{message.name} without an originating transaction id")
        if message.kind in (TCAP_END, TCAP_CONTINUE, TCAP_ABORT) and message.dtid is None:
            raise DecodeError("tcap", f"{message.name} without a destination transaction id")
        return message

    @staticmethod
    def _dialogue(buf: bytes, element: list, message: TcapMessage) -> None:
        # DialoguePortion ::= [APPLICATION 11] EXTERNAL { direct-reference OID, [0] single-ASN1-type }
        for external in _children(element):
            for part in _children(external):
                if part[0] == 2 and part[2] == 0:  # [0] single-ASN1-type
                    for pdu in _children(part):
                        message.dialogue_pdu = pdu[2]
                        for item in _children(pdu):
                            if item[0] == 2 and item[2] == 1 and pdu[2] in (0, 1):  # application-context-name
                                oid = _children(item)[0]
                                message.application_context = _oid(_content(buf, oid))
                            elif item[0] == 2 and item[2] == 2 and pdu[2] == 1:  # AARE result [2] INTEGER
                                message.dialogue_result = _integer(_content(buf, _children(item)[0]))
                            elif item[0] == 2 and item[2] == 3 and pdu[2] == 1:  # result-source-diagnostic [3]
                                source = _children(item)[0]  # [1] dialogue-service-user | [2] -provider
                                value = _integer(_content(buf, _children(source)[0]))
                                message.dialogue_diagnostic = (source[2], value)

    @staticmethod
    def _component(buf: bytes, element: list) -> Component:
        kind = element[2]
        component = Component(kind=kind, invoke_id=None)
        children = _children(element)
        if not children:
            raise DecodeError("tcap", "empty component")
        if children[0][0] == 0 and children[0][2] == 2:
            component.invoke_id = _integer(_content(buf, children[0]))
        rest = children[1:]
        if kind == COMPONENT_INVOKE:
            if rest and rest[0][0] == 2 and rest[0][2] == 0:  # [0] linkedID
                rest = rest[1:]
            if not rest:
                raise DecodeError("tcap", "invoke without an opcode")
            if rest[0][0] == 0 and rest[0][2] == 2:
                component.opcode = _integer(_content(buf, rest[0]))
            if len(rest) > 1:
                component.parameter = _tlv_bytes(buf, rest[1])
        elif kind in (COMPONENT_RETURN_RESULT_LAST, COMPONENT_RETURN_RESULT_NOT_LAST):
            if rest:  # SEQUENCE { opcode, result }
                inner = _children(rest[0])
                if inner and inner[0][0] == 0 and inner[0][2] == 2:
                    component.opcode = _integer(_content(buf, inner[0]))
                if len(inner) > 1:
                    component.parameter = _tlv_bytes(buf, inner[1])
        elif kind == COMPONENT_RETURN_ERROR and rest and rest[0][0] == 0 and rest[0][2] == 2:
            component.error_code = _integer(_content(buf, rest[0]))
        return component


# --- MAP arguments --------------------------------------------------------------------------------------


def decode_address_string(raw: bytes) -> tuple[str, bool]:
    """(digits, international) from a MAP AddressString / ISDN-AddressString (TS 29.002 17.7.8):
    octet 1 = extension | nature of address | numbering plan, then TBCD digits."""
    if not raw:
        raise DecodeError("map", "empty AddressString")
    return decode_bcd(raw[1:]), (raw[0] >> 4) & 0x07 == 1


def decode_address_string_reference(raw: bytes) -> tuple[str, bool]:
    """The same with pycrate's AddressString structure (slower; used to cross-check)."""
    address = AddressString()
    address.from_bytes(raw)
    number = address["Num"].get_alt()
    digits = number.decode() if hasattr(number, "decode") else ""
    return "".join(ch for ch in digits if ch.isdigit()), address["NumType"].get_val() == 1


def decode_tbcd(raw: bytes) -> str:
    return decode_bcd(raw)


def _decode_map_value(types: dict, opcode: int, parameter: bytes, what: str) -> dict:
    module, name = types.get(opcode, (None, None))
    if module is None:
        raise DecodeError("map", f"no {what} decoder for opcode {opcode}")
    asn1_type = _MODULES[module][name]
    try:
        with relaxed_bounds():
            asn1_type.from_ber(parameter)
            return asn1_type.get_val()
    except Exception as exc:
        raise DecodeError("map", f"{name}: {exc}") from exc


def decode_argument(opcode: int, parameter: bytes) -> dict:
    """Decode a MAP invoke argument with its pycrate ASN.1 type (bounds relaxed)."""
    return _decode_map_value(_ARGUMENT_TYPES, opcode, parameter, "argument")


def decode_result(opcode: int, parameter: bytes) -> dict:
    """Decode a MAP returnResult value of an operation the gateway invokes (bounds relaxed)."""
    return _decode_map_value(_RESULT_TYPES, opcode, parameter, "result")


def bit_set(bits: tuple[int, int] | None, position: int) -> bool:
    """Whether bit `position` (0 = first) of a pycrate BIT STRING value (int, length) is set."""
    if not bits:
        return False
    value, length = bits
    return position < length and bool((value >> (length - 1 - position)) & 1)


def encode_address_string(digits: str, international: bool = True) -> bytes:
    """ISDN-AddressString (TS 29.002 17.7.8): ext=1, nature of address, E.164 plan, TBCD digits."""
    if not digits.isdigit():
        raise ValueError("an AddressString holds decimal digits only")
    padded = digits + ("F" if len(digits) % 2 else "")
    tbcd = bytes(int(padded[i + 1], 16) << 4 | int(padded[i], 16) for i in range(0, len(padded), 2))
    return bytes([0x91 if international else 0xA1]) + tbcd


def decode_full(buf: bytes) -> tuple:
    """Full TCAP-MAP-Message decode (tests, diagnostics and the naive benchmark baseline)."""
    with relaxed_bounds():
        TCAP_MAP_MESSAGE.from_ber(buf)
        return TCAP_MAP_MESSAGE.get_val()


# --- encoding -------------------------------------------------------------------------------------------


def _dialogue_response(application_context: tuple[int, ...], accepted: bool = True) -> dict:
    diagnostic = ("dialogue-service-user", "null" if accepted else "application-context-name-not-supported")
    return {
        "direct-reference": DIALOGUE_AS_ID,
        "encoding": (
            "single-ASN1-type",
            (
                "DialoguePDU",
                (
                    "dialogueResponse",
                    {
                        "protocol-version": (1, 1),
                        "application-context-name": application_context,
                        "result": "accepted" if accepted else "reject-permanent",
                        "result-source-diagnostic": diagnostic,
                    },
                ),
            ),
        ),
    }


def _encode(value: tuple) -> bytes:
    with _bounds_lock:
        TCAP_MAP_MESSAGE.set_val(value)
        return TCAP_MAP_MESSAGE.to_ber()


_DTID_PLACEHOLDER = 0xFE
_answer_templates: dict[tuple, tuple[bytes, int]] = {}


def _encode_answer(kind: str, body: dict, key: tuple) -> bytes:
    """Answers differ between dialogues only by their dtid: pycrate encodes each shape once with a
    placeholder dtid, later answers substitute the real one (an encode costs ~0.5 ms)."""
    dtid: bytes = body["dtid"]
    cache_key = (kind, len(dtid), *key)
    template = _answer_templates.get(cache_key)
    if template is None:
        placeholder = bytes([_DTID_PLACEHOLDER]) * len(dtid)
        encoded = _encode((kind, {**body, "dtid": placeholder}))
        offset = encoded.find(b"\x49" + bytes([len(dtid)]) + placeholder)
        if offset < 0 or len(_answer_templates) > 1024:
            return _encode((kind, body))
        template = (encoded, offset + 2)
        _answer_templates[cache_key] = template
    encoded, offset = template
    return encoded[:offset] + dtid + encoded[offset + len(dtid) :]


def encode_end_result(dtid: bytes, invoke_id: int | None, application_context: tuple[int, ...] | None) -> bytes:
    """TCAP End answering a Begin: dialogue response (when the Begin had an AC) + returnResultLast."""
    end: dict = {"dtid": dtid}
    if application_context:
        end["dialoguePortion"] = _dialogue_response(application_context)
    if invoke_id is not None:
        end["components"] = [("basicROS", ("returnResult", {"invokeId": ("present", invoke_id)}))]
    return _encode_answer("end", end, ("result", invoke_id, application_context))


def encode_end_reject(
    dtid: bytes, invoke_id: int | None, application_context: tuple[int, ...] | None, problem: int
) -> bytes:
    """TCAP End carrying a Reject component (e.g. unrecognizedOperation)."""
    problems = {1: "unrecognizedOperation", 2: "mistypedArgument"}
    end: dict = {"dtid": dtid}
    if application_context:
        end["dialoguePortion"] = _dialogue_response(application_context)
    invoke = ("present", invoke_id) if invoke_id is not None else ("absent", 0)
    end["components"] = [
        (
            "basicROS",
            ("reject", {"invokeId": invoke, "problem": ("invoke", problems.get(problem, "unrecognizedOperation"))}),
        )
    ]
    return _encode_answer("end", end, ("reject", invoke_id, application_context, problem))


def encode_p_abort(dtid: bytes, cause: int) -> bytes:
    causes = {
        0: "unrecognizedMessageType",
        1: "unrecognizedTransactionID",
        2: "badlyFormattedTransactionPortion",
        3: "incorrectTransactionPortion",
        4: "resourceLimitation",
    }
    reason = ("p-abortCause", causes.get(cause, "resourceLimitation"))
    return _encode_answer("abort", {"dtid": dtid, "reason": reason}, ("p-abort", cause))


def encode_message(value: tuple) -> bytes:
    """Encode any TCAP-MAP-Message value with pycrate (the scripted HLR's answers, tests)."""
    return _encode(value)


def encode_u_abort(dtid: bytes) -> bytes:
    """TCAP Abort (user abort, no dialogue portion) ending a dialogue the peer confirmed."""
    return _encode(("abort", {"dtid": dtid}))


def encode_begin(
    otid: bytes, application_context: tuple[int, ...] | None, opcode: int, argument: dict | None, invoke_id: int = 1
) -> bytes:
    """TCAP Begin with one invoke: the scripted peers' alerts and the MAP dialogues the gateway opens."""
    begin: dict = {"otid": otid}
    if application_context:
        begin["dialoguePortion"] = {
            "direct-reference": DIALOGUE_AS_ID,
            "encoding": (
                "single-ASN1-type",
                (
                    "DialoguePDU",
                    ("dialogueRequest", {"protocol-version": (1, 1), "application-context-name": application_context}),
                ),
            ),
        }
    invoke: dict = {"invokeId": ("present", invoke_id), "opcode": ("local", opcode)}
    if argument is not None:
        module, name = _ARGUMENT_TYPES[opcode]
        invoke["argument"] = ((module, name), argument)
    begin["components"] = [("basicROS", ("invoke", invoke))]
    return _encode(("begin", begin))


# --- dialogues the gateway starts ---------------------------------------------------------------------

# (message addressed to the dialogue, the answering node's GT) -> TCAP messages to send back on that path.
# The message is the gateway's own Begin when SCCP returned it undeliverable (UDTS/XUDTS).
DialogueHandler = Callable[[TcapMessage, str | None], list[bytes]]


class TransactionRegistry:
    """Transaction ids of dialogues this gateway opened, so End/Continue/Abort find their owner.

    Used from two threads (the MAP client opens/closes, the signalling thread looks up): guarded by a lock.
    Ids are 4 octets, random-based so that a restarted gateway does not reuse the ids of its predecessor's
    dialogues still open at the HLR.
    """

    def __init__(self) -> None:
        self._next = itertools.count(int.from_bytes(os.urandom(3), "big") << 8)
        self._handlers: dict[bytes, DialogueHandler] = {}
        self._lock = threading.Lock()

    def open(self, handler: DialogueHandler) -> bytes:
        with self._lock:
            while True:
                otid = (next(self._next) & 0xFFFFFFFF).to_bytes(4, "big")
                if otid not in self._handlers:
                    break
            self._handlers[otid] = handler
        return otid

    def close(self, otid: bytes) -> None:
        with self._lock:
            self._handlers.pop(otid, None)

    def handler_for(self, dtid: bytes | None) -> DialogueHandler | None:
        if dtid is None:
            return None
        with self._lock:
            return self._handlers.get(dtid)

    def __len__(self) -> int:
        with self._lock:
            return len(self._handlers)
