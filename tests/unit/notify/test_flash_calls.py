"""Missed calls placed on behalf (issue 15): which callers get a call, the requests, the config."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from notify_factories import NOW, SUBSCRIBER, call

from mcn_core.logic.compose import compose_notice
from mcn_core.logic.origination import flash_call_requests
from mcn_core.logic.record import fee_values
from mcn_core.models.config import NotifyConfig
from mcn_core.models.events import Presentation
from mcn_core.models.notice import SendProgress, SubscriberProfile
from mcn_core.models.origination import FlashCallRequest

PROFILE = SubscriberProfile(msisdn=SUBSCRIBER)
ALICE, BOB, CAROL, DAVE = "+447912000111", "+4915112345678", "+447912000333", "+447912000444"


def configured(default_config: NotifyConfig, **changes: object) -> NotifyConfig:
    """Through validation, as an operator's edit would be."""
    return NotifyConfig.from_data({**default_config.to_data(), **changes})


def compose(config: NotifyConfig, calls: list, profile: SubscriberProfile = PROFILE, now: datetime = NOW):
    return compose_notice(notification_id="n-1", profile=profile, calls=calls, config=config, now=now)


def mixed_calls() -> list:
    return [
        call("a1", ALICE, 50),
        call("a2", ALICE, 10),  # Alice: twice, last 10 min ago
        call("w1", None, 20),  # withheld
        call("b1", BOB, 5),  # Bob: once, most recent
        call("c1", CAROL, 30),
        call("c2", CAROL, 25),  # Carol: twice
    ]


def test_off_places_no_calls_and_lists_everyone(default_config: NotifyConfig) -> None:
    notice = compose(default_config, mixed_calls())
    assert default_config.on_behalf == "off"
    assert notice.flash_calls == []
    (sms,) = notice.messages
    assert all(number in sms.text for number in (ALICE, BOB, CAROL)) and "Private number" in sms.text


def test_call_mode_calls_each_caller_most_recent_first_and_never_a_withheld_one(default_config: NotifyConfig) -> None:
    notice = compose(configured(default_config, on_behalf="call"), mixed_calls())
    assert notice.flash_calls == [BOB, ALICE, CAROL]
    # Only the withheld caller is left for the SMS; the called ones are not listed again.
    (sms,) = notice.messages
    assert (sms.source, sms.source_is_number) == ("MissedCall", False)
    assert "Private number" in sms.text and ALICE not in sms.text and BOB not in sms.text
    assert notice.call_refs == ["a1", "a2", "b1", "c1", "c2", "w1"]  # every call is cleared by this notice


def test_call_mode_with_only_presentable_callers_sends_no_sms(default_config: NotifyConfig) -> None:
    notice = compose(configured(default_config, on_behalf="call"), [call("a", ALICE, 5), call("b", BOB, 3)])
    assert notice.action == "send" and notice.messages == [] and notice.flash_calls == [BOB, ALICE]
    assert notice.fee_minor == default_config.tariff.fee_minor_per_notice


def test_calls_are_capped_and_the_rest_are_listed(default_config: NotifyConfig) -> None:
    notice = compose(configured(default_config, on_behalf="call", max_calls_per_notice=2), mixed_calls())
    assert notice.flash_calls == [BOB, ALICE]
    (sms,) = notice.messages
    assert CAROL in sms.text and "Private number" in sms.text and BOB not in sms.text


def test_repeated_callers_only(default_config: NotifyConfig) -> None:
    config = configured(default_config, on_behalf="call", on_behalf_callers="repeated")
    notice = compose(config, mixed_calls())
    assert notice.flash_calls == [ALICE, CAROL]  # Bob called once: listed in the SMS instead
    (sms,) = notice.messages
    assert BOB in sms.text and ALICE not in sms.text


def test_a_caller_who_restricted_presentation_once_is_never_presented(default_config: NotifyConfig) -> None:
    # Defence in depth: ingest stores a CLIR call without its number, but a stored number whose
    # presentation is not "allowed" must never reach the subscriber's call log either.
    calls = [call("a1", ALICE, 9), call("a2", ALICE, 5, presentation=Presentation.RESTRICTED)]
    notice = compose(configured(default_config, on_behalf="call_and_sms"), calls)
    assert notice.flash_calls == []
    assert all(not m.source_is_number for m in notice.messages)


def test_call_and_sms_calls_and_texts_from_the_caller(default_config: NotifyConfig) -> None:
    notice = compose(configured(default_config, on_behalf="call_and_sms"), [call("a", ALICE, 9), call("b", BOB, 4)])
    assert notice.flash_calls == [BOB, ALICE]
    assert [(m.source, m.source_is_number) for m in notice.messages] == [(BOB, True), (ALICE, True)]


