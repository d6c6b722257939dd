"""The flash-call trunk's state machine (mcn_gateway.circuits) with a hand-driven clock; every message it
sends is read back by pycrate (not by our own decoder)."""

from __future__ import annotations

import pytest
from pycrate_mobile import ISUP as pi

from mcn_core.models.origination import FlashCallOutcome
from mcn_gateway import circuits as c
from mcn_gateway.protocol import isup

OWN, PEER = 1001, 2001  # the MSC has the higher point code: it controls the even circuits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def trunk(first: int = 1, last: int = 4, **timers: float) -> tuple[c.Trunk, Clock]:
    clock = Clock()
    t = c.Trunk(range(first, last + 1), OWN, PEER, c.Timers(**timers), clock=clock, wall=clock)
    return t, clock


def sends(actions: list[c.Action]) -> list[tuple[int, int]]:
    return [(a.cic, a.message_type) for a in actions if isinstance(a, c.Send)]


def finished(actions: list[c.Action]) -> list[c.Finished]:
    return [a for a in actions if isinstance(a, c.Finished)]


def parsed(action: c.Send) -> object:
    message, error = pi.parse_ISUP(action.message)
    assert message is not None and not error
    return message


def msg(cic: int, kind: int, **fields: object) -> isup.CircuitMessage:
    return isup.CircuitMessage(cic, kind, **fields)  # type: ignore[arg-type]


def test_controlled_circuits_are_taken_first_and_the_iam_presents_a_to_b():
    t, _ = trunk()
    assert [cic for cic in (1, 2, 3, 4) if t.controls(cic)] == [1, 3]  # odd: lower point code
    actions = t.place("n#1", "447911123456", "33612345678")
    assert sends(actions) == [(1, isup.MSG_IAM)]
    iam = parsed(actions[0])
    assert iam["CalledPartyNum"][1]["Num"].decode() == "447911123456"
    calling = iam["Opt"]["CallingPartyNum"][2]
    assert (calling["AddrPresInd"].get_val(), calling["ScreeningInd"].get_val()) == (0, 3)
    assert t.states()[c.OUTGOING] == 1 and t.free_circuits() == 3
    assert sends(t.place("n#2", "447911123456", "33612345678")) == [(3, isup.MSG_IAM)]
    assert sends(t.place("n#3", "447911123456", "33612345678")) == [(4, isup.MSG_IAM)]


def test_alerting_then_ring_time_then_rel_16_then_rlc_idle():
    t, clock = trunk(ring_time_s=3)
    t.place("n#1", "447911123456", "33612345678")
    assert t.receive(msg(1, isup.MSG_ACM, alerting=True)) == (True, [])
    clock.now += 2.9
    assert t.expire() == []
    clock.now += 0.2
    actions = t.expire()
    assert sends(actions) == [(1, isup.MSG_REL)]
    assert isup.decode_rel_cause(actions[0].message) == 16
    (done,) = finished(actions)
    assert done.outcome == FlashCallOutcome.ALERTED_RELEASED and done.alerted_at == 1000.0
    assert t.calls == {} and t.states()[c.OUTGOING] == 1  # the circuit waits for RLC
    t.receive(msg(1, isup.MSG_RLC))
    assert t.free_circuits() == 4


def test_acm_without_alerting_waits_for_cpg_alerting():
    t, clock = trunk(ring_time_s=2, t7_s=10)
    t.place("n#1", "447911123456", "33612345678")
    t.receive(msg(1, isup.MSG_ACM, alerting=False))
    clock.now += 5
    t.receive(msg(1, isup.MSG_CPG, alerting=False, event=2))  # progress: nothing
    assert t.expire() == []
    t.receive(msg(1, isup.MSG_CPG, alerting=True, event=1))
    clock.now += 2
    assert finished(t.expire())[0].outcome == FlashCallOutcome.ALERTED_RELEASED


def test_answer_releases_at_once():
    t, _ = trunk()
    t.place("n#1", "447911123456", "33612345678")
    t.receive(msg(1, isup.MSG_ACM, alerting=True))
    _, actions = t.receive(msg(1, isup.MSG_ANM))
    assert sends(actions) == [(1, isup.MSG_REL)]
    assert finished(actions)[0].outcome == FlashCallOutcome.ANSWERED_RELEASED


