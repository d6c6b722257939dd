"""Send progress, fee rules and the attach decision, against in-memory collaborators."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from batch_strategies import waiting_call
from notify_factories import NOW, SUBSCRIBER

from mcn_core.logic.attach import AttachOutcome, handle_attach
from mcn_core.logic.record import calls_to_clear, fee_values, notice_status
from mcn_core.logic.send import MessageOutcome, PartOutcome, backoff_seconds, send_notice
from mcn_core.models.calls import StoredCall
from mcn_core.models.notice import Notice, OutgoingSms, SendProgress, SubscriberProfile


def notice(parts_per_message: list[int], max_attempts: int = 3) -> Notice:
    messages = [
        OutgoingSms(index=i, destination=SUBSCRIBER, source="MissedCall", text=f"m{i}", encoding="gsm7", segments=n)
        for i, n in enumerate(parts_per_message)
    ]
    return Notice(
        notification_id="n-1",
        subscriber=SUBSCRIBER,
        action="send",
        messages=messages,
        call_refs=["a", "b"],
        calls_listed=2,
        callers_listed=1,
        segments=sum(parts_per_message),
        fee_minor=10,
        currency="GBP",
        tariff_id="t",
        period="2026-11",
        send_max_attempts=max_attempts,
    )


class ScriptedSender:
    """Answers each part from a script: outcome per (message index, part number, attempt)."""

    def __init__(self, parts: dict[int, int], script: dict[tuple[int, int, int], str]) -> None:
        self.parts, self.script, self.calls = parts, script, []
        self.attempts: dict[int, int] = {}

    def send(self, sms: OutgoingSms, *, reference: int | None, part_numbers: list[int] | None) -> MessageOutcome:
        attempt = self.attempts[sms.index] = self.attempts.get(sms.index, 0) + 1
        wanted = part_numbers or list(range(1, self.parts[sms.index] + 1))
        self.calls.append((sms.index, reference, wanted))
        results = []
        for number in wanted:
            outcome = self.script.get((sms.index, number, attempt), "accepted")
            results.append(
                PartOutcome(
                    number,
                    self.parts[sms.index],
                    outcome,
                    f"id-{sms.index}-{number}" if outcome == "accepted" else None,
                    0x58 if outcome == "retryable" else (0x0B if outcome == "permanent" else 0),
                    outcome,
                )
            )
        return MessageOutcome(reference=reference if reference is not None else 77, parts=tuple(results))


def test_retry_resends_only_missing_parts_with_the_same_reference() -> None:
    sender = ScriptedSender({0: 3, 1: 1}, {(0, 2, 1): "retryable"})
    first = send_notice(notice([3, 1]), None, sender)
    assert (first.status, first.retry_after_s) == ("retry", backoff_seconds(1))
    assert first.messages[1].outcome == "accepted"
    second = send_notice(notice([3, 1]), SendProgress.from_data(first.to_data()), sender)
    assert second.status == "done"
    assert sender.calls == [(0, None, [1, 2, 3]), (1, None, [1]), (0, 77, [2])]  # message 1 not resent
    assert second.message_ids == ["id-0-1", "id-0-2", "id-0-3", "id-1-1"]


def test_retryable_becomes_permanent_after_max_attempts() -> None:
    script = {(0, 1, attempt): "retryable" for attempt in range(1, 5)}
    sender = ScriptedSender({0: 1}, script)
    progress = None
    for _ in range(3):
        progress = send_notice(notice([1], max_attempts=3), progress, sender)
    assert progress is not None and progress.status == "done"
    assert progress.messages[0].outcome == "permanent"
    assert "retries exhausted after 3 attempts" in (progress.messages[0].reason or "")


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff_seconds(a) for a in (1, 2, 3, 4, 10)] == [1, 2, 4, 8, 30]


def test_fee_rules() -> None:
    accepted = send_notice(notice([1]), None, ScriptedSender({0: 1}, {}))
    failed = send_notice(notice([1]), None, ScriptedSender({0: 1}, {(0, 1, 1): "permanent"}))
    assert notice_status(accepted) == ("submitted", None)
    assert notice_status(failed)[0] == "failed"
    values = fee_values(notice([1]), failed, NOW, "default#2026-11#03")
    assert (values["status"], values["fee_minor"], values["smsc_message_ids"]) == ("failed", 0, [])
    ok = fee_values(notice([1]), accepted, NOW, "default#2026-11#03")
    assert (ok["fee_minor"], ok["currency"], ok["fee_partition"], ok["tenant"]) == (
        10,
        "GBP",
        "default#2026-11#03",
        "default",
    )
    assert calls_to_clear(notice([1]), "failed") == []
    assert calls_to_clear(notice([1]).replace(keep_calls_on_failure=False), "failed") == ["a", "b"]
    assert calls_to_clear(notice([1]), "submitted") == ["a", "b"]


class AttachFakes:
    def __init__(self, pending: bool, locked: bool = False, start_fails: bool = False) -> None:
        self.pending, self.locked, self.start_fails = pending, locked, start_fails
        self.started: list[dict] = []
        self.released: list[str] = []
        self.reads = 0

    def unnotified_calls(self, subscriber: str, now: datetime) -> list[StoredCall]:
        self.reads += 1
        return [waiting_call(subscriber, now)] if self.pending else []

    def acquire_lock(
        self, subscriber: str, notification_id: str, until: datetime, now: datetime
    ) -> SubscriberProfile | None:
        if self.locked:
            return None
        self.locked = True
        return SubscriberProfile(msisdn=subscriber, notify_lock=notification_id)

    def release_lock(self, subscriber: str, notification_id: str) -> bool:
        self.released.append(notification_id)
        self.locked = False
        return True

    def start(self, notification_id: str, request: dict) -> None:
        if self.start_fails:
            raise ConnectionError("states unavailable")
        self.started.append(request)


EVENT = {"subscriber": "07911123456", "attach_time": "2026-11-29T12:00:00Z", "source": "alertServiceCentre", "hlr": "x"}


def attach(fakes: AttachFakes, raw: object = EVENT):
    return handle_attach(raw, 0, default_region="GB", store=fakes, starter=fakes, now=NOW)


def test_attach_without_pending_calls_costs_one_read() -> None:
    fakes = AttachFakes(pending=False)
    assert attach(fakes).outcome is AttachOutcome.NO_PENDING
    assert (fakes.reads, fakes.started, fakes.locked) == (1, [], False)


def test_repeated_attach_starts_one_notice() -> None:
    fakes = AttachFakes(pending=True)
    first, again = attach(fakes), attach(fakes)
    assert (first.outcome, again.outcome) == (AttachOutcome.STARTED, AttachOutcome.IN_FLIGHT)
    assert len(fakes.started) == 1
    assert fakes.started[0]["subscriber"] == SUBSCRIBER
    assert fakes.started[0]["notification_id"] == first.notification_id


def test_attach_starts_the_execution_with_what_prepare_made_of_the_lock_and_the_listing() -> None:
    fakes, seen = AttachFakes(pending=True), []

    def prepare(request: dict, profile: SubscriberProfile, calls: list[StoredCall], listed_at: datetime) -> dict:
        seen.append((profile, [c.call_ref for c in calls], listed_at))
        return {**request, "action": "send"}

    result = handle_attach(EVENT, 0, default_region="GB", store=fakes, starter=fakes, now=NOW, prepare=prepare)
    ((profile, listed, listed_at),) = seen
    # the profile the lock's update returned (the lock is this notice's), the calls attach listed
    assert (profile.msisdn, profile.notify_lock, listed) == (SUBSCRIBER, result.notification_id, ["c-1"])
    assert listed_at.tzinfo is not None
    assert fakes.started == [{**fakes.started[0], "action": "send"}] and fakes.reads == 1


def test_failed_start_releases_the_lock_for_the_retry() -> None:
    fakes = AttachFakes(pending=True, start_fails=True)
    with pytest.raises(ConnectionError):
        attach(fakes)
    assert fakes.locked is False and len(fakes.released) == 1


@pytest.mark.parametrize("raw", ["text", {"subscriber": "123"}, {**EVENT, "subscriber": "12345"}, {**EVENT, "x": 1}])
def test_bad_attach_events_are_rejected(raw: object) -> None:
    fakes = AttachFakes(pending=True)
    result = attach(fakes, raw)
    assert result.outcome is AttachOutcome.REJECTED and result.reason
    assert fakes.reads == 0


def test_notification_ids_are_time_ordered() -> None:
    from mcn_core.logic.notices import new_notification_id

    assert new_notification_id(NOW) < new_notification_id(NOW + timedelta(seconds=1))
