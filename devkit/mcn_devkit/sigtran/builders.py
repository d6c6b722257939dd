"""Real SIGTRAN messages built with pycrate encoders (no hand-written hex).

The defaults describe one story: subscriber +447911123456 is switched off; the MSC
(point code 2001) forwards calls on not-reachable (CFNRc) to the platform (point code
1001); then the HLR (GT 447700000001) sends alertServiceCentre to the platform's GT.
"""

from __future__ import annotations

from dataclasses import dataclass

from pycrate_mobile import ISUP as pi

from mcn_gateway.protocol import m3ua, sccp
from mcn_gateway.protocol import map as map_codec
from mcn_gateway.protocol.isup import NAI_INTERNATIONAL, PRESENTATION_ALLOWED, PRESENTATION_RESTRICTED
from mcn_gateway.protocol.m3ua import ProtocolData

PLATFORM_PC = 1001
MSC_PC = 2001
HLR_PC = 3001
PLATFORM_GT = "447700900000"
HLR_GT = "447700000001"
SUBSCRIBER = "447911123456"
ROUTING_CONTEXT = 100
NETWORK_INDICATOR_NATIONAL = 2


def _address_digits(digits: str) -> bytes:
    # ISDN-AddressString: ext=1, international, E.164, then TBCD digits with an F filler
    padded = digits + ("F" if len(digits) % 2 else "")
    tbcd = bytes(int(padded[i + 1], 16) << 4 | int(padded[i], 16) for i in range(0, len(padded), 2))
    return b"\x91" + tbcd


def _tbcd(digits: str) -> bytes:
    padded = digits + ("F" if len(digits) % 2 else "")
    return bytes(int(padded[i + 1], 16) << 4 | int(padded[i], 16) for i in range(0, len(padded), 2))


def build_iam(
    cic: int,
    subscriber: str = SUBSCRIBER,
    caller: str | None = "447400123457",
    caller_presentation: int = PRESENTATION_ALLOWED,
    called: str = "447700999000",
    redirecting_reason: int = 6,
    international: bool = True,
) -> bytes:
    """ISUP IAM (Q.763) of a call forwarded to the platform: called = the platform's routing number,
    original called number = the subscriber, redirection information = CFNRc (reason 6)."""
    nai = NAI_INTERNATIONAL if international else 3
    iam = pi.InitialAddress()
    iam["CIC"].set_val(cic)
    iam["ForwardCallInd"]["ISDNUserPartInd"].set_val(1)
    iam["CallingPartyCat"].set_val(10)  # ordinary calling subscriber
    called_number = iam["CalledPartyNum"][1]
    called_number["NAI"].set_val(nai)
    called_number["NumPlan"].set_val(1)
    called_number.set_num(called)
    options = iam["Opt"]
    if caller is not None or caller_presentation != PRESENTATION_ALLOWED:
        option = options["CallingPartyNum"]
        option.set_trans(False)
        number = option[2]
        number["NAI"].set_val(nai)
        number["NumPlan"].set_val(1)
        number["AddrPresInd"].set_val(caller_presentation)
        number["ScreeningInd"].set_val(3)
        number.set_num(caller or "")
    option = options["RedirectingNum"]
    option.set_trans(False)
    option[2]["NAI"].set_val(nai)
    option[2]["NumPlan"].set_val(1)
    option[2].set_num(subscriber)
    option = options["RedirectionInfo"]
    option.set_trans(False)
    option[2]["RedirectingInd"].set_val(3)  # call diverted
    option[2]["OriginalRedirectReason"].set_val(0)
    option[2]["RedirectingReason"].set_val(redirecting_reason)
    option[2]["RedirectCounter"].set_val(1)
    option = options["OriginalCalledNum"]
    option.set_trans(False)
    option[2]["NAI"].set_val(nai)
    option[2]["NumPlan"].set_val(1)
    option[2].set_num(subscriber)
    options["EOO"].set_trans(False)
    return iam.to_bytes()


def build_map_udt(
    tcap_bytes: bytes,
    calling_gt: str = HLR_GT,
    called_gt: str = PLATFORM_GT,
    calling_ssn: int = sccp.SSN_HLR,
    called_ssn: int = sccp.SSN_MSC,
) -> bytes:
    """SCCP UDT (class 0, route on GT) carrying a TCAP message."""
    return sccp.encode_udt(
        sccp.encode_gt_address(called_gt, called_ssn), sccp.encode_gt_address(calling_gt, calling_ssn), tcap_bytes
    )


