"""The fast IAM decoder (octets read directly) against pycrate, which it replaced on the hot path.

IAMs are built by pycrate's own encoders (message and parameters) from values hypothesis draws, so
the expected fields come from the drawing, independent of both decoders: the fast path must return
them, and so must pycrate's whole-message decode. Truncated and garbled IAMs get the same accept /
reject decision on both paths, and the same fields when both accept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from pycrate_mobile import ISUP as pi
from pycrate_mobile.TS24008_IE import BufBCD

from mcn_devkit.sigtran.builders import build_iam
from mcn_gateway.pcap import iter_sctp_data
from mcn_gateway.protocol import DecodeError, isup
from mcn_gateway.replay import M2paDecoder

CAPTURES = Path(__file__).resolve().parent / "captures"
DECODER = isup.IsupDecoder()
PROPERTIES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(decode, data: bytes, *args: bool) -> isup.InitialAddress | str:
    try:
        return decode(data, *args)
    except DecodeError:
        return "refused"


def _pycrate_reframes(data: bytes) -> bool:
    """pycrate reads a fixed-size optional parameter by its size, not by its length octet, so an
    over- or under-long one makes it read the following octets out of step (the length octet frames
    a parameter, Q.763 1.3.3 / Q.764 2.9.5); the fast path follows the length octets."""
    try:
        iam = pi.InitialAddress()
        iam.from_bytes(data)
    except Exception:
        return False
    return any(
        len(option[2].to_bytes()) != option[1].get_val()
        for option in iam["Opt"]._content
        if not option.get_trans() and len(option._content) == 3
    )


_READ = (
    isup.PARAM_CALLING_PARTY_NUMBER,
    isup.PARAM_REDIRECTING_NUMBER,
    isup.PARAM_REDIRECTION_INFORMATION,
    isup.PARAM_ORIGINAL_CALLED_NUMBER,
)


def _canonical(data: bytes) -> bytes:
    """The IAM reduced to what the gateway reads, laid out as Q.763 lays it out: fixed part, pointers,
    called party number, the parameters read (their own octets, each once), end of optional parameters."""
    called, options = isup.IsupDecoder.split_iam(data)
    optional = b"".join(bytes([code, len(options[code])]) + options[code] for code in _READ if code in options)
    return data[:8] + bytes([2, 2 + len(called)]) + bytes([len(called)]) + called + optional + b"\x00"


# --- every IAM we have: captures, fixtures, regression cases ---------------------------------------------


def _capture_iams() -> list[bytes]:
    iams = []
    for path in sorted(CAPTURES.glob("*.pcap")):
        for payload in iter_sctp_data(path):
            if payload.ppid == 5:  # M2PA
                data = M2paDecoder().decode(payload.data)
                if data is not None and data.si == 5 and len(data.data) > 2 and data.data[2] == isup.MSG_IAM:
                    iams.append(data.data)
    return iams


FIXTURE_IAMS = [
    *_capture_iams(),
    build_iam(1),
    build_iam(2, caller=None),
    build_iam(3, caller_presentation=isup.PRESENTATION_RESTRICTED),
    build_iam(4, subscriber="7911123456", international=False, redirecting_reason=2),
    build_iam(5, subscriber="44770090012", caller="4474001234579"),  # odd lengths, filler 0
    # a repeated optional parameter (the last occurrence counts, commit 72597ff)
    b"\x04\x00\x01\x00 \x00\n\x00\x02\n\x08\x03\x10Dw\x00\x99\t\x00\n\x08\x03\x13DG\x00!Cu\x0b\x07\x03\x10\x97"
    b"\x11!Ce\x13\x0b\x03!(\x07\x00\x10\x97\x11!Ce\x00",
    b"\x01\x00\x01\x00 \x00\n\x00\x02\n\x08\x04\x10Dw\x00\x99\t\x00\n\x08\x04\x13DG\x00!Cu\x0b\x08\x04\x10D\x97"
    b"\x11!Ce\n\x02\x03a(\x08\x04\x10D\x97\x11!Ce\x00",
    # no end-of-optional-parameters octet after the last (whole) parameter: pycrate reads it, so do we
    build_iam(6)[:-1],
]


def test_the_captures_hold_an_iam():
    assert _capture_iams(), "the ISUP capture's IAM was not found"


@pytest.mark.parametrize("data", FIXTURE_IAMS, ids=range(len(FIXTURE_IAMS)))
def test_every_known_iam_decodes_the_same_on_the_fast_path_and_with_pycrate(data: bytes):
    for complete in (True, False):
        fast = _outcome(DECODER.decode_iam, data, complete)
        assert fast == _outcome(DECODER.decode_iam_with_pycrate, data, complete)
    if not _pycrate_reframes(data):
        assert _outcome(DECODER.decode_iam, data) == _outcome(DECODER.decode_iam_reference, data)


def test_address_signals_beyond_decimal_go_to_pycrate_and_are_counted():
    # called party number 4477A0: a nibble A (code 11/12 and spares are names in pycrate, not digits)
    data = bytearray(build_iam(7, subscriber="447700"))
    start = 8 + data[8]
    data[start + 3] = 0x7A
    decoder = isup.IsupDecoder()
    iam = decoder.decode_iam(bytes(data))
    assert decoder.fallbacks == 1
    assert iam == decoder.decode_iam_with_pycrate(bytes(data))
    assert iam.called is not None and "_" in iam.called.digits  # pycrate's name for the signal


# --- IAMs built by pycrate from drawn values ---------------------------------------------------------


@dataclass(frozen=True)
class DrawnNumber:
    code: int  # optional parameter name (0 for the called party number)
    nai: int
    digits: str
    filler_f: bool
    presentation: int = 0

    def expected(self) -> isup.IsupNumber | None:
        return isup.IsupNumber(self.digits, self.nai) if self.digits else None


_NUMBER_CLASSES = {
    0: pi.CalledPartyNum,
    isup.PARAM_CALLING_PARTY_NUMBER: pi.CallingPartyNum,
    isup.PARAM_REDIRECTING_NUMBER: pi.RedirectingNum,
    isup.PARAM_ORIGINAL_CALLED_NUMBER: pi.OriginalCalledNum,
    0xC0: pi.GenericNum,
}


def _fill(element, number: DrawnNumber, plan: int) -> None:
    """Set a pycrate number structure: pycrate encodes the BCD (filler 0, as Q.763 says), or the
    3GPP BCD encoder does (filler F, as often seen in the field)."""
    element["NAI"].set_val(number.nai)
    element["NumPlan"].set_val(plan)
    if "AddrPresInd" in element._by_name:
        element["AddrPresInd"].set_val(number.presentation)
    element.set_num(number.digits)
    if number.filler_f:
        bcd = BufBCD("Num")
        bcd.encode(number.digits)
        element["Num"].set_val(bcd.get_val())
    element["OE"].set_val(len(number.digits) % 2)


def _encoded_number(number: DrawnNumber, plan: int) -> bytes:
    element = _NUMBER_CLASSES[number.code]()
    _fill(element, number, plan)
    value: bytes = element.to_bytes()
    return value


@st.composite
def numbers(draw, code: int) -> DrawnNumber:
    return DrawnNumber(
        code=code,
        nai=draw(st.integers(0, 127)),
        digits=draw(st.text("0123456789", max_size=18)),
        filler_f=draw(st.booleans()),
        presentation=draw(st.integers(0, 3)) if code == isup.PARAM_CALLING_PARTY_NUMBER else 0,
    )


# parameters the gateway does not read, with pycrate's default contents: they must be stepped over
_OTHER_PARAMETERS = ("OptForwardCallInd", "UserServiceInfo", "AccessTransport", "HopCounter", "LocationNum")


@dataclass(frozen=True)
class DrawnIam:
    data: bytes
    expected: isup.InitialAddress


def _expected_iam(cic: int, called: DrawnNumber, present: dict[int, object]) -> isup.InitialAddress:
    calling = present.get(isup.PARAM_CALLING_PARTY_NUMBER)
    presentation = isup.PRESENTATION_UNAVAILABLE
    calling_number = None
    if isinstance(calling, DrawnNumber):
        presentation = isup.PRESENTATION_RESTRICTED if calling.presentation == 3 else calling.presentation
        if calling.digits:
            calling_number = isup.IsupNumber(calling.digits, calling.nai, presentation)
        elif presentation == isup.PRESENTATION_ALLOWED:
            presentation = isup.PRESENTATION_UNAVAILABLE
    info = present.get(isup.PARAM_REDIRECTION_INFORMATION)
    redirecting = present.get(isup.PARAM_REDIRECTING_NUMBER)
    original = present.get(isup.PARAM_ORIGINAL_CALLED_NUMBER)
    return isup.InitialAddress(
        cic=cic,
        called=called.expected(),
        calling=calling_number,
        calling_presentation=presentation,
        redirecting=redirecting.expected() if isinstance(redirecting, DrawnNumber) else None,
        original_called=original.expected() if isinstance(original, DrawnNumber) else None,
        redirecting_reason=info[1] if isinstance(info, tuple) else None,
        original_redirect_reason=info[0] if isinstance(info, tuple) else None,
    )


@st.composite
def pycrate_iams(draw) -> DrawnIam:
    """An IAM encoded by pycrate's InitialAddress; a parameter repeated after the others is spliced in
    as a TLV pycrate encoded (pycrate's message structure holds each parameter once)."""
    cic = draw(st.integers(0, 0x0FFF))
    plan = draw(st.integers(0, 7))
    iam = pi.InitialAddress()
    iam["CIC"].set_val(cic)
    iam["CallingPartyCat"].set_val(draw(st.integers(0, 255)))
    called = draw(numbers(0))
    _fill(iam["CalledPartyNum"][1], called, plan)
    options = iam["Opt"]
    present: dict[int, object] = {}
    for code, name in (
        (isup.PARAM_CALLING_PARTY_NUMBER, "CallingPartyNum"),
        (isup.PARAM_REDIRECTING_NUMBER, "RedirectingNum"),
        (isup.PARAM_ORIGINAL_CALLED_NUMBER, "OriginalCalledNum"),
        (0xC0, "GenericNum"),
    ):
        if draw(st.booleans()):
            number = present[code] = draw(numbers(code))
            options[name].set_trans(False)
            _fill(options[name][2], number, plan)
    if draw(st.booleans()):
        reasons = present[isup.PARAM_REDIRECTION_INFORMATION] = (draw(st.integers(0, 15)), draw(st.integers(0, 15)))
        options["RedirectionInfo"].set_trans(False)
        info = options["RedirectionInfo"][2]
        info["OriginalRedirectReason"].set_val(reasons[0])
        info["RedirectingInd"].set_val(draw(st.integers(0, 7)))
        info["RedirectingReason"].set_val(reasons[1])
        info["RedirectCounter"].set_val(draw(st.integers(0, 7)))
    for name in draw(st.lists(st.sampled_from(_OTHER_PARAMETERS), unique=True, max_size=3)):
        options[name].set_trans(False)
    options["EOO"].set_trans(False)
    data = iam.to_bytes()
    repeats = draw(st.lists(st.sampled_from(sorted(_NUMBER_CLASSES.keys() - {0})), max_size=2))
    for code in repeats:  # the last occurrence counts (pycrate reads it so)
        number = present[code] = draw(numbers(code))
        value = _encoded_number(number, plan)
        data = data[:-1] + bytes([code, len(value)]) + value + b"\x00"
    return DrawnIam(data, _expected_iam(cic, called, present))


@PROPERTIES
@given(pycrate_iams())
@example(DrawnIam(build_iam(9), isup.IsupDecoder().decode_iam_reference(build_iam(9))))
def test_pycrate_built_iams_decode_to_the_drawn_fields(drawn: DrawnIam):
    fast = DECODER.decode_iam(drawn.data)
    assert fast == drawn.expected
    assert DECODER.decode_iam_reference(drawn.data) == drawn.expected
    expected = drawn.expected
    if (
        expected.original_called is not None
        or isup.PARAM_ORIGINAL_CALLED_NUMBER in isup.IsupDecoder.split_iam(drawn.data)[1]
    ):
        expected = expected._replace(called=None, redirecting=None)
    elif isup.PARAM_REDIRECTING_NUMBER in isup.IsupDecoder.split_iam(drawn.data)[1]:
        expected = expected._replace(called=None)
    assert DECODER.decode_iam(drawn.data, complete=False) == expected


@st.composite
def damaged_iams(draw) -> bytes:
    data = bytearray(draw(pycrate_iams()).data)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["truncate", "overwrite", "insert", "delete"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "truncate":
            del data[position:]
        elif action == "overwrite" and data:
            data[position] = draw(st.integers(0, 255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=3))
        elif action == "delete" and data:
            del data[position]
    return bytes(data)


@PROPERTIES
@given(damaged_iams())
def test_damaged_iams_get_pycrates_decision_where_pycrate_frames_them_right(data: bytes):
    fast = _outcome(DECODER.decode_iam, data)
    assert fast == _outcome(DECODER.decode_iam_with_pycrate, data)
    if _pycrate_reframes(data):
        event("pycrate misframes a parameter")
        return
    if len(data) > 9 and data[9] and 9 + data[9] > len(data):
        # pycrate reads no optional part there; the pointer leaves the message: refused, counted
        event("optional part pointer out of the message")
        assert fast == "refused"
        return
    reference = _outcome(DECODER.decode_iam_reference, data)
    if fast == reference:
        event("same decision and fields" if fast != "refused" else "both refuse")
        return
    # the fast path may only be more lenient than pycrate about what it does not read (a parameter
    # pycrate finds malformed, the pointers' layout): the IAM reduced to what the gateway reads
    # decodes in pycrate to exactly what the fast path returned
    event("pycrate refuses a part the gateway does not read")
    assert fast != "refused", f"pycrate accepts what the fast path refuses: {reference}"
    assert DECODER.decode_iam_reference(_canonical(data)) == fast


@PROPERTIES
@given(st.binary(max_size=64))
def test_garbage_is_refused_with_a_decode_error_never_another_exception(data: bytes):
    _outcome(DECODER.decode_iam, data)
    _outcome(DECODER.decode_iam, data, False)
