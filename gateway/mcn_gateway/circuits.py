"""The circuits of the flash-call trunk toward an MSC: ISUP call control and circuit supervision (Q.764).

Pure logic: no sockets, no threads, no AWS. Messages come in as decoded `CircuitMessage`s, time comes from
the injected clocks (`clock` monotonic for timers, `wall` for the outcome's timestamps), and every method
returns the `Action`s to carry out: ISUP messages to send (`Send`), calls that ended (`Finished`), and
maintenance alerts (`Alert`). The owner (mcn_gateway.origination) serialises calls into it.

A call: IAM (T7) -> ACM/CPG alerting -> ring time -> REL cause 16 (T1 repeats, T5 -> RSC) -> RLC -> idle.
ANM/CON -> REL at once. REL from the exchange -> RLC, the cause says why. Circuit supervision from the MSC
(RSC, GRS, BLO/UBL, CGB/CGU) is answered; the whole range is reset (GRS, T22/T23) before the first call.
Local blocking (Q.764 2.8, 2.9.2): the operator blocks circuits (`block`), the MSC is told with BLO (one
circuit) or a maintenance CGB (a run of circuits) and acknowledges with BLA/CGBA (T12/T13, T18/T19);
unblocking likewise with UBL/CGU and UBA/CGUA (T14/T15, T20/T21). Blocking is for subsequent calls: a call
under way on the circuit goes on to its end, then the circuit takes no new call. A reset does not clear
local blocking: GRA carries it in its status bits, RSC is answered with BLO then RLC (Q.764 2.9.3.1 iii),
and after a reset the gateway sent itself (GRS, RSC) the block is sent again.
Dual seizure (Q.764 2.10.1.4): the exchange with the higher point code controls the even CICs; on the
circuits it does not control the gateway backs off and repeats the attempt on another circuit.
Blocked by the exchange (BLO, maintenance CGB) after our IAM and before any backward message: the block is
acknowledged, the attempt released on that circuit (REL cause 41) and repeated on another one (Q.764 2.8.2.1).
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
LOCALLY_BLOCKED = "locally_blocked"
REMOTELY_BLOCKED = "remotely_blocked"
CIRCUIT_STATES = (IDLE, OUTGOING, INCOMING, RESETTING, LOCALLY_BLOCKED, REMOTELY_BLOCKED)

# a local blocking procedure under way (its acknowledgement awaited)
BLOCKING = "blocking"  # BLO or CGB sent, BLA or CGBA awaited
UNBLOCKING = "unblocking"  # UBL or CGU sent, UBA or CGUA awaited
GROUP_MAINTENANCE = 0  # circuit group supervision message type indicator: maintenance oriented

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
    t12_s: float = 15.0  # BLO sent, no BLA: BLO again
    t13_s: float = 300.0  # BLO unacknowledged this long: alert, then BLO every T13
    t14_s: float = 15.0  # UBL / UBA
    t15_s: float = 300.0
    t18_s: float = 15.0  # CGB / CGBA
    t19_s: float = 300.0
    t20_s: float = 15.0  # CGU / CGUA
    t21_s: float = 300.0


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
    """Something maintenance must look at: a timer expired without an answer (t5, t17, t23; blocking:
    t13, t15, t19, t21)."""

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
    locally_blocked: bool = False  # the operator blocked it: no new call (survives resets and restarts)
    procedure: str | None = None  # BLOCKING / UNBLOCKING: acknowledgement awaited
    maintenance: dict[str, float] = field(default_factory=dict)  # the single BLO/UBL's timers (t12..t15)

    @property
    def held_locally(self) -> bool:
        """No new call: blocked, or an unblocking not yet acknowledged by the MSC."""
        return self.locally_blocked or self.procedure == UNBLOCKING

    @property
    def usable(self) -> bool:
        return self.state == IDLE and not self.remotely_blocked and not self.held_locally

    @property
    def reported_state(self) -> str:
        if self.state == IDLE and self.held_locally:
            return LOCALLY_BLOCKED
        if self.state == IDLE and self.remotely_blocked:
            return REMOTELY_BLOCKED
        return self.state


@dataclass(slots=True)
class _GroupReset:
    first: int
    count: int
    timers: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class _GroupBlocking:
    """A CGB or CGU of ours awaiting its CGBA/CGUA: `flags[i]` = circuit first + i is still unacknowledged."""

    message_type: int  # MSG_CGB or MSG_CGU
    first: int
    flags: list[bool]
    timers: dict[str, float] = field(default_factory=dict)

    @property
    def pending(self) -> list[int]:
        return [self.first + i for i, flag in enumerate(self.flags) if flag]


@dataclass(frozen=True, slots=True)
class CircuitView:
    """One circuit as the operator sees it (`mcn-gateway circuits show`)."""

    cic: int
    state: str
    locally_blocked: bool
    remotely_blocked: bool
    awaiting: str | None  # the acknowledgement awaited from the MSC: BLA, UBA, CGBA, CGUA


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
        locally_blocked: Iterable[int] = (),
    ) -> None:
        self.circuits = {cic: Circuit(cic) for cic in sorted(set(cics))}
        if not self.circuits:
            raise ValueError("a trunk needs at least one circuit")
        for cic in locally_blocked:  # restored from the spool: told to the MSC after the start-up reset
            if cic in self.circuits:
                self.circuits[cic].locally_blocked = True
        self.own_pc = own_pc
        self.peer_pc = peer_pc
        self.timers = timers
        self.nai = nai
        self._clock = clock
        self._wall = wall
        self._resets: dict[int, _GroupReset] = {}
        self._group_blocks: dict[tuple[int, int], _GroupBlocking] = {}  # (message type, first cic) -> CGB/CGU
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
        return sum(1 for c in self.circuits.values() if c.usable)

    @property
    def resetting(self) -> bool:
        return bool(self._resets)

    def states(self) -> dict[str, int]:
        counts = Counter(c.reported_state for c in self.circuits.values())
        return {state: counts.get(state, 0) for state in CIRCUIT_STATES}

    def next_deadline(self) -> float | None:
        deadlines = [d for c in self.circuits.values() for d in (*c.timers.values(), *c.maintenance.values())]
        deadlines += [d for g in self._resets.values() for d in g.timers.values()]
        deadlines += [d for g in self._group_blocks.values() for d in g.timers.values()]
        return min(deadlines, default=None)

    def locally_blocked(self) -> list[int]:
        return [cic for cic, circuit in self.circuits.items() if circuit.locally_blocked]

    def unacknowledged(self) -> int:
        """Circuits whose BLO/UBL/CGB/CGU the MSC has not acknowledged yet."""
        return sum(1 for c in self.circuits.values() if c.procedure is not None)

    def view(self, cics: Iterable[int] | None = None) -> list[CircuitView]:
        chosen = self.circuits if cics is None else [cic for cic in cics if cic in self.circuits]
        views = []
        for cic in chosen:
            circuit = self.circuits[cic]
            views.append(
                CircuitView(
                    cic,
                    circuit.reported_state,
                    circuit.locally_blocked,
                    circuit.remotely_blocked,
                    self._awaiting(circuit),
                )
            )
        return views

    def _awaiting(self, circuit: Circuit) -> str | None:
        if circuit.procedure is None:
            return None
        group = self._group_blocking_of(circuit.cic)
        if group is not None:
            return "CGBA" if group.message_type == isup.MSG_CGB else "CGUA"
        return "BLA" if circuit.procedure == BLOCKING else "UBA"

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
                # the MSC forgets our blocks with the reset: they are sent again once it is acknowledged
                self._end_procedure(self.circuits[cic])
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
            if circuit.usable and cic != excluding:
                return circuit
        return None

    # --- local blocking (the operator) ------------------------------------------------------------------

    def block(self, cics: Iterable[int]) -> list[Action]:
        """Block circuits for new calls and tell the MSC (BLO, or CGB for a run of circuits). A call under way
        goes on to its end (maintenance blocking concerns subsequent calls). A circuit being reset by the
        gateway is told once the reset is acknowledged."""
        return self._set_local(cics, blocked=True)

    def unblock(self, cics: Iterable[int]) -> list[Action]:
        """Return blocked circuits to service: UBL (or CGU); a circuit takes calls again once acknowledged."""
        return self._set_local(cics, blocked=False)

    def _set_local(self, cics: Iterable[int], blocked: bool) -> list[Action]:
        chosen = sorted({cic for cic in cics if cic in self.circuits})
        for cic in chosen:
            circuit = self.circuits[cic]
            circuit.locally_blocked = blocked
            self._end_procedure(circuit)
        # circuits being reset by us are told after the reset (blocked), or need nothing (the reset unblocks)
        told = [cic for cic in chosen if self.circuits[cic].state != RESETTING]
        return self._announce(told, blocked)

    def _announce(self, cics: list[int], blocked: bool) -> list[Action]:
        """BLO/UBL for a lone circuit, maintenance CGB/CGU for each contiguous run (at most 32 circuits)."""
        runs: list[list[int]] = []
        for cic in sorted(cics):
            if runs and cic == runs[-1][-1] + 1 and len(runs[-1]) <= isup.MAX_GROUP_RANGE:
                runs[-1].append(cic)
            else:
                runs.append([cic])
        now = self._clock()
        actions: list[Action] = []
        procedure = BLOCKING if blocked else UNBLOCKING
        for run in runs:
            for cic in run:
                self._end_procedure(self.circuits[cic])
                self.circuits[cic].procedure = procedure
            if len(run) == 1:
                circuit = self.circuits[run[0]]
                short, long = ("t12", "t13") if blocked else ("t14", "t15")
                circuit.maintenance = {short: now + self._duration(short), long: now + self._duration(long)}
                actions.append(Send(circuit.cic, self._single_message(circuit)))
                continue
            kind = isup.MSG_CGB if blocked else isup.MSG_CGU
            group = _GroupBlocking(kind, run[0], [True] * len(run))
            short, long = ("t18", "t19") if blocked else ("t20", "t21")
            group.timers = {short: now + self._duration(short), long: now + self._duration(long)}
            self._group_blocks[(kind, run[0])] = group
            actions.append(Send(run[0], self._group_message(group)))
        return actions

    def _duration(self, timer: str) -> float:
        return float(getattr(self.timers, f"{timer}_s"))

    @staticmethod
    def _single_message(circuit: Circuit) -> bytes:
        kind = isup.MSG_BLO if circuit.procedure == BLOCKING else isup.MSG_UBL
        return isup.encode_simple(circuit.cic, kind)

    @staticmethod
    def _group_message(group: _GroupBlocking) -> bytes:
        # the range ends at the last circuit still unacknowledged (but spans two circuits at least: range code
        # 0 is not for group messages); the status marks which ones are meant
        last = max(i for i, flag in enumerate(group.flags) if flag)
        flags = group.flags[: max(last + 1, 2)]
        return isup.encode_group_blocking(group.message_type, group.first, GROUP_MAINTENANCE, flags)

    def _end_procedure(self, circuit: Circuit) -> None:
        """Stop whatever BLO/UBL/CGB/CGU of ours the circuit waits on (its acknowledgement no longer matters)."""
        circuit.procedure = None
        circuit.maintenance = {}
        group = self._group_blocking_of(circuit.cic)
        if group is not None:
            group.flags[circuit.cic - group.first] = False
            if not any(group.flags):
                del self._group_blocks[(group.message_type, group.first)]

    def _group_blocking_of(self, cic: int) -> _GroupBlocking | None:
        for group in self._group_blocks.values():
            offset = cic - group.first
            if 0 <= offset < len(group.flags) and group.flags[offset]:
                return group
        return None

    def _acknowledged(self, circuit: Circuit, message_type: int) -> list[Action]:
        """BLA/UBA from the MSC. Unexpected ones are answered so both ends agree again (Q.764 2.9.2.3): a BLA
        for a circuit we do not block gets UBL, a UBA for one we block gets BLO."""
        expected = BLOCKING if message_type == isup.MSG_BLA else UNBLOCKING
        if circuit.procedure == expected and circuit.maintenance:
            self._end_procedure(circuit)
            return []
        if circuit.procedure is not None or circuit.state == RESETTING:
            return []  # a late answer to an earlier procedure: the one under way goes on
        if message_type == isup.MSG_BLA and not circuit.locally_blocked:
            return self._announce([circuit.cic], blocked=False)
        if message_type == isup.MSG_UBA and circuit.locally_blocked:
            return self._announce([circuit.cic], blocked=True)
        return []  # a repeated acknowledgement of what is already agreed

    def _group_acknowledged(self, message: isup.CircuitMessage) -> list[Action]:
        """CGBA/CGUA for a CGB/CGU of ours: the circuits whose status bit is set are acknowledged; the others
        stay pending and are asked for again at T18/T20."""
        kind = isup.MSG_CGB if message.message_type == isup.MSG_CGBA else isup.MSG_CGU
        group = self._group_blocks.get((kind, message.cic))
        if group is None:
            return []  # not an answer to a CGB/CGU of ours (or a late one): nothing changes
        for offset, flag in enumerate(message.status):
            if flag and offset < len(group.flags) and group.flags[offset]:
                self._end_procedure(self.circuits[group.first + offset])
        return []

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
            actions = self._reset_by_peer(circuit)
            if circuit.locally_blocked and circuit.state != RESETTING:
                # Q.764 2.9.3.1 iii: a circuit we block is answered with BLO, then RLC
                actions += self._announce([circuit.cic], blocked=True)
            return True, [*actions, Send(circuit.cic, isup.encode_rlc(circuit.cic))]
        if kind == isup.MSG_GRS and message.circuits:
            return True, self._grs(message.cic, message.circuits)
        if kind == isup.MSG_GRA and message.circuits:
            return True, self._gra(message.cic, message.circuits, message.status)
        if kind in (isup.MSG_BLO, isup.MSG_UBL):
            circuit.remotely_blocked = kind == isup.MSG_BLO
            answer = isup.MSG_BLA if kind == isup.MSG_BLO else isup.MSG_UBA
            actions = [Send(circuit.cic, isup.encode_simple(circuit.cic, answer))]
            if kind == isup.MSG_BLO:
                actions += self._repeat_elsewhere(circuit, "circuit blocked by the exchange")
            return True, actions
        if kind in (isup.MSG_CGB, isup.MSG_CGU) and message.circuits:
            return True, self._group_blocking(message)
        if kind in (isup.MSG_BLA, isup.MSG_UBA):
            return True, self._acknowledged(circuit, kind)
        if kind in (isup.MSG_CGBA, isup.MSG_CGUA) and message.circuits:
            return True, self._group_acknowledged(message)
        return True, []  # CPG events, others: nothing to do

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
        if circuit.state == IDLE and circuit.locally_blocked:
            # the MSC seized a circuit we block: it missed our BLO (or forgot it); the IAM is discarded and the
            # block told again (the MSC's T7 clears its call)
            return True, [] if circuit.procedure == BLOCKING else self._announce([circuit.cic], blocked=True)
        if circuit.state == IDLE:
            circuit.state = INCOMING
            return False, []
        return True, []  # an IAM on a circuit in a call or being reset: ignored (the exchange's T7 clears it)

    def _repeat_elsewhere(self, circuit: Circuit, reason: str) -> list[Action]:
        """The exchange blocked a circuit after our IAM and before any backward message for it (Q.764 2.8.2.1):
        once the block is acknowledged, this attempt is released on that circuit and repeated on another one,
        as after a dual seizure. A call further on (ACM or alerting received) goes on to its end."""
        call = circuit.call
        if circuit.state != OUTGOING or call is None or call.phase != AWAITING_ACM:
            return []
        self.calls.pop(call.call_id, None)
        circuit.call = None  # the circuit waits for the RLC of its REL (T1, T5) with no call on it
        now = self._clock()
        circuit.release_cause = isup.CAUSE_TEMPORARY_FAILURE
        circuit.timers = {"t1": now + self.timers.t1_s, "t5": now + self.timers.t5_s}
        actions: list[Action] = [Send(circuit.cic, isup.encode_rel(circuit.cic, isup.CAUSE_TEMPORARY_FAILURE))]
        other = self._free_circuit(excluding=circuit.cic)
        if other is None:
            reason = f"{reason}, no circuit to repeat on"
            return [*actions, self._finished(call, FlashCallOutcome.FAILED, None, None, reason)]
        call.attempts += 1
        return actions + self._seize(other, call)

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
            reset = circuit.state == RESETTING
            self._idle(circuit)
            if reset and circuit.locally_blocked:  # our RSC cleared the MSC's record of our block
                return self._announce([circuit.cic], blocked=True)
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
        blocked = [cic in self.circuits and self.circuits[cic].locally_blocked for cic in range(first, first + count)]
        for cic in range(first, first + count):
            if cic in self.circuits:
                # the GRA's status bits tell the MSC what we block: any BLO/UBL/CGB/CGU under way is answered
                self._end_procedure(self.circuits[cic])
        actions.append(Send(first, isup.encode_gra(first, count, blocked)))  # status: blocked at our end
        return actions

    def _gra(self, first: int, count: int, status: tuple[bool, ...]) -> list[Action]:
        reset = self._resets.get(first)
        if reset is None:
            return []  # not an answer to a GRS of ours
        del self._resets[first]
        blocked = []
        for offset in range(min(count, reset.count)):
            circuit = self.circuits.get(first + offset)
            if circuit is not None and circuit.state == RESETTING:
                self._idle(circuit)
                # a status bit set: the circuit is blocked for maintenance at the exchange's end
                circuit.remotely_blocked = offset < len(status) and status[offset]
                if circuit.locally_blocked:
                    blocked.append(circuit.cic)
        return self._announce(blocked, blocked=True)  # the reset cleared our blocks at the MSC: tell them again

    def _group_blocking(self, message: isup.CircuitMessage) -> list[Action]:
        assert message.circuits is not None
        block = message.message_type == isup.MSG_CGB
        hardware = message.group_type == GROUP_HARDWARE_FAILURE
        affected = [bool(message.status[i]) if i < len(message.status) else False for i in range(message.circuits)]
        actions: list[Action] = []
        repeats: list[Circuit] = []
        for offset, flagged in enumerate(affected):
            circuit = self.circuits.get(message.cic + offset)
            if flagged and circuit is not None:
                circuit.remotely_blocked = block
                if block and hardware and circuit.state in (OUTGOING, INCOMING):
                    # hardware failure: the circuits are gone, calls on them end without REL (Q.764 2.8.2.3)
                    actions += self._clear(circuit, "circuit blocked by the exchange (hardware failure)")
                    self._idle(circuit)
                elif block:
                    repeats.append(circuit)
        answer = isup.MSG_CGBA if block else isup.MSG_CGUA
        group_type = message.group_type or 0
        actions.append(Send(message.cic, isup.encode_group_blocking(answer, message.cic, group_type, affected)))
        for circuit in repeats:  # after the acknowledgement, as for a BLO
            actions += self._repeat_elsewhere(circuit, "circuit blocked by the exchange")
        return actions

    # --- timers ---------------------------------------------------------------------------------------

    def expire(self) -> list[Action]:
        now = self._clock()
        actions: list[Action] = []
        for circuit in self.circuits.values():
            for name in [n for n, deadline in circuit.timers.items() if deadline <= now]:
                if name in circuit.timers:  # an earlier expiry of this circuit may have replaced its timers
                    actions += self._expired(circuit, name, now)
        for circuit in self.circuits.values():
            expired = [n for n, deadline in circuit.maintenance.items() if deadline <= now]
            if expired and circuit.procedure is not None:
                actions += self._repeat(circuit.maintenance, expired, circuit.cic, now)
                actions.append(Send(circuit.cic, self._single_message(circuit)))
        for group in list(self._group_blocks.values()):
            expired = [n for n, deadline in group.timers.items() if deadline <= now]
            if expired:
                actions += self._repeat(group.timers, expired, group.first, now)
                actions.append(Send(group.first, self._group_message(group)))
        for reset in list(self._resets.values()):
            expired = [n for n, deadline in reset.timers.items() if deadline <= now]
            if "t23" in expired:
                actions.append(Alert("t23", reset.first))
                reset.timers["t23"] = now + self.timers.t23_s
            if expired:  # T22, T23 (or a GRS that could not be sent): GRS again, once
                reset.timers["t22"] = now + self.timers.t22_s
                actions.append(Send(reset.first, isup.encode_grs(reset.first, reset.count)))
        return actions

    def _repeat(self, timers: dict[str, float], expired: list[str], cic: int, now: float) -> list[Action]:
        """A blocking procedure's timers expired: the short one (T12/T14/T18/T20) repeats the message; the long
        one (T13/T15/T19/T21) alerts maintenance, stops the short one, and repeats every long period (Q.764
        2.10.4 / 2.9.2.3)."""
        long_timer = next((n for n in timers if n in ("t13", "t15", "t19", "t21")), None)
        short_timer = next((n for n in timers if n in ("t12", "t14", "t18", "t20")), None)
        if long_timer is not None and long_timer in expired:
            timers.clear()
            timers[long_timer] = now + self._duration(long_timer)
            return [Alert(long_timer, cic)]
        if short_timer is not None:
            timers[short_timer] = now + self._duration(short_timer)
        return []

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
            self._end_procedure(circuit)  # the RSC clears our block at the MSC: told again after its RLC
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
