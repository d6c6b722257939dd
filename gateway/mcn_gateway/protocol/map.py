"""MAP (3GPP TS 29.002) as the gateway uses it: operations, errors, application contexts, the
arguments of the operations it acts on, AddressString / TBCD digits.

MAP sits on TCAP (mcn_gateway.protocol.tcap): an invoke's argument is the BER TLV the TCAP
decoder kept aside, decoded here with the pycrate ASN.1 type of its operation only when the
gateway acts on it (bound checks relaxed: real networks send out-of-bound values).
"""

from __future__ import annotations

from typing import Any

from pycrate_mobile.TS24008_IE import decode_bcd
from pycrate_mobile.TS29002_MAPIE import AddressString

from . import DecodeError, tcap
from .tcap import ASN1_MODULES, relaxed_bounds

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

# MAP application contexts of interest (TS 29.002 17.3.3), without the version arc
AC_SHORT_MSG_ALERT = (0, 4, 0, 0, 1, 0, 23)  # + version
AC_SHORT_MSG_GATEWAY = (0, 4, 0, 0, 1, 0, 20)
AC_NETWORK_LOC_UP = (0, 4, 0, 0, 1, 0, 1)
AC_MWD_MNGT = (0, 4, 0, 0, 1, 0, 24)


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
    digits: str = decode_bcd(raw)
    return digits


def decode_argument(opcode: int, parameter: bytes) -> dict[str, Any]:
    """Decode a MAP invoke argument with its pycrate ASN.1 type (bounds relaxed)."""
    module, name = _ARGUMENT_TYPES.get(opcode, (None, None))
    if module is None or name is None:
        raise DecodeError("map", f"no argument decoder for opcode {opcode}")
    asn1_type = ASN1_MODULES[module][name]
    try:
        with relaxed_bounds():
            asn1_type.from_ber(parameter)
            value: dict[str, Any] = asn1_type.get_val()
            return value
    except Exception as exc:
        raise DecodeError("map", f"{name}: {exc}") from exc


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


def encode_begin(
    otid: bytes,
    application_context: tuple[int, ...] | None,
    opcode: int,
    argument: dict[str, Any] | None,
    invoke_id: int = 1,
) -> bytes:
    """TCAP Begin with one MAP invoke, its argument typed by the operation (`argument` a pycrate value)."""
    typed = (_ARGUMENT_TYPES[opcode], argument) if argument is not None else None
    return tcap.encode_begin(otid, application_context, opcode, typed, invoke_id)