def test_t7_releases_with_cause_102_then_t1_repeats_and_t5_resets():
    t, clock = trunk(t7_s=20, t1_s=4, t5_s=30, t16_s=5, t17_s=60)
    t.place("n#1", "447911123456", "33612345678")
    clock.now += 20
    actions = t.expire()
    assert isup.decode_rel_cause(actions[0].message) == 102
    assert finished(actions)[0].outcome == FlashCallOutcome.NO_ANSWER
    clock.now += 4
    assert sends(t.expire()) == [(1, isup.MSG_REL)]  # T1: REL again
    clock.now += 26
    actions = t.expire()
    assert [a for a in actions if isinstance(a, c.Alert)] == [c.Alert("t5", 1)]
    assert (1, isup.MSG_RSC) in sends(actions) and t.states()[c.RESETTING] == 1
    clock.now += 5
    assert sends(t.expire()) == [(1, isup.MSG_RSC)]  # T16
    t.receive(msg(1, isup.MSG_RLC))
    assert t.free_circuits() == 4 and t.next_deadline() is None


@pytest.mark.parametrize(
    ("cause", "outcome"),
    [(17, FlashCallOutcome.BUSY), (20, FlashCallOutcome.ABSENT), (18, FlashCallOutcome.ABSENT), (34, "failed")],
)
def test_rel_from_the_exchange_is_answered_and_its_cause_recorded(cause, outcome):
    t, _ = trunk()
    t.place("n#1", "447911123456", "33612345678")
    _, actions = t.receive(msg(1, isup.MSG_REL, cause=cause))
    assert sends(actions) == [(1, isup.MSG_RLC)]
    (done,) = finished(actions)
    assert (done.outcome, done.cause) == (outcome, cause)
    assert t.free_circuits() == 4


def test_rel_after_alerting_counts_as_alerted():
    t, _ = trunk()
    t.place("n#1", "447911123456", "33612345678")
    t.receive(msg(1, isup.MSG_CPG, alerting=True, event=1))
    _, actions = t.receive(msg(1, isup.MSG_REL, cause=19))
    assert finished(actions)[0].outcome == FlashCallOutcome.ALERTED_RELEASED


def test_grs_at_start_blocks_calls_until_gra_and_gra_status_marks_remote_blocks():
    t, clock = trunk(first=1, last=40, t22_s=10)
    actions = t.reset_all()
    assert sends(actions) == [(1, isup.MSG_GRS), (33, isup.MSG_GRS)]  # 32 + 8 circuits
    assert parsed(actions[0])["RangeStatus"][1]["Range"].get_val() == 31
    assert t.place("n#1", "1", "2") is None and t.resetting
    t.receive(msg(1, isup.MSG_GRA, circuits=32, status=(False, True) + (False,) * 30))
    assert t.free_circuits() == 31 and t.states()[c.REMOTELY_BLOCKED] == 1
    clock.now += 10
    assert sends(t.expire()) == [(33, isup.MSG_GRS)]  # T22: the unanswered group again
    t.receive(msg(33, isup.MSG_GRA, circuits=8, status=(False,) * 8))
    assert not t.resetting and t.free_circuits() == 39


def test_a_grs_that_could_not_be_sent_is_tried_again_soon():
    t, clock = trunk(t22_s=30)
    (grs,) = t.reset_all()
    assert isinstance(grs, c.Send)
    t.not_sent(grs, "no association")
    clock.now += 1
    assert sends(t.expire()) == [(1, isup.MSG_GRS)]


def test_incoming_rsc_grs_blo_ubl_cgb_cgu_are_answered():
    t, _ = trunk()
    t.place("n#1", "447911123456", "33612345678")
    _, actions = t.receive(msg(1, isup.MSG_RSC))
    assert sends(actions) == [(1, isup.MSG_RLC)]
    assert finished(actions)[0].outcome == FlashCallOutcome.FAILED
    assert sends(t.receive(msg(2, isup.MSG_BLO))[1]) == [(2, isup.MSG_BLA)]
    assert t.states()[c.REMOTELY_BLOCKED] == 1
    assert sends(t.receive(msg(2, isup.MSG_UBL))[1]) == [(2, isup.MSG_UBA)]
    _, actions = t.receive(msg(1, isup.MSG_CGB, circuits=3, status=(True, False, True), group_type=0))
    assert sends(actions) == [(1, isup.MSG_CGBA)]
    cgba = parsed(actions[0])
    assert cgba["RangeStatus"][1]["Range"].get_val() == 2
    assert t.free_circuits() == 2  # 1 and 3 blocked
    assert t.place("n#2", "1", "2") is not None and t.place("n#3", "1", "2") is not None
    assert t.place("n#4", "1", "2") is None
    _, actions = t.receive(msg(1, isup.MSG_CGU, circuits=3, status=(True, False, True), group_type=0))
    assert sends(actions) == [(1, isup.MSG_CGUA)]
    _, actions = t.receive(msg(1, isup.MSG_GRS, circuits=4))
    assert sends(actions)[-1] == (1, isup.MSG_GRA)
    assert sum(1 for f in finished(actions)) == 2 and t.free_circuits() == 4