def test_quiet_hours_defer_the_calls_with_the_sms(default_config: NotifyConfig) -> None:
    config = configured(default_config, on_behalf="call", default_quiet_hours="11:00-13:00")
    notice = compose(config, mixed_calls())
    assert notice.action == "defer" and notice.flash_calls == []
    later = compose(config, mixed_calls(), now=NOW + timedelta(hours=1, minutes=1))
    assert later.action == "send" and later.flash_calls == [BOB, ALICE, CAROL]


def test_an_opted_out_subscriber_gets_no_calls(default_config: NotifyConfig) -> None:
    notice = compose(
        configured(default_config, on_behalf="call"),
        mixed_calls(),
        SubscriberProfile(msisdn=SUBSCRIBER, opted_out=True),
    )
    assert notice.action == "nothing" and notice.flash_calls == []


def test_old_sender_mode_configs_stay_valid(default_config: NotifyConfig) -> None:
    raw = default_config.to_data()
    raw.pop("on_behalf")
    assert NotifyConfig.from_data({**raw, "sender_mode": "caller"}).on_behalf == "sms"
    assert NotifyConfig.from_data({**raw, "sender_mode": "service"}).on_behalf == "off"
    assert NotifyConfig.from_data({**raw, "sender_mode": "caller", "on_behalf": "sms"}).on_behalf == "sms"
    with pytest.raises(ValueError, match="contradicts on_behalf"):
        NotifyConfig.from_data({**raw, "sender_mode": "caller", "on_behalf": "call"})
    with pytest.raises(ValueError, match="sender_mode must be"):
        NotifyConfig.from_data({**raw, "sender_mode": "robot"})


@pytest.mark.parametrize(
    "change",
    [
        {"on_behalf": "flash"},
        {"on_behalf_callers": "some"},
        {"max_calls_per_notice": 0},
        {"max_calls_per_notice": 11},
        {"flash_call_window_s": 5},
        {"flash_call_window_s": 3600},
    ],
)
def test_flash_call_settings_are_validated(default_config: NotifyConfig, change: dict) -> None:
    with pytest.raises(ValueError):
        configured(default_config, **change)


def test_per_call_fee_is_validated(default_config: NotifyConfig) -> None:
    tariff = default_config.tariff.to_data()
    with pytest.raises(ValueError):
        configured(default_config, tariff={**tariff, "fee_minor_per_call": -1})
    with pytest.raises(ValueError):
        configured(default_config, tariff={**tariff, "fee_minor_per_call": 2.5})


# ---------------------------------------------------------------- requests
def test_requests_are_numbered_per_notice_and_expire_after_the_window(default_config: NotifyConfig) -> None:
    notice = compose(configured(default_config, on_behalf="call", flash_call_window_s=90), mixed_calls())
    requests = flash_call_requests(notice, status="submitted", now=NOW)
    assert [r.request_id for r in requests] == ["n-1#1", "n-1#2", "n-1#3"]
    assert [r.caller for r in requests] == [BOB, ALICE, CAROL]
    assert {r.subscriber for r in requests} == {SUBSCRIBER}
    assert {r.not_after - r.requested_at for r in requests} == {timedelta(seconds=90)}
    # The SQS body is the published contract: it round-trips through the gateway's model.
    assert FlashCallRequest.from_data(json.loads(requests[0].to_json())) == requests[0]
    # A retried step (later clock) asks for the same calls under the same ids.
    again = flash_call_requests(notice, status="submitted", now=NOW + timedelta(seconds=7))
    assert [(r.request_id, r.caller) for r in again] == [(r.request_id, r.caller) for r in requests]


def test_no_calls_for_a_notice_that_failed(default_config: NotifyConfig) -> None:
    notice = compose(configured(default_config, on_behalf="call_and_sms"), mixed_calls())
    assert flash_call_requests(notice, status="failed", now=NOW) == []
    assert len(flash_call_requests(notice, status="delivered", now=NOW)) == 3


def test_a_calls_only_notice_is_recorded_as_submitted_with_its_calls(default_config: NotifyConfig) -> None:
    config = configured(default_config, on_behalf="call")
    config = configured(config, tariff={**config.tariff.to_data(), "fee_minor_per_call": 3})
    notice = compose(config, [call("a", ALICE, 9), call("b", BOB, 4)])
    values = fee_values(notice, SendProgress(status="done", messages=[]), NOW, "2026-11#00")
    assert (values["status"], values["fee_minor"], values["messages"]) == ("submitted", 10, 0)
    assert (values["calls_requested"], values["fee_minor_per_call"]) == (2, 3)


def test_a_notice_without_calls_keeps_its_record_as_before(default_config: NotifyConfig) -> None:
    notice = compose(default_config, mixed_calls())
    values = fee_values(notice, SendProgress(status="done", messages=[]), NOW.astimezone(UTC), "2026-11#00")
    assert values["status"] == "failed"  # no SMS and no call: nothing went out
    assert values["calls_requested"] is None and values["fee_minor_per_call"] is None
