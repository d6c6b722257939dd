"""The circuits of the flash-call trunk toward an MSC: ISUP call control and circuit supervision (Q.764).

Pure logic: no sockets, no threads, no AWS. Messages come in as decoded `CircuitMessage`s, time comes from
the injected clocks (`clock` monotonic for timers, `wall` for the outcome's timestamps), and every method
returns the `Action`s to carry out: ISUP messages to send (`Send`), calls that ended (`Finished`), and
maintenance alerts (`Alert`). The owner (mcn_gateway.origination) serialises calls into it.

A call: IAM (T7) -> ACM/CPG alerting -> ring time -> REL cause 16 (T1 repeats, T5 -> RSC) -> RLC -> idle.
ANM/CON -> REL at once. REL from the exchange -> RLC, the cause says why. Circuit supervision from the MSC
(RSC, GRS, BLO/UBL, CGB/CGU) is answered; the whole range is reset (GRS, T22/T23) before the first call.
Dual seizure (Q.764 2.10.1.4): the exchange with the higher point code controls the even CICs; on the
circuits it does not control the gateway backs off and repeats the attempt on another circuit.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mcn_core.models.origination import FlashCallOutcome

from .protocol import isup

IDLE = "idle"
OUTGOING = "outgoing_busy"
INCOMING = "incoming_busy"
RESETTING = "resetting"
REMOTELY_BLOCKED = "remotely_blocked"
CIRCUIT_STATES = (IDLE, OUTGOING, INCOMING, RESETTING, REMOTELY_BLOCKED)

# phases of an outgoing call
AWAITING_ACM = "awaiting_acm"  # IAM sent, no backward message yet (T7)
AWAITING_ALERT = "awaiting_alert"  # ACM without "subscriber free": waiting for CPG alerting (T7 again)
ALERTING = "alerting"  # B's phone rings (ring timer)
RELEASING = "releasing"  # REL sent, waiting for RLC (T1, T5); the call's outcome is already known

CAUSE_USER_BUSY = 17
CAUSE_NO_USER_RESPONDING = 18
CAUSE_NO_ANSWER = 19
CAUSE_SUBSCRIBER_ABSENT = 20

GROUP_HARDWARE_FAILURE = 1  # circuit group supervision message type indicator (Q.763 3.13)
_GRS_SEND_RETRY_S = 1.0  # GRS not sent (no association carries the trunk yet): try again this soon


@dataclass(frozen=True, slots=True)
class Timers:
    ring_time_s: float = 3.0
    t7_s: float = 20.0
    t1_s: float = 15.0
    t5_s: float = 300.0
    t16_s: float = 15.0
    t17_s: float = 300.0
    t22_s: float = 15.0
    t23_s: float = 300.0


@dataclass(frozen=True, slots=True)
class Send:
    cic: int
    message: bytes

    @property
    def message_type(self) -> int:
        return self.message[2]


@dataclass(frozen=True, slots=True)
class Finished:
    call_id: str
    outcome: FlashCallOutcome
    cic: int | None
    cause: int | None
    reason: str | None
    placed_at: float | None  # wall clock
    alerted_at: float | None
    released_at: float


@dataclass(frozen=True, slots=True)
class Alert:
    """Something maintenance must look at: a timer expired without an answer (t5, t17, t23)."""

    timer: str
    cic: int


Action = Send | Finished | Alert


@dataclass(slots=True)
class Call:
    call_id: str
    called: str
    calling: str
    placed_at: float
    phase: str = AWAITING_ACM
    alerted_at: float | None = None
    attempts: int = 1


@dataclass(slots=True)
class Circuit:
    cic: int
    state: str = IDLE
    remotely_blocked: bool = False
    call: Call | None = None
    release_cause: int | None = None  # of the REL we repeat (T1)
    timers: dict[str, float] = field(default_factory=dict)  # name -> monotonic deadline

    @property
    def reported_state(self) -> str:
        if self.state == IDLE and self.remotely_blocked:
            return REMOTELY_BLOCKED
        return self.state


@dataclass(slots=True)
class _GroupReset:
    first: int
    count: int
    timers: dict[str, float] = field(default_factory=dict)


def outcome_of_release(cause: int, alerted: bool) -> FlashCallOutcome:
    """What a REL from the exchange means for the flash call (Q.850 causes)."""
    if alerted:
        return FlashCallOutcome.ALERTED_RELEASED  # B's phone rang: the handset logged the call
    if cause == CAUSE_USER_BUSY:
        return FlashCallOutcome.BUSY
    if cause in (CAUSE_SUBSCRIBER_ABSENT, CAUSE_NO_USER_RESPONDING, CAUSE_NO_ANSWER):
        return FlashCallOutcome.ABSENT
    return FlashCallOutcome.FAILED


class Trunk:
    """The circuits `cics` between `own_pc` (the platform) and `peer_pc` (the MSC)."""

    def __init__(
        self,
        cics: Iterable[int],
        own_pc: int,
        peer_pc: int,
        timers: Timers,
        nai: int = isup.NAI_INTERNATIONAL,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.circuits = {cic: Circuit(cic) for cic in sorted(set(cics))}
        if not self.circuits:
            raise ValueError("a trunk needs at least one circuit")
        self.own_pc = own_pc
        self.peer_pc = peer_pc
        self.timers = timers
        self.nai = nai
        self._clock = clock
        self._wall = wall
        self._resets: dict[int, _GroupReset] = {}
        self.calls: dict[str, Circuit] = {}  # call id -> its circuit, until the call has its outcome
        # circuits we control first (fewer dual seizures), ascending; the others from the top down
        controlled = [c for c in self.circuits if self.controls(c)]
        self._preference = controlled + sorted((c for c in self.circuits if not self.controls(c)), reverse=True)

    # --- queries ----------------------------------------------------------------------------------------

    def controls(self, cic: int) -> bool:
        """Q.764 2.10.1.4: the exchange with the higher signalling point code controls the even circuits."""
        return (self.own_pc > self.peer_pc) == (cic % 2 == 0)

    def owns(self, cic: int) -> bool:
        return cic in self.circuits

    def free_circuits(self) -> int:
        return sum(1 for c in self.circuits.values() if c.state == IDLE and not c.remotely_blocked)

    @property
    def resetting(self) -> bool:
        return bool(self._resets)

    def states(self) -> dict[str, int]:
        counts = Counter(c.reported_state for c in self.circuits.values())
        return {state: counts.get(state, 0) for state in CIRCUIT_STATES}

    def next_deadline(self) -> float | None:
        deadlines = [d for c in self.circuits.values() for d in c.timers.values()]
        deadlines += [d for g in self._resets.values() for d in g.timers.values()]
        return min(deadlines, default=None)

    # --- start-up: GRS for the whole range -----------------------------------------------------------

    def reset_all(self) -> list[Action]:
        """Reset every circuit (GRS, at most 32 circuits each; contiguous runs of the range)."""
        actions: list[Action] = []
        cics = sorted(self.circuits)
        groups: list[list[int]] = []
        for cic in cics:
            if groups and cic == groups[-1][-1] + 1 and len(groups[-1]) <= isup.MAX_GROUP_RANGE:
                groups[-1].append(cic)
            else:
                groups.append([cic])
        now = self._clock()
        for group in groups:
            for cic in group:
                actions += self._clear(self.circuits[cic], "circuit reset by the gateway")
                self.circuits[cic].state = RESETTING
            reset = self._resets[group[0]] = _GroupReset(group[0], len(group))
            reset.timers = {"t22": now + self.timers.t22_s, "t23": now + self.timers.t23_s}
            actions.append(Send(group[0], isup.encode_grs(group[0], len(group))))
        return actions

    # --- placing a call -------------------------------------------------------------------------------

    def place(self, call_id: str, called: str, calling: str) -> list[Action] | None:
        """Seize a free circuit and send the IAM; None when no circuit is free."""
        circuit = self._free_circuit()
        if circuit is None:
            return None
        call = Call(call_id, called, calling, placed_at=self._wall())
        return self._seize(circuit, call)

    def _free_circuit(self, excluding: int | None = None) -> Circuit | None:
        for cic in self._preference:
            circuit = self.circuits[cic]
            if circuit.state == IDLE and not circuit.remotely_blocked and cic != excluding:
                return circuit
        return None

    def _seize(self, circuit: Circuit, call: Call) -> list[Action]:
        circuit.state = OUTGOING
        circuit.call = call
        circuit.timers = {"t7": self._clock() + self.timers.t7_s}
        self.calls[call.call_id] = circuit
        return [Send(circuit.cic, isup.encode_iam(circuit.cic, call.called, call.calling, self.nai))]

    def not_sent(self, action: Send, reason: str) -> list[Action]:
        """A message could not be handed to any association: an IAM fails the call (the circuit was never
        seized at the other end); a GRS is tried again shortly; REL/RSC are repeated by their timers."""
        circuit = self.circuits.get(action.cic)
        if circuit is None:
            return []
        if action.message_type == isup.MSG_IAM and circuit.call is not None and circuit.call.phase == AWAITING_ACM:
            call = circuit.call
            self._idle(circuit)
            return [self._finished(call, FlashCallOutcome.FAILED, None, None, f"IAM not sent: {reason}")]
        if action.message_type == isup.MSG_GRS and action.cic in self._resets:
            self._resets[action.cic].timers["t22"] = self._clock() + _GRS_SEND_RETRY_S
        return []

    # --- messages from the exchange ---------------------------------------------------------------------

    def receive(self, message: isup.CircuitMessage) -> tuple[bool, list[Action]]:
        """(handled, actions). handled=False: an IAM the gateway treats as an incoming call (the missed-call
        path answers it); the circuit is marked incoming busy until it is released."""
        circuit = self.circuits[message.cic]
        kind = message.message_type
        if kind == isup.MSG_IAM:
            return self._iam(circuit)
        if kind == isup.MSG_REL:
            return True, self._rel(circuit, message.cause)
        if kind == isup.MSG_RLC:
            return True, self._rlc(circuit)
        if kind in (isup.MSG_ACM, isup.MSG_CPG, isup.MSG_CON, isup.MSG_ANM):
            return True, self._backward(circuit, message)
        if kind == isup.MSG_RSC:
            return True, [*self._reset_by_peer(circuit), Send(circuit.cic, isup.encode_rlc(circuit.cic))]
        if kind == isup.MSG_GRS and message.circuits:
            return True, self._grs(message.cic, message.circuits)
        if kind == isup.MSG_GRA and message.circuits:
            return True, self._gra(message.cic, message.circuits, message.status)
        if kind in (isup.MSG_BLO, isup.MSG_UBL):
            circuit.remotely_blocked = kind == isup.MSG_BLO
            answer = isup.MSG_BLA if kind == isup.MSG_BLO else isup.MSG_UBA
            return True, [Send(circuit.cic, isup.encode_simple(circuit.cic, answer))]
        if kind in (isup.MSG_CGB, isup.MSG_CGU) and message.circuits:
            return True, self._group_blocking(message)
        return True, []  # BLA/UBA/CGBA/CGUA (the gateway blocks nothing), CPG events, others: nothing to do

    def _iam(self, circuit: Circuit) -> tuple[bool, list[Action]]:
        circuit.remotely_blocked = False  # Q.764 2.8.2.3: an IAM on a remotely blocked circuit unblocks it
        call = circuit.call
        if circuit.state == OUTGOING and call is not None and call.phase == AWAITING_ACM:
            if self.controls(circuit.cic):
                return True, []  # dual seizure on a circuit we control: ours goes on, the exchange backs off
            # dual seizure on a circuit the exchange controls: back off, take the incoming call, and repeat
            # our attempt on another circuit (Q.764 2.10.1.4)
            circuit.call = None
            circuit.timers = {}
            circuit.state = INCOMING
            del self.calls[call.call_id]
            other = self._free_circuit(excluding=circuit.cic)
            if other is None:
                return False, [
                    self._finished(call, FlashCallOutcome.FAILED, None, None, "dual seizure, no circuit to repeat on")
                ]
            call.attempts += 1
            return False, self._seize(other, call)
        if circuit.state == IDLE:
            circuit.state = INCOMING
            return False, []
        return True, []  # an IAM on a circuit in a call or being reset: ignored (the exchange's T7 clears it)

    def _backward(self, circuit: Circuit, message: isup.CircuitMessage) -> list[Action]:
        call = circuit.call
        if call is None or circuit.state != OUTGOING or call.phase == RELEASING:
            return []
        kind = message.message_type
        if kind in (isup.MSG_ANM, isup.MSG_CON):
            # answered: release at once (B sees an answered call for an instant; the caller never hears it)
            if message.alerting and call.alerted_at is None:
                call.alerted_at = self._wall()
            return self._release(circuit, isup.CAUSE_NORMAL_CLEARING, FlashCallOutcome.ANSWERED_RELEASED, None)
        if message.alerting and call.phase in (AWAITING_ACM, AWAITING_ALERT):
            call.phase = ALERTING
            call.alerted_at = self._wall()
            circuit.timers = {"ring": self._clock() + self.timers.ring_time_s}
        elif kind == isup.MSG_ACM and call.phase == AWAITING_ACM:
            # address complete without "subscriber free": alerting may follow in a CPG
            call.phase = AWAITING_ALERT
            circuit.timers = {"t7": self._clock() + self.timers.t7_s}
        return []

    def _rel(self, circuit: Circuit, cause: int | None) -> list[Action]:
        actions: list[Action] = [Send(circuit.cic, isup.encode_rlc(circuit.cic))]
        call = circuit.call
        if call is not None and call.phase != RELEASING:
            value = cause if cause is not None else 0
            outcome = outcome_of_release(value, call.alerted_at is not None)
            actions.append(self._finished(call, outcome, circuit.cic, value, "released by the exchange"))
        if circuit.state != RESETTING:
            self._idle(circuit)
        return actions

    def _rlc(self, circuit: Circuit) -> list[Action]:
        if circuit.state == RESETTING and self._group_of(circuit.cic) is not None:
            return []  # a group reset is answered by GRA, not RLC
        if circuit.state in (OUTGOING, INCOMING, RESETTING):
            if circuit.call is not None and circuit.call.phase != RELEASING:
                return []  # RLC in the middle of a call: unexpected, ignored
            self._idle(circuit)
        return []

    def _reset_by_peer(self, circuit: Circuit) -> list[Action]:
        """RSC (or GRS) from the exchange: whatever the circuit did ends; remote blocking is removed."""
        actions = self._clear(circuit, "circuit reset by the exchange")
        circuit.remotely_blocked = False
        if self._group_of(circuit.cic) is None:
            self._idle(circuit)
        return actions

    def _grs(self, first: int, count: int) -> list[Action]:
        actions: list[Action] = []
        for cic in range(first, first + count):
            if cic in self.circuits:
                actions += self._reset_by_peer(self.circuits[cic])
        actions.append(Send(first, isup.encode_gra(first, count, [False] * count)))  # nothing blocked locally
        return actions

    def _gra(self, first: int, count: int, status: tuple[bool, ...]) -> list[Action]:
        reset = self._resets.get(first)
        if reset is None:
            return []  # not an answer to a GRS of ours
        del self._resets[first]
        for offset in range(min(count, reset.count)):
            circuit = self.circuits.get(first + offset)
            if circuit is not None and circuit.state == RESETTING:
                self._idle(circuit)
                # a status bit set: the circuit is blocked for maintenance at the exchange's end
                circuit.remotely_blocked = offset < len(status) and status[offset]
        return []

    def _group_blocking(self, message: isup.CircuitMessage) -> list[Action]:
        assert message.circuits is not None
        block = message.message_type == isup.MSG_CGB
        hardware = message.group_type == GROUP_HARDWARE_FAILURE
        affected = [bool(message.status[i]) if i < len(message.status) else False for i in range(message.circuits)]
        actions: list[Action] = []
        for offset, flagged in enumerate(affected):
            circuit = self.circuits.get(message.cic + offset)
            if flagged and circuit is not None:
                circuit.remotely_blocked = block
                if block and hardware and circuit.state in (OUTGOING, INCOMING):
                    # hardware failure: the circuits are gone, calls on them end without REL (Q.764 2.8.2.3)
                    actions += self._clear(circuit, "circuit blocked by the exchange (hardware failure)")
                    self._idle(circuit)
        answer = isup.MSG_CGBA if block else isup.MSG_CGUA
        group_type = message.group_type or 0
        return [*actions, Send(message.cic, isup.encode_group_blocking(answer, message.cic, group_type, affected))]

    # --- timers ---------------------------------------------------------------------------------------

    def expire(self) -> list[Action]:
        now = self._clock()
        actions: list[Action] = []
        for circuit in self.circuits.values():
            for name in [n for n, deadline in circuit.timers.items() if deadline <= now]:
                if name in circuit.timers:  # an earlier expiry of this circuit may have replaced its timers
                    actions += self._expired(circuit, name, now)
        for reset in list(self._resets.values()):
            expired = [n for n, deadline in reset.timers.items() if deadline <= now]
            if "t23" in expired:
                actions.append(Alert("t23", reset.first))
                reset.timers["t23"] = now + self.timers.t23_s
            if expired:  # T22, T23 (or a GRS that could not be sent): GRS again, once
                reset.timers["t22"] = now + self.timers.t22_s
                actions.append(Send(reset.first, isup.encode_grs(reset.first, reset.count)))
        return actions

    def _expired(self, circuit: Circuit, name: str, now: float) -> list[Action]:
        call = circuit.call
        if name == "t7" and call is not None:
            return self._release(
                circuit, isup.CAUSE_RECOVERY_ON_TIMER_EXPIRY, FlashCallOutcome.NO_ANSWER, "no alerting before T7"
            )
        if name == "ring" and call is not None:
            return self._release(circuit, isup.CAUSE_NORMAL_CLEARING, FlashCallOutcome.ALERTED_RELEASED, None)
        if name == "t1":
            circuit.timers["t1"] = now + self.timers.t1_s
            return [Send(circuit.cic, isup.encode_rel(circuit.cic, circuit.release_cause or 16))]
        if name == "t5":
            # the REL went unanswered for T5: reset the circuit instead (Q.764 2.3.2) and tell maintenance
            circuit.state = RESETTING
            circuit.call = None
            circuit.timers = {"t16": now + self.timers.t16_s, "t17": now + self.timers.t17_s}
            return [Alert("t5", circuit.cic), Send(circuit.cic, isup.encode_simple(circuit.cic, isup.MSG_RSC))]
        if name == "t16":
            circuit.timers["t16"] = now + self.timers.t16_s
            return [Send(circuit.cic, isup.encode_simple(circuit.cic, isup.MSG_RSC))]
        if name == "t17":
            # after the first T17, RSC every T17 only
            circuit.timers = {"t17": now + self.timers.t17_s}
            return [Alert("t17", circuit.cic), Send(circuit.cic, isup.encode_simple(circuit.cic, isup.MSG_RSC))]
        circuit.timers.pop(name, None)
        return []

    # --- helpers --------------------------------------------------------------------------------------

    def _release(self, circuit: Circuit, cause: int, outcome: FlashCallOutcome, reason: str | None) -> list[Action]:
        """Send REL (T1, T5); the call's outcome is final now, the circuit waits for RLC."""
        call = circuit.call
        assert call is not None
        now = self._clock()
        call.phase = RELEASING
        circuit.release_cause = cause
        circuit.timers = {"t1": now + self.timers.t1_s, "t5": now + self.timers.t5_s}
        finished = self._finished(call, outcome, circuit.cic, cause, reason)
        return [Send(circuit.cic, isup.encode_rel(circuit.cic, cause)), finished]

    def _finished(
        self, call: Call, outcome: FlashCallOutcome, cic: int | None, cause: int | None, reason: str | None
    ) -> Finished:
        self.calls.pop(call.call_id, None)
        return Finished(call.call_id, outcome, cic, cause, reason, call.placed_at, call.alerted_at, self._wall())

    def _clear(self, circuit: Circuit, reason: str) -> list[Action]:
        """The circuit is reset: a call still without outcome ends here."""
        call = circuit.call
        circuit.timers = {}
        circuit.call = None
        if call is None or call.phase == RELEASING:
            return []
        alerted = call.alerted_at is not None
        outcome = FlashCallOutcome.ALERTED_RELEASED if alerted else FlashCallOutcome.FAILED
        return [self._finished(call, outcome, circuit.cic, None, reason)]

    def _idle(self, circuit: Circuit) -> None:
        if circuit.call is not None:
            self.calls.pop(circuit.call.call_id, None)
        circuit.state = IDLE
        circuit.call = None
        circuit.timers = {}
        circuit.release_cause = None

    def _group_of(self, cic: int) -> _GroupReset | None:
        for reset in self._resets.values():
            if reset.first <= cic < reset.first + reset.count:
                return reset
        return None
