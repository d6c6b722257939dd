"""TCAP (ITU-T Q.773): messages, transaction ids, dialogue portion, components.

The MAP layer on top (operations, errors, arguments, AddressString) is mcn_gateway.protocol.map;
the dialogues the gateway opens itself are tracked in mcn_gateway.protocol.dialogues.

Decoding is layered so that only what is needed gets decoded:
1. the TCAP envelope (message type, transaction ids, dialogue AC name, components)
   is walked on pycrate's generic BER TLV parser (ASN1CodecBER.decode_all);
2. the MAP argument of an invoke is decoded with the pycrate ASN.1 type of that
   operation (pycrate_asn1dir.TCAP_MAPv2v3, in map.py) only when the gateway acts on it.
A full `TCAP-MAP-Message` decode of every message (including large
insertSubscriberData arguments the gateway never uses) is what made naive decoding
slow; the firewall decides on the opcode before any argument decoding.

Real traffic violates some ASN.1 size bounds (e.g. offeredCamel4CSIs, extension
containers); pycrate rejects those by default, so decoding runs with bound checks
relaxed (`relaxed_bounds`). The gateway's own answers (End, Abort) are written as BER
directly (cross-checked against pycrate in the tests); other messages (Begin, the scripted
HLR's answers) are encoded with the full TCAP-MAP-Message type.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pycrate_asn1dir import TCAP_MAPv2v3
from pycrate_asn1rt.asnobj import ASN1Obj
from pycrate_asn1rt.codecs import ASN1CodecBER
from pycrate_core.charpy import Charpy

from . import DecodeError

#: the ASN.1 modules of TCAP and MAP v2/v3 as pycrate compiled them
ASN1_MODULES = TCAP_MAPv2v3.GLOBAL.MOD
TCAP_MAP_MESSAGE = ASN1_MODULES["TCAP-MAP-Messages"]["TCAP-MAP-Message"]

#: one BER element in pycrate's decode_all layout: [class, constructed, tag, length, value, value start]
#: (value: a list of Tlv when constructed, else the (start, end) bit offsets of the content)
Tlv = list[Any]
#: a TCAP-MAP-Message value as pycrate takes and gives it: (message type name, its fields)
TcapValue = tuple[str, dict[str, Any]]

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

# the dialogue-as-id OID (Q.773)
DIALOGUE_AS_ID = (0, 0, 17, 773, 1, 1, 1)

# reject problem codes (Q.773): invokeProblem
INVOKE_PROBLEM_UNRECOGNIZED_OPERATION = 1
INVOKE_PROBLEM_MISTYPED_PARAMETER = 2
# P-AbortCause
P_ABORT_UNRECOGNIZED_TRANSACTION_ID = 1
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

    def invokes(self) -> list[Component]:
        return [c for c in self.components if c.kind == COMPONENT_INVOKE]


def _is_eoc(tlv: Tlv) -> bool:
    return bool(tlv[0] == 0 and tlv[1] == 0 and tlv[2] == 0 and tlv[3] == 0)


def _children(tlv: Tlv) -> list[Tlv]:
    """Sub-elements of a constructed element (end-of-contents markers of indefinite lengths removed)."""
    value = tlv[4]
    if not isinstance(value, list):
        raise DecodeError("tcap", "expected a constructed element")
    return [child for child in value if not _is_eoc(child)]


def _content(buf: bytes, tlv: Tlv) -> bytes:
    value = tlv[4]
    if isinstance(value, list):
        raise DecodeError("tcap", "expected a primitive element")
    return buf[value[0] >> 3 : value[1] >> 3]


def _tlv_bytes(buf: bytes, tlv: Tlv) -> bytes:
    """The whole element (tag + length + value) a TLV node was decoded from."""
    value = tlv[4]
    end = (value[1] >> 3) if not isinstance(value, list) else (_end_of(value) if value else tlv[5] >> 3)
    start = _start_of(buf, tlv)
    return buf[start:end]


def _end_of(children: list[Tlv]) -> int:
    last = children[-1]
    value = last[4]
    if isinstance(value, list) and value:
        return _end_of(value)
    value_start: int = last[5]
    if isinstance(value, list) or value == 0:  # empty constructed element, or EOC
        return value_start >> 3
    content_end: int = value[1]
    return content_end >> 3


def _start_of(buf: bytes, tlv: Tlv) -> int:
    # ccur (tlv[5]) is the value start; walk back over the length and tag octets
    value_start: int = tlv[5] >> 3
    length: int = tlv[3]
    tag: int = tlv[2]
    length_octets = 1 if length == -1 or length < 0x80 else 1 + (length.bit_length() + 7) // 8
    tag_octets = 1 if tag < 31 else 1 + (tag.bit_length() + 6) // 7
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


def _walk(char: Charpy, end: int, path: tuple[tuple[int, int], ...]) -> list[Tlv]:
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
    def _dialogue(buf: bytes, element: Tlv, message: TcapMessage) -> None:
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
    def _component(buf: bytes, element: Tlv) -> Component:
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


def decode_full(buf: bytes) -> TcapValue:
    """Full TCAP-MAP-Message decode (tests, diagnostics and the naive benchmark baseline)."""
    with relaxed_bounds():
        TCAP_MAP_MESSAGE.from_ber(buf)
        value: TcapValue = TCAP_MAP_MESSAGE.get_val()
        return value


# --- encoding -------------------------------------------------------------------------------------------


def dialogue_response(application_context: tuple[int, ...], accepted: bool = True) -> dict[str, Any]:
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


def _encode(value: TcapValue) -> bytes:
    with _bounds_lock:
        TCAP_MAP_MESSAGE.set_val(value)
        encoded: bytes = TCAP_MAP_MESSAGE.to_ber()
        return encoded


# --- answers: BER written directly -----------------------------------------------------------------------
# The answers the gateway sends on every dialogue (End with a result or a reject, P-Abort) have a fixed
# shape, so they are written as BER here (~2 us) instead of through pycrate's ASN.1 objects (~100 us).
# tests/unit/gateway/test_gw_answer_encoding.py checks them byte for byte against pycrate's encoding of
# the same value (the *_value functions below), over generated field values.

_INVOKE_PROBLEMS = {1: "unrecognizedOperation", 2: "mistypedArgument"}
_P_ABORT_CAUSES = {
    0: "unrecognizedMessageType",
    1: "unrecognizedTransactionID",
    2: "badlyFormattedTransactionPortion",
    3: "incorrectTransactionPortion",
    4: "resourceLimitation",
}


def _tlv(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes((tag, length)) + content
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets + content


def _ber_integer(value: int) -> bytes:
    return value.to_bytes(max(1, (value + (value < 0)).bit_length() // 8 + 1), "big", signed=True)


def _ber_oid(arcs: tuple[int, ...]) -> bytes:
    encoded = bytearray()
    for arc in (arcs[0] * 40 + arcs[1], *arcs[2:]):
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        encoded += bytes(reversed(chunk))
    return bytes(encoded)


_DIALOGUE_AS_ID_TLV = _tlv(0x06, _ber_oid(DIALOGUE_AS_ID))
_dialogue_responses: dict[tuple[int, ...], bytes] = {}


def _dialogue_response_portion(application_context: tuple[int, ...]) -> bytes:
    """dialoguePortion [APPLICATION 11] { EXTERNAL { dialogue-as-id, [0] AARE-apdu accepted } }."""
    portion = _dialogue_responses.get(application_context)
    if portion is None:
        aare = (
            _tlv(0x80, b"\x07\x80")  # protocol-version: version1
            + _tlv(0xA1, _tlv(0x06, _ber_oid(application_context)))
            + _tlv(0xA2, _tlv(0x02, b"\x00"))  # result: accepted
            + _tlv(0xA3, _tlv(0xA1, _tlv(0x02, b"\x00")))  # dialogue-service-user: null
        )
        portion = _tlv(0x6B, _tlv(0x28, _DIALOGUE_AS_ID_TLV + _tlv(0xA0, _tlv(0x61, aare))))
        if len(_dialogue_responses) < 256:  # a peer must not grow the cache at will
            _dialogue_responses[application_context] = portion
    return portion


def _invoke_id(invoke_id: int | None) -> bytes:
    return b"\x05\x00" if invoke_id is None else _tlv(0x02, _ber_integer(invoke_id))


def _end(dtid: bytes, application_context: tuple[int, ...] | None, components: bytes) -> bytes:
    dialogue = _dialogue_response_portion(application_context) if application_context else b""
    return _tlv(0x64, _tlv(0x49, dtid) + dialogue + components)


def end_result_value(dtid: bytes, invoke_id: int | None, application_context: tuple[int, ...] | None) -> TcapValue:
    end: dict[str, Any] = {"dtid": dtid}
    if application_context:
        end["dialoguePortion"] = dialogue_response(application_context)
    if invoke_id is not None:
        end["components"] = [("basicROS", ("returnResult", {"invokeId": ("present", invoke_id)}))]
    return ("end", end)


def encode_end_result(dtid: bytes, invoke_id: int | None, application_context: tuple[int, ...] | None) -> bytes:
    """TCAP End answering a Begin: dialogue response (when the Begin had an AC) + returnResultLast."""
    components = b"" if invoke_id is None else _tlv(0x6C, _tlv(0xA2, _invoke_id(invoke_id)))
    return _end(dtid, application_context, components)


def end_reject_value(
    dtid: bytes, invoke_id: int | None, application_context: tuple[int, ...] | None, problem: int
) -> TcapValue:
    end: dict[str, Any] = {"dtid": dtid}
    if application_context:
        end["dialoguePortion"] = dialogue_response(application_context)
    invoke = ("present", invoke_id) if invoke_id is not None else ("absent", 0)
    name = _INVOKE_PROBLEMS.get(problem, "unrecognizedOperation")
    end["components"] = [("basicROS", ("reject", {"invokeId": invoke, "problem": ("invoke", name)}))]
    return ("end", end)


def encode_end_reject(
    dtid: bytes, invoke_id: int | None, application_context: tuple[int, ...] | None, problem: int
) -> bytes:
    """TCAP End carrying a Reject component (e.g. unrecognizedOperation)."""
    code = problem if problem in _INVOKE_PROBLEMS else INVOKE_PROBLEM_UNRECOGNIZED_OPERATION
    reject = _tlv(0xA4, _invoke_id(invoke_id) + _tlv(0x81, bytes((code,))))  # problem: invoke [1]
    return _end(dtid, application_context, _tlv(0x6C, reject))


def p_abort_value(dtid: bytes, cause: int) -> TcapValue:
    reason = ("p-abortCause", _P_ABORT_CAUSES.get(cause, "resourceLimitation"))
    return ("abort", {"dtid": dtid, "reason": reason})


def encode_p_abort(dtid: bytes, cause: int) -> bytes:
    """TCAP Abort with a P-AbortCause [APPLICATION 10]."""
    code = cause if cause in _P_ABORT_CAUSES else P_ABORT_RESOURCE_LIMITATION
    return _tlv(0x67, _tlv(0x49, dtid) + _tlv(0x4A, bytes((code,))))


def encode_message(value: TcapValue) -> bytes:
    """Encode any TCAP-MAP-Message value with pycrate (the scripted HLR's answers, tests)."""
    return _encode(value)


def encode_begin(
    otid: bytes,
    application_context: tuple[int, ...] | None,
    opcode: int,
    argument: tuple[tuple[str, str], object] | None,
    invoke_id: int = 1,
) -> bytes:
    """TCAP Begin with one invoke; `argument` is ((ASN.1 module, type), value) or None (map.encode_begin types it)."""
    begin: dict[str, Any] = {"otid": otid}
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
    invoke: dict[str, Any] = {"invokeId": ("present", invoke_id), "opcode": ("local", opcode)}
    if argument is not None:
        invoke["argument"] = argument
    begin["components"] = [("basicROS", ("invoke", invoke))]
    return _encode(("begin", begin))
