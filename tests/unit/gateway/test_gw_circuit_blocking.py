"""Local blocking of the flash-call trunk's circuits (Q.764 2.8 / 2.9.2): the operator's block and unblock, the
BLO/CGB and UBL/CGU the MSC sees (read back by pycrate), their acknowledgements and timers, and how resets
keep the block. Hand-driven clock, no sockets."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrate_mobile import ISUP as pi

from mcn_core.models.origination import FlashCallOutcome
from mcn_gateway import circuits as c
from mcn_gateway.protocol import isup

OWN, PEER = 1001, 2001  # the MSC has the higher point code: the gateway controls the odd circuits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def trunk(first: int = 1, last: int = 4, blocked: tuple[int, ...] = (), **timers: float) -> tuple[c.Trunk, Clock]:
    clock = Clock()
    t = c.Trunk(range(first, last + 1), OWN, PEER, c.Timers(**timers), clock=clock, wall=clock, locally_blocked=blocked)
    return t, clock


def sends(actions: list[c.Action]) -> list[tuple[int, int]]:
    return [(a.cic, a.message_type) for a in actions if isinstance(a, c.Send)]


def alerts(actions: list[c.Action]) -> list[tuple[str, int]]:
    return [(a.timer, a.cic) for a in actions if isinstance(a, c.Alert)]


def pycrate(action: c.Action):
    assert isinstance(action, c.Send)
    message, error = pi.parse_ISUP(action.message)
    assert message is not None and not error
    assert message.to_bytes() == action.message
    return message


def range_status(message) -> tuple[int, list[bool]]:
    """(circuits, status flags) as pycrate reads them."""
    value = message["RangeStatus"][1]
    circuits = value["Range"].get_val() + 1
    octets = value["Status"].get_val()
    return circuits, [bool(octets[i // 8] & (1 << (i % 8))) for i in range(circuits)]


def msg(cic: int, kind: int, **fields: object) -> isup.CircuitMessage:
    return isup.CircuitMessage(cic, kind, **fields)  # type: ignore[arg-type]


def test_a_blocked_circuit_gets_blo_then_bla_and_takes_no_call():
    t, _ = trunk()
    actions = t.block([1])
    assert sends(actions) == [(1, isup.MSG_BLO)]
    blo = pycrate(actions[0])
    assert (blo["CIC"].get_val(), blo["Type"].get_val()) == (1, isup.MSG_BLO)
    assert t.states()[c.LOCALLY_BLOCKED] == 1 and t.free_circuits() == 3 and t.unacknowledged() == 1
    assert t.view([1])[0].awaiting == "BLA"
    assert t.receive(msg(1, isup.MSG_BLA)) == (True, [])
    assert t.unacknowledged() == 0 and t.view([1])[0] == c.CircuitView(1, c.LOCALLY_BLOCKED, True, False, None)
    placed = [sends(t.place(f"n#{n}", "447911123456", "33612345678") or [])[0][0] for n in range(3)]
    assert sorted(placed) == [2, 3, 4] and t.place("n#4", "1", "2") is None  # never cic 1


def test_a_range_is_blocked_with_one_maintenance_cgb_and_its_cgba():
    t, _ = trunk(first=1, last=40)
    actions = t.block(range(3, 9))
    assert sends(actions) == [(3, isup.MSG_CGB)]
    cgb = pycrate(actions[0])
    assert cgb["CircuitGroupSupervis"]["Value"].get_val() == 0  # maintenance oriented
    assert range_status(cgb) == (6, [True] * 6)
    assert t.view([5])[0].awaiting == "CGBA"
    t.receive(msg(3, isup.MSG_CGBA, circuits=6, status=(True,) * 6, group_type=0))
    assert t.unacknowledged() == 0 and t.states()[c.LOCALLY_BLOCKED] == 6


def test_a_long_range_is_split_into_groups_of_32_and_a_lone_circuit_gets_blo():
    t, _ = trunk(first=1, last=40)
    actions = t.block(range(1, 34))  # 1-32 and 33
    assert sends(actions) == [(1, isup.MSG_CGB), (33, isup.MSG_BLO)]
    assert range_status(pycrate(actions[0])) == (32, [True] * 32)


def test_a_partial_cgba_leaves_the_rest_to_be_asked_again_at_t18():
    t, clock = trunk(first=1, last=8, t18_s=10)
    t.block(range(1, 5))
    t.receive(msg(1, isup.MSG_CGBA, circuits=4, status=(True, False, True, False), group_type=0))
    assert [v.cic for v in t.view() if v.awaiting] == [2, 4]
    clock.now += 10
    actions = t.expire()
    assert sends(actions) == [(1, isup.MSG_CGB)]
    assert range_status(pycrate(actions[0])) == (4, [False, True, False, True])
    t.receive(msg(1, isup.MSG_CGBA, circuits=4, status=(False, True, False, True), group_type=0))
    assert t.unacknowledged() == 0 and t.next_deadline() is None


def test_a_cgb_asked_again_for_its_first_circuit_alone_still_spans_two():
    t, clock = trunk(first=1, last=8, t18_s=10)
    t.block(range(1, 4))
    t.receive(msg(1, isup.MSG_CGBA, circuits=3, status=(False, True, True), group_type=0))
    clock.now += 10
    (again,) = t.expire()
    assert range_status(pycrate(again)) == (2, [True, False])  # range code 1: cic 2 listed, not affected


def test_an_unacknowledged_blo_is_repeated_at_t12_and_alerted_at_t13_then_every_t13():
    t, clock = trunk(t12_s=15, t13_s=60)
    t.block([2])
    clock.now += 15
    assert sends(t.expire()) == [(2, isup.MSG_BLO)]
    clock.now += 15
    assert sends(t.expire()) == [(2, isup.MSG_BLO)]
    clock.now += 30  # T13
    actions = t.expire()
    assert alerts(actions) == [("t13", 2)] and sends(actions) == [(2, isup.MSG_BLO)]
    clock.now += 15  # T12 no longer runs
    assert t.expire() == []
    clock.now += 45
    actions = t.expire()
    assert alerts(actions) == [("t13", 2)] and sends(actions) == [(2, isup.MSG_BLO)]
    t.receive(msg(2, isup.MSG_BLA))
    assert t.next_deadline() is None


def test_unacknowledged_cgb_ubl_and_cgu_alert_at_t19_t15_and_t21():
    t, clock = trunk(first=1, last=8, t13_s=50, t15_s=50, t19_s=50, t21_s=50)
    t.block(range(1, 4))
    t.receive(msg(1, isup.MSG_CGBA, circuits=3, status=(True,) * 3, group_type=0))
    t.block([6])
    t.receive(msg(6, isup.MSG_BLA))
    assert sends(t.unblock([6])) == [(6, isup.MSG_UBL)]
    assert sends(t.unblock(range(1, 4))) == [(1, isup.MSG_CGU)]
    t.block([8])
    clock.now += 50
    actions = t.expire()
    assert sorted(alerts(actions)) == [("t13", 8), ("t15", 6), ("t21", 1)]
    assert sorted(sends(actions)) == [(1, isup.MSG_CGU), (6, isup.MSG_UBL), (8, isup.MSG_BLO)]
    t2, clock2 = trunk(first=1, last=4, t19_s=50)
    t2.block([1, 2])
    clock2.now += 50
    assert alerts(t2.expire()) == [("t19", 1)]


def test_unblocked_circuits_take_calls_again_only_once_the_msc_acknowledged():
    t, _ = trunk(first=1, last=3)
    t.block([1, 2, 3])
    t.receive(msg(1, isup.MSG_CGBA, circuits=3, status=(True,) * 3, group_type=0))
    assert t.place("n#1", "1", "2") is None and t.free_circuits() == 0  # every circuit blocked: nothing placed
    actions = t.unblock([1])
    assert sends(actions) == [(1, isup.MSG_UBL)] and t.view([1])[0].awaiting == "UBA"
    assert t.free_circuits() == 0  # not before the UBA
    t.receive(msg(1, isup.MSG_UBA))
    assert t.free_circuits() == 1 and sends(t.place("n#1", "1", "2") or []) == [(1, isup.MSG_IAM)]
    actions = t.unblock([2, 3])
    assert sends(actions) == [(2, isup.MSG_CGU)]
    assert range_status(pycrate(actions[0])) == (2, [True, True])
    t.receive(msg(2, isup.MSG_CGUA, circuits=2, status=(True, True), group_type=0))
    assert t.free_circuits() == 2 and t.states()[c.LOCALLY_BLOCKED] == 0


def test_a_call_under_way_on_a_circuit_being_blocked_goes_on_to_its_end():
    t, clock = trunk(ring_time_s=3)
    actions = t.place("n#1", "447911123456", "33612345678")
    assert actions is not None and sends(actions) == [(1, isup.MSG_IAM)]
    assert sends(t.block([1])) == [(1, isup.MSG_BLO)]  # told at once: subsequent calls
    t.receive(msg(1, isup.MSG_BLA))
    t.receive(msg(1, isup.MSG_ACM, alerting=True))
    clock.now += 3
    actions = t.expire()
    assert sends(actions) == [(1, isup.MSG_REL)]
    assert [f.outcome for f in actions if isinstance(f, c.Finished)] == [FlashCallOutcome.ALERTED_RELEASED]
    t.receive(msg(1, isup.MSG_RLC))
    assert t.view([1])[0].state == c.LOCALLY_BLOCKED  # not idle: the block holds after the call
    assert sends(t.place("n#2", "1", "2") or []) == [(3, isup.MSG_IAM)]


def test_gra_answering_the_mscs_grs_carries_the_local_blocks():
    t, _ = trunk(first=1, last=10)
    t.block([2, 3])
    t.block([7])  # its BLA never came: the GRA status tells the MSC instead
    t.receive(msg(2, isup.MSG_CGBA, circuits=2, status=(True, True), group_type=0))
    _, actions = t.receive(msg(1, isup.MSG_GRS, circuits=10))
    assert sends(actions) == [(1, isup.MSG_GRA)]
    assert range_status(pycrate(actions[-1])) == (10, [c in (2, 3, 7) for c in range(1, 11)])
    assert t.unacknowledged() == 0 and t.locally_blocked() == [2, 3, 7]
    assert t.states()[c.LOCALLY_BLOCKED] == 3


def test_rsc_on_a_blocked_circuit_is_answered_with_blo_then_rlc():
    t, _ = trunk()
    t.block([3])
    t.receive(msg(3, isup.MSG_BLA))
    _, actions = t.receive(msg(3, isup.MSG_RSC))
    assert sends(actions) == [(3, isup.MSG_BLO), (3, isup.MSG_RLC)]  # Q.764 2.9.3.1 iii
    assert t.view([3])[0].awaiting == "BLA"
    _, actions = t.receive(msg(2, isup.MSG_RSC))
    assert sends(actions) == [(2, isup.MSG_RLC)]


def test_the_gateways_own_grs_is_followed_by_the_blocks_it_cleared_at_the_msc():
    t, _ = trunk(first=1, last=8, blocked=(2, 3, 4, 8))  # restored from the spool at start
    assert t.states()[c.LOCALLY_BLOCKED] == 4
    actions = t.reset_all()
    assert sends(actions) == [(1, isup.MSG_GRS)]  # nothing told before the GRA
    assert t.block([5]) == []  # being reset: told after the GRA
    _, actions = t.receive(msg(1, isup.MSG_GRA, circuits=8, status=(False,) * 8))
    assert sends(actions) == [(2, isup.MSG_CGB), (8, isup.MSG_BLO)]
    assert range_status(pycrate(actions[0])) == (4, [True] * 4)  # 2-5
    assert t.free_circuits() == 3  # 1, 6, 7


def test_the_gateways_own_rsc_after_t5_is_followed_by_blo():
    t, clock = trunk(t7_s=5, t1_s=2, t5_s=10)
    t.place("n#1", "1", "2")
    t.block([1])
    t.receive(msg(1, isup.MSG_BLA))
    clock.now += 5
    t.expire()  # T7: REL
    clock.now += 10
    actions = t.expire()
    assert (1, isup.MSG_RSC) in sends(actions)
    assert t.view([1])[0].awaiting is None  # the RSC ends the block at the MSC: nothing awaited meanwhile
    _, actions = t.receive(msg(1, isup.MSG_RLC))
    assert sends(actions) == [(1, isup.MSG_BLO)]
    assert t.view([1])[0].awaiting == "BLA" and t.view([1])[0].state == c.LOCALLY_BLOCKED


def test_unexpected_acknowledgements_bring_both_ends_back_in_line():
    t, _ = trunk()
    assert sends(t.receive(msg(2, isup.MSG_BLA))[1]) == [(2, isup.MSG_UBL)]  # we do not block 2
    t.receive(msg(2, isup.MSG_UBA))
    t.block([4])
    t.receive(msg(4, isup.MSG_BLA))
    assert sends(t.receive(msg(4, isup.MSG_UBA))[1]) == [(4, isup.MSG_BLO)]  # we do block 4
    assert t.receive(msg(4, isup.MSG_BLA)) == (True, [])
    assert t.receive(msg(4, isup.MSG_BLA)) == (True, [])  # a repeated BLA: agreed already
    assert t.receive(msg(1, isup.MSG_CGBA, circuits=2, status=(True, True), group_type=0)) == (True, [])


def test_an_iam_on_a_blocked_circuit_is_discarded_and_the_block_told_again():
    t, _ = trunk()
    t.block([2])
    t.receive(msg(2, isup.MSG_BLA))
    handled, actions = t.receive(msg(2, isup.MSG_IAM))
    assert handled and sends(actions) == [(2, isup.MSG_BLO)]
    assert t.view([2])[0].state == c.LOCALLY_BLOCKED


def test_unblocking_during_the_blocking_procedure_stops_it():
    t, clock = trunk(t12_s=5, t14_s=7)
    t.block([1])
    assert sends(t.unblock([1])) == [(1, isup.MSG_UBL)]
    t.receive(msg(1, isup.MSG_BLA))  # the late answer to the BLO: the UBL procedure goes on
    assert t.view([1])[0].awaiting == "UBA"
    clock.now += 5
    assert t.expire() == []  # T12 stopped
    clock.now += 2
    assert sends(t.expire()) == [(1, isup.MSG_UBL)]


# --- range and status decoding, checked against pycrate's reading of the same octets ------------------------

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_PROTOTYPES = {
    isup.MSG_CGB: pi.CircuitGroupBlocking(),
    isup.MSG_CGBA: pi.CircuitGroupBlockingAck(),
    isup.MSG_CGU: pi.CircuitGroupUnblocking(),
    isup.MSG_CGUA: pi.CircuitGroupUnblockingAck(),
    isup.MSG_GRA: pi.CircuitGroupResetAck(),
}


@st.composite
def range_and_status_octets(draw):
    """Raw octets of a CGB/CGBA/CGU/CGUA/GRA as another exchange might send them: any range 0-31, a status
    field of the length the range needs (its unused bits anything)."""
    kind = draw(st.sampled_from(sorted(_PROTOTYPES)))
    cic = draw(st.integers(0, 0x0FFF))
    range_code = draw(st.integers(0, 31))
    status = draw(st.binary(min_size=range_code // 8 + 1, max_size=range_code // 8 + 1))
    head = bytes([cic & 0xFF, cic >> 8, kind])
    if kind != isup.MSG_GRA:
        head += bytes([draw(st.integers(0, 1))])  # circuit group supervision message type
    value = bytes([range_code]) + status
    return kind, head + bytes([1, len(value)]) + value


@FUZZ
@given(range_and_status_octets())
def test_range_and_status_decode_as_pycrate_reads_them(case):
    kind, raw = case
    message = _PROTOTYPES[kind]
    message.from_bytes(raw)
    assert message.to_bytes() == raw
    circuits, flags = range_status(message)
    decoded = isup.CircuitMessageDecoder().decode(raw)
    assert (decoded.cic, decoded.message_type) == (message["CIC"].get_val(), kind)
    assert decoded.circuits == circuits and list(decoded.status) == flags
    if kind != isup.MSG_GRA:
        assert decoded.group_type == message["CircuitGroupSupervis"]["Value"].get_val()


@FUZZ
@given(
    first=st.integers(1, 60),
    chosen=st.sets(st.integers(0, 40), min_size=1, max_size=41),
)
def test_what_the_gateway_sends_for_any_block_covers_exactly_the_chosen_circuits(first, chosen):
    t, _ = trunk(first=first, last=first + 40)
    cics = sorted(first + offset for offset in chosen)
    told: list[int] = []
    for action in t.block(cics):
        message = pycrate(action)
        cic = message["CIC"].get_val()
        if message["Type"].get_val() == isup.MSG_BLO:
            told.append(cic)
            continue
        assert message["Type"].get_val() == isup.MSG_CGB
        circuits, flags = range_status(message)
        assert circuits >= 2
        told += [cic + i for i, flag in enumerate(flags) if flag]
    assert told == cics
    assert t.locally_blocked() == cics and t.unacknowledged() == len(cics)