def test_dual_seizure_on_a_circuit_we_control_keeps_our_call():
    t, _ = trunk()
    t.place("n#1", "447911123456", "33612345678")  # cic 1: odd, ours
    assert t.receive(msg(1, isup.MSG_IAM)) == (True, [])
    assert t.calls["n#1"].cic == 1


def test_dual_seizure_on_a_circuit_the_exchange_controls_backs_off_and_repeats():
    t, _ = trunk(first=1, last=2)
    t.place("a#1", "1", "2")  # cic 1
    t.place("n#1", "447911123456", "33612345678")  # cic 2: even, the MSC's
    handled, actions = t.receive(msg(2, isup.MSG_IAM))
    assert not handled  # the incoming call goes to the missed-call path
    assert sends(actions) == []  # no circuit free for the repeat attempt
    assert finished(actions)[0].reason == "dual seizure, no circuit to repeat on"
    assert t.states()[c.INCOMING] == 1
    t.receive(msg(1, isup.MSG_REL, cause=16))
    t.receive(msg(2, isup.MSG_RLC))  # our REL to the incoming call is confirmed
    t.place("n#2", "447911123456", "33612345678")  # cic 1
    t.place("n#3", "447911123456", "33612345678")  # cic 2
    handled, actions = t.receive(msg(2, isup.MSG_IAM))
    assert not handled and sends(actions) == []  # cic 1 busy too
    t.receive(msg(2, isup.MSG_REL, cause=16))


def test_dual_seizure_repeat_attempt_goes_to_another_circuit():
    t, _ = trunk(first=1, last=4)
    for n in range(3):
        t.place(f"x#{n}", "1", "2")  # 1, 3, 4
    handled, actions = t.receive(msg(4, isup.MSG_IAM))
    assert not handled and sends(actions) == [(2, isup.MSG_IAM)]
    assert t.calls["x#2"].cic == 2 and t.calls["x#2"].call.attempts == 2


def test_an_iam_that_cannot_be_sent_fails_the_call_and_frees_the_circuit():
    t, _ = trunk()
    (iam,) = t.place("n#1", "1", "2")
    assert isinstance(iam, c.Send)
    (done,) = finished(t.not_sent(iam, "no association carries the trunk"))
    assert done.outcome == FlashCallOutcome.FAILED and t.free_circuits() == 4


def test_an_incoming_call_on_an_idle_circuit_is_passed_on_and_the_circuit_freed_by_rlc():
    t, _ = trunk()
    assert t.receive(msg(3, isup.MSG_IAM)) == (False, [])
    assert t.free_circuits() == 3
    t.receive(msg(3, isup.MSG_RLC))
    assert t.free_circuits() == 4


def test_hardware_failure_group_blocking_ends_the_calls_on_those_circuits():
    t, _ = trunk()
    t.place("n#1", "447911123456", "33612345678")  # cic 1
    t.receive(msg(1, isup.MSG_ACM, alerting=True))
    _, actions = t.receive(msg(1, isup.MSG_CGB, circuits=2, status=(True, True), group_type=1))
    (done,) = finished(actions)
    assert done.outcome == FlashCallOutcome.ALERTED_RELEASED and "hardware" in (done.reason or "")
    assert sends(actions) == [(1, isup.MSG_CGBA)]  # no REL: the circuit is gone
    assert t.states()[c.REMOTELY_BLOCKED] == 2 and t.next_deadline() is None


def test_an_unanswered_grs_is_repeated_at_t22_and_alerted_at_t23_once_each():
    t, clock = trunk(t22_s=10, t23_s=20)
    t.reset_all()
    clock.now += 10
    assert sends(t.expire()) == [(1, isup.MSG_GRS)]
    clock.now += 10  # T22 again and T23 together: one GRS, one alert
    actions = t.expire()
    assert sends(actions) == [(1, isup.MSG_GRS)] and [a for a in actions if isinstance(a, c.Alert)] == [
        c.Alert("t23", 1)
    ]
