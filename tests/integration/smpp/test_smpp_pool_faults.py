"""Every fault the SMSC can throw: each message ends with exactly one outcome, the pool recovers.

Assertions are on what the SMSC actually received over the socket. Each test runs against
node-smpp and smpp34 (two third-party codecs) unless marked node-smpp only: smpp34's server
cannot be scripted to refuse binds, send generic_nack, drop a connection or report
enquire_link traffic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from mcn_devkit.smsc import LocalSmsc
from mcn_smpp.outcomes import Outcome, SendResult
from mcn_smpp.pool import SmppPool

pytestmark = pytest.mark.integration

DEST = "+447700900123"


def send_all(pool: SmppPool, count: int, text: str = "You have a missed call") -> list[SendResult]:
    pending = [pool.send_async(DEST, f"{text} #{index}") for index in range(count)]
    return [item.result() for item in pending]


def assert_recovers(pool: SmppPool, smsc: LocalSmsc) -> None:
    result = pool.send(DEST, "recovered")
    assert result.outcome is Outcome.ACCEPTED
    # The SMSC reports what it received on its own channel: an earlier submit's record may come in after
    # this send returned, so the submit is found by its text, not taken as the last one recorded.
    assert smsc.wait_until(lambda: any(submit.text == "recovered" for submit in smsc.submits), 10.0)
    (received,) = [submit for submit in smsc.submits if submit.text == "recovered"]
    assert received.message_id == result.message_ids[0]


def test_throttled_submits_are_retryable_with_raw_status(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool(window=1)  # window 1 keeps arrival order = send order
    smsc.throttle_next(2)
    results = send_all(pool, 5)
    outcomes = [r.outcome for r in results]
    assert outcomes == [Outcome.RETRYABLE] * 2 + [Outcome.ACCEPTED] * 3
    assert [r.parts[0].command_status for r in results[:2]] == [0x58, 0x58]
    received = smsc.wait_for_submits(5)
    assert [s.status for s in received] == [0x58, 0x58, 0, 0, 0]
    assert [r.message_ids[0] for r in results[2:]] == [s.message_id for s in received[2:]]
    assert_recovers(pool, smsc)


def test_queue_full_is_retryable(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool(window=1)
    smsc.queue_full_next(1)
    first, second = send_all(pool, 2)
    assert (first.outcome, first.parts[0].command_status) == (Outcome.RETRYABLE, 0x14)
    assert first.parts[0].submitted
    assert second.outcome is Outcome.ACCEPTED


def test_invalid_destination_is_permanent(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool()
    smsc.reply_status_next(0x0B)
    result = pool.send(DEST, "x")
    assert result.outcome is Outcome.PERMANENT
    assert result.parts[0].command_status == 0x0B
    assert "ESME_RINVDSTADR" in result.parts[0].reason
    assert_recovers(pool, smsc)


def test_lost_response_ends_as_timeout_not_a_hang(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool(response_timeout_s=0.5)
    smsc.drop_next(1)
    result = pool.send(DEST, "nobody answers")
    part = result.parts[0]
    assert (part.outcome, part.command_status, part.submitted) == (Outcome.RETRYABLE, None, True)
    assert part.lost_response and result.lost_responses == 1 and pool.lost_responses == 1
    assert "timeout" in part.reason
    assert smsc.wait_for_submits(1)[0].fault == "no_response"
    assert_recovers(pool, smsc)


def test_lost_response_policy_give_up_ends_permanent(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool(response_timeout_s=0.5, lost_response_policy="give_up")
    smsc.drop_next(1)
    smsc.throttle_next(1)
    # One after the other: smpp34 hands concurrent submits to its listener in any order.
    lost = pool.send(DEST, "nobody answers")
    throttled = pool.send(DEST, "throttled")
    part = lost.parts[0]
    assert (part.outcome, part.submitted, part.lost_response) == (Outcome.PERMANENT, True, True)
    assert "give_up" in part.reason and pool.lost_responses == 1
    # A response that did come is not affected by the policy.
    assert (throttled.outcome, throttled.parts[0].lost_response) == (Outcome.RETRYABLE, False)
    assert_recovers(pool, smsc)


@pytest.mark.smsc_only("node-smpp")
def test_generic_nack_with_sequence_zero_closes_the_bind_and_fails_in_flight_at_once(
    smsc: LocalSmsc, make_pool: Callable[..., SmppPool]
) -> None:
    pool = make_pool(window=5, response_timeout_s=60.0)
    smsc.drop_next(2)
    held = [pool.send_async(DEST, f"held {i}") for i in range(2)]
    smsc.wait_for_submits(2)
    smsc.generic_nack_zero_next(1)
    started = time.monotonic()
    result = pool.send(DEST, "nacked with sequence 0")
    results = [result] + [item.result() for item in held]
    # Well before the 60 s response timeout: the session is treated as broken at once.
    assert time.monotonic() - started < 30
    for each in results:
        part = each.parts[0]
        assert (part.outcome, part.submitted, part.command_status) == (Outcome.RETRYABLE, True, None)
        assert "sequence 0" in part.reason
    assert smsc.wait_for_event(lambda e: e["event"] == "close") is not None
    assert_recovers(pool, smsc)
    assert len(smsc.binds()) == 2


@pytest.mark.smsc_only("node-smpp")
def test_refused_bind_is_attempted_once_per_send_call(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool(reconnect_backoff_initial_s=0.01, reconnect_backoff_max_s=0.01)
    smsc.reject_binds(0x0D, count=10)
    result = pool.send(DEST, "z" * 400)  # three parts
    assert len(result.parts) == 3
    assert [p.outcome for p in result.parts] == [Outcome.PERMANENT] * 3
    assert all(p.command_status == 0x0D and not p.submitted for p in result.parts)
    assert "not attempted" in result.parts[2].reason
    assert pool.binds_refused == 1
    assert smsc.wait_until(lambda: len(smsc.binds()) >= 1)
    assert not smsc.wait_until(lambda: len(smsc.binds()) >= 2, timeout=1.0)


@pytest.mark.smsc_only("node-smpp")
def test_generic_nack_is_permanent_and_correlated(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool(window=1)
    smsc.generic_nack_next(1)
    nacked, accepted = send_all(pool, 2)
    assert nacked.outcome is Outcome.PERMANENT
    assert nacked.parts[0].command_status == 0x02
    assert "generic_nack" in nacked.parts[0].reason
    assert accepted.outcome is Outcome.ACCEPTED


def test_smsc_initiated_unbind_is_answered_and_the_pool_rebinds(
    smsc: LocalSmsc, make_pool: Callable[..., SmppPool]
) -> None:
    pool = make_pool()
    assert pool.send(DEST, "before").accepted
    assert smsc.unbind_all() == 1
    answer = smsc.wait_for_event(lambda e: e["event"] == "unbind_resp")
    assert answer is not None and answer["status"] == 0
    assert smsc.wait_until(lambda: pool.live_binds() == 0)
    assert_recovers(pool, smsc)
    assert len(smsc.binds()) == 2


@pytest.mark.smsc_only("node-smpp")
def test_disconnect_with_submits_in_flight(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool(window=5)
    smsc.disconnect_with_inflight(4)
    results = send_all(pool, 4)
    # Four submits held by the SMSC at once proves the window overlaps requests.
    assert [s.fault for s in smsc.wait_for_submits(4)] == ["held_for_disconnect"] * 4
    for result in results:
        part = result.parts[0]
        assert (part.outcome, part.submitted, part.command_status) == (Outcome.RETRYABLE, True, None)
        assert "connection lost" in part.reason
    assert_recovers(pool, smsc)


def test_window_caps_outstanding_submits(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool(window=3, response_timeout_s=1.0, acquire_timeout_s=10.0)
    smsc.drop_next(3)
    first_three = [pool.send_async(DEST, f"held {i}") for i in range(3)]
    smsc.wait_for_submits(3)
    fourth: list[SendResult] = []
    sender = threading.Thread(target=lambda: fourth.append(pool.send(DEST, "fourth")))
    sender.start()
    # The 4th can only go out once a slot frees, i.e. after a held submit timed out.
    assert smsc.wait_until(lambda: len(smsc.submits) >= 4, timeout=10)
    timed_out = [item.items[0].done for item in first_three]  # type: ignore[union-attr]
    assert any(timed_out)
    sender.join(timeout=10)
    assert fourth and fourth[0].accepted
    assert all(item.result().outcome is Outcome.RETRYABLE for item in first_three)


@pytest.mark.smsc_only("node-smpp")
def test_bind_refused_is_permanent_then_recovers(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool()
    smsc.reject_binds(0x0D)
    refused = pool.send(DEST, "x")
    assert refused.outcome is Outcome.PERMANENT
    assert refused.parts[0].command_status == 0x0D
    assert refused.parts[0].submitted is False
    assert smsc.submits == []
    assert_recovers(pool, smsc)  # after the backoff a new bind is accepted


@pytest.mark.smsc_only("node-smpp")
def test_wrong_password_is_permanent(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool(password="wrong")
    result = pool.send(DEST, "x")
    assert (result.outcome, result.parts[0].command_status) == (Outcome.PERMANENT, 0x0E)
    assert smsc.wait_until(lambda: bool(smsc.binds()))  # the SMSC's event may trail the bind_resp
    assert smsc.binds()[0]["status"] == 0x0E


@pytest.mark.smsc_only("node-smpp")
def test_unreachable_smsc_is_retryable_without_hanging(make_pool: Callable[..., SmppPool], smsc: LocalSmsc) -> None:
    pool = make_pool(port=1, response_timeout_s=0.5, connect_timeout_s=0.3)
    result = pool.send(DEST, "x")
    assert result.outcome is Outcome.RETRYABLE
    assert result.parts[0].submitted is False
    assert "no SMSC bind available" in result.parts[0].reason


def test_multi_part_failure_reports_every_part_and_resends_only_the_failed_one(
    smsc: LocalSmsc, make_pool: Callable[..., SmppPool]
) -> None:
    pool = make_pool(window=1)
    text = "a" * 200
    smsc.reply_status_next(0, count=1)  # part 1 accepted
    smsc.throttle_next(1)  # part 2 throttled
    first = pool.send(DEST, text)
    assert [p.outcome for p in first.parts] == [Outcome.ACCEPTED, Outcome.RETRYABLE]
    assert first.failed_part_numbers == [2]
    retry = pool.send(DEST, text, reference=first.reference, part_numbers=first.failed_part_numbers)
    assert retry.accepted and len(retry.parts) == 1
    received = smsc.wait_for_submits(3)
    assert received[2].udh == received[1].udh  # same reference, same part number: the handset joins it


def test_several_binds_share_the_load(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool(binds=3, window=1)
    smsc.set_latency(100)
    results = send_all(pool, 6)
    assert all(r.accepted for r in results)
    assert len({s.session for s in smsc.wait_for_submits(6)}) == 3


def test_tps_licence_is_never_exceeded(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    smsc.set_tps_limit(20)
    pool = make_pool(binds=2, tps=20)
    results = send_all(pool, 30)
    assert all(r.accepted for r in results)
    assert smsc.stats()["licenceThrottled"] == 0


def test_without_the_bucket_the_licence_throttles(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    # Control for the test above: the SMSC licence really does bite.
    smsc.set_tps_limit(20)
    pool = make_pool(binds=2)
    results = send_all(pool, 30)
    throttled = [r for r in results if r.parts[0].command_status == 0x58]
    assert throttled and all(r.outcome is Outcome.RETRYABLE for r in throttled)
    assert smsc.stats()["licenceThrottled"] == len(throttled)


@pytest.mark.smsc_only("node-smpp")
def test_idle_bind_is_kept_alive_with_enquire_link(smsc: LocalSmsc, make_pool: Callable[..., SmppPool]) -> None:
    pool = make_pool(enquire_link_interval_s=0.2)
    assert pool.send(DEST, "x").accepted
    assert smsc.wait_for_event(lambda e: e["event"] == "enquire_link") is not None
    assert pool.live_binds() == 1
    assert_recovers(pool, smsc)


@pytest.mark.smsc_only("node-smpp")
def test_long_idle_bind_is_probed_before_it_carries_a_submit(
    smsc: LocalSmsc, make_pool: Callable[..., SmppPool]
) -> None:
    # As after a Lambda freeze: the bind has been silent longer than the keep-alive interval.
    pool = make_pool(enquire_link_interval_s=60)
    assert pool.send(DEST, "first").accepted
    for bind in pool._binds:
        bind.last_received -= 120
    assert pool.send(DEST, "second").accepted
    kinds = [e["event"] for e in smsc.events() if e["event"] in ("enquire_link", "submit_sm")]
    assert kinds[0] == kinds[-1] == "submit_sm" and len(kinds) >= 3
    assert set(kinds[1:-1]) == {"enquire_link"}


@pytest.mark.smsc_only("node-smpp")
def test_concurrent_senders_with_mixed_faults_every_part_has_exactly_one_outcome(
    smsc: LocalSmsc, make_pool: Callable[..., SmppPool]
) -> None:
    pool = make_pool(binds=2, window=4, response_timeout_s=1.0, acquire_timeout_s=30.0)
    smsc.drop_next(2)
    smsc.generic_nack_next(2)
    smsc.throttle_next(5)
    smsc.queue_full_next(3)
    smsc.reply_status_next(0x0B, count=2)
    results: list[SendResult] = []
    results_lock = threading.Lock()

    def sender(worker: int) -> None:
        for index in range(25):
            text = f"worker {worker} message {index}" + ("x" * 150 if index % 5 == 0 else "")
            result = pool.send(DEST, text)
            with results_lock:
                results.append(result)

    workers = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert len(results) == 100
    parts = [part for result in results for part in result.parts]
    received = smsc.wait_for_submits(len(parts))
    # Every part went over the wire exactly once: nothing dropped, nothing sent twice.
    assert len(received) == len(parts) == 120
    assert all(part.submitted for part in parts)
    accepted = sorted(part.message_id or "" for part in parts if part.outcome is Outcome.ACCEPTED)
    assert accepted == sorted(s.message_id for s in received if s.message_id)
    retryable = [part for part in parts if part.outcome is Outcome.RETRYABLE]
    permanent = [part for part in parts if part.outcome is Outcome.PERMANENT]
    assert sorted(p.command_status or 0 for p in retryable) == [0, 0] + [0x14] * 3 + [0x58] * 5
    assert sorted(p.command_status or 0 for p in permanent) == [0x02, 0x02, 0x0B, 0x0B]
    assert_recovers(pool, smsc)