def build_alert_service_centre(
    subscriber: str = SUBSCRIBER,
    otid: int = 0x1001,
    version: int = 2,
    invoke_id: int = 1,
    calling_gt: str = HLR_GT,
    service_centre: str = PLATFORM_GT,
    opcode: int | None = None,
) -> bytes:
    """SCCP UDT + TCAP Begin + MAP alertServiceCentre (v2/v3: opcode 64 with the shortMsgAlert AC;
    v1: alertServiceCentreWithoutResult, opcode 49, no dialogue portion)."""
    argument = {"msisdn": _address_digits(subscriber), "serviceCentreAddress": _address_digits(service_centre)}
    if version == 1:
        begin = map_codec.encode_begin(otid.to_bytes(4, "big"), None, opcode or 49, argument, invoke_id)
    else:
        ac = (*map_codec.AC_SHORT_MSG_ALERT, version)
        begin = map_codec.encode_begin(otid.to_bytes(4, "big"), ac, opcode or 64, argument, invoke_id)
    return build_map_udt(begin, calling_gt=calling_gt)


def build_ready_for_sm(imsi: str = "234150999999999", otid: int = 0x2001, calling_gt: str = HLR_GT) -> bytes:
    argument = {"imsi": _tbcd(imsi), "alertReason": "ms-Present"}
    begin = map_codec.encode_begin(otid.to_bytes(4, "big"), (*map_codec.AC_MWD_MNGT, 3), 66, argument)
    return build_map_udt(begin, calling_gt=calling_gt, calling_ssn=sccp.SSN_VLR)


def m3ua_data(
    si: int,
    payload: bytes,
    opc: int,
    dpc: int = PLATFORM_PC,
    sls: int = 0,
    routing_context: int | None = ROUTING_CONTEXT,
) -> bytes:
    return m3ua.encode_data(
        ProtocolData(opc=opc, dpc=dpc, si=si, ni=NETWORK_INDICATOR_NATIONAL, mp=0, sls=sls, data=payload),
        routing_context=routing_context,
    )


@dataclass(frozen=True)
class ScenarioCall:
    caller: str | None  # None: withheld (CLIR)
    attempts: int = 1


DEFAULT_CALLS = (
    ScenarioCall("447400123457", attempts=2),
    ScenarioCall(None, attempts=1),  # withheld number (CLIR)
    ScenarioCall("447400123459", attempts=1),
)


def scenario_messages(
    subscriber: str = SUBSCRIBER,
    calls: tuple[ScenarioCall, ...] = DEFAULT_CALLS,
    first_cic: int = 1,
    routing_context: int | None = ROUTING_CONTEXT,
    alert_version: int = 2,
) -> tuple[list[bytes], list[bytes]]:
    """(M3UA DATA messages from the MSC: one IAM per attempt; DATA from the HLR: alertServiceCentre)."""
    iams = []
    cic = first_cic
    for call in calls:
        for _ in range(call.attempts):
            presentation = PRESENTATION_RESTRICTED if call.caller is None else PRESENTATION_ALLOWED
            caller = call.caller if call.caller is not None else "447400123458"  # present but restricted
            iam = build_iam(cic, subscriber=subscriber, caller=caller, caller_presentation=presentation)
            iams.append(m3ua_data(5, iam, opc=MSC_PC, sls=cic & 0x0F, routing_context=routing_context))
            cic += 1
    alert = build_alert_service_centre(subscriber=subscriber, version=alert_version)
    alerts = [m3ua_data(3, alert, opc=HLR_PC, routing_context=routing_context)]
    return iams, alerts


def scenario_bytes(subscriber: str = SUBSCRIBER, routing_context: int | None = ROUTING_CONTEXT, **kwargs) -> bytes:
    """The whole story as one M3UA byte stream from an ASP (e.g. an MSC/HLR acting as IPSP) to the
    gateway: ASPUP, ASPAC (routing context, loadshare), the IAMs, then alertServiceCentre."""
    iams, alerts = scenario_messages(subscriber=subscriber, routing_context=routing_context, **kwargs)
    contexts = [routing_context] if routing_context is not None else []
    return b"".join(
        [m3ua.encode_aspup(asp_id=1), m3ua.encode_aspac(m3ua.TRAFFIC_MODE_LOADSHARE, contexts), *iams, *alerts]
    )
