from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from notify_factories import NOW, SUBSCRIBER, call

from mcn_core.logic.compose import compose_notice, group_by_caller, quiet_until
from mcn_core.models.config import NotifyConfig, Promotion, QuietHours
from mcn_core.models.notice import SubscriberProfile
from mcn_smpp import segments

PROFILE = SubscriberProfile(msisdn=SUBSCRIBER)


def compose(config: NotifyConfig, calls: list, profile: SubscriberProfile = PROFILE, now: datetime = NOW):
    return compose_notice(notification_id="n-1", profile=profile, calls=calls, config=config, now=now)


def test_template_defaults_validate_and_cover_three_languages(default_config: NotifyConfig) -> None:
    assert {"en", "de", "tr"} <= set(default_config.templates)
    assert default_config.tariff.fee_minor_per_notice > 0


def test_calls_grouped_per_caller_with_attempts_and_times(default_config: NotifyConfig) -> None:
    calls = [
        call("a", "+447912000111", 90),
        call("b", "+447912000111", 30),
        call("c", None, 20),
        call("d", "+4915112345678", 10),
    ]
    notice = compose(default_config, calls)
    assert notice.action == "send"
    (sms,) = notice.messages
    assert sms.text == (
        "You missed 4 call(s) while unreachable:\n"
        "+4915112345678 at 11:50\n"
        "Private number at 11:40\n"
        "+447912000111 2x, last 11:30"
    )
    assert (sms.encoding, sms.segments) == ("gsm7", 1)
    assert notice.call_refs == ["a", "b", "c", "d"]
    assert (notice.calls_listed, notice.callers_listed) == (4, 3)
    assert notice.notify_me_candidates == ["+447912000111", "+4915112345678"]  # never the withheld caller
    assert (notice.fee_minor, notice.currency, notice.period) == (10, "GBP", "2026-11")


def test_times_are_shown_in_the_subscriber_time_zone_with_date_when_not_today(default_config: NotifyConfig) -> None:
    profile = SubscriberProfile(msisdn=SUBSCRIBER, time_zone="Europe/Istanbul", language="de")
    notice = compose(default_config, [call("a", "+447912000111", 60 * 13), call("b", "+447912000111", 5)], profile)
    # 12:00 UTC = 15:00 in Istanbul; 13 h earlier was the day before, local time.
    assert notice.messages[0].text.endswith("+447912000111 2x, zuletzt 14:55")
    first = group_by_caller([call("a", "+447912000111", 60 * 13)])[0].first
    assert first.astimezone(ZoneInfo("Europe/Istanbul")).day == 29
    assert notice.language == "de"


def test_withheld_callers_can_be_left_out(default_config: NotifyConfig) -> None:
    config = default_config.replace(withheld_callers="omit")
    notice = compose(config, [call("a", None, 5), call("b", "+447912000111", 3)])
    assert "Private" not in notice.messages[0].text
    assert notice.call_refs == ["b"]
    assert compose(config, [call("a", None, 5)]).action == "nothing"


def test_nothing_to_send_when_no_live_calls_or_opted_out(default_config: NotifyConfig) -> None:
    expired = call("a", "+447912000111", 5, expires_at=NOW - timedelta(seconds=1))
    assert compose(default_config, [expired]).action == "nothing"
    assert compose(default_config, []).action == "nothing"
    opted_out = SubscriberProfile(msisdn=SUBSCRIBER, opted_out=True)
    assert compose(default_config, [call("a", "+447912000111", 5)], opted_out).action == "nothing"


def many_callers(n: int) -> list:
    return [call(f"r{i}", f"+4479120{i:05d}", i + 1) for i in range(n)]


def test_caps_split_into_several_messages_and_say_how_many_more(default_config: NotifyConfig) -> None:
    config = default_config.replace(max_callers_per_message=4, max_messages_per_notice=2)
    notice = compose(config, many_callers(11))
    assert len(notice.messages) == 2
    first, second = (m.text for m in notice.messages)
    assert first.startswith("You missed 11 call(s)")
    assert second.startswith("Missed calls (2/2):")
    assert second.endswith("+3 more caller(s)")  # 11 callers, 8 shown: never silent truncation
    assert sum(text.count("+4479120") for text in (first, second)) == 8
    assert notice.calls_listed == 11
    assert notice.fee_minor == config.tariff.fee_minor_per_notice + config.tariff.fee_minor_per_extra_message


def test_every_message_respects_the_segment_budget(default_config: NotifyConfig) -> None:
    config = default_config.replace(max_callers_per_message=50, max_segments_per_message=1)
    notice = compose(config, many_callers(9))
    assert len(notice.messages) > 1
    for sms in notice.messages:
        assert segments(sms.text).count == sms.segments == 1


def test_promotion_appended_only_while_it_fits(default_config: NotifyConfig) -> None:
    short = Promotion(id="p-short", texts={"en": "Top up today: 2x data!"})
    config = default_config.replace(promotions=[short])
    notice = compose(config, [call("a", "+447912000111", 5)])
    assert notice.messages[0].text.endswith("\nTop up today: 2x data!")
    assert (notice.promotion_id, notice.segments) == ("p-short", 1)

    long = Promotion(id="p-long", texts={"en": "x" * 140})
    notice = compose(default_config.replace(promotions=[long]), [call("a", "+447912000111", 5)])
    assert "xxxx" not in notice.messages[0].text
    assert (notice.promotion_id, notice.segments) == (None, 1)


def test_inactive_or_other_language_promotion_is_not_used(default_config: NotifyConfig) -> None:
    later = Promotion(id="later", texts={"en": "Soon"}, starts_at=NOW + timedelta(days=1))
    german = Promotion(id="de-only", texts={"de": "Angebot"})
    notice = compose(default_config.replace(promotions=[later, german]), [call("a", "+447912000111", 5)])
    assert notice.promotion_id is None


def test_turkish_stays_one_gsm7_segment_with_the_single_shift_table(default_config: NotifyConfig) -> None:
    profile = SubscriberProfile(msisdn=SUBSCRIBER, language="tr", time_zone="Europe/Istanbul")
    notice = compose(default_config, [call("a", "+905321234567", 5), call("b", "+905321234567", 2)], profile)
    (sms,) = notice.messages
    assert "cevapsız çağrınız" in sms.text
    assert (sms.encoding, sms.segments, sms.national_shift) == ("gsm7-turkish", 1, "turkish")
    assert segments(sms.text).count == 2  # without the shift table: UCS-2, two segments


def test_ucs2_text_counts_70_67(default_config: NotifyConfig) -> None:
    templates = default_config.templates["en"].replace(header="Пропущенные звонки: {total_calls}")
    config = default_config.replace(templates={**default_config.templates, "uk": templates})
    notice = compose(config, many_callers(3), SubscriberProfile(msisdn=SUBSCRIBER, language="uk"))
    (sms,) = notice.messages
    assert sms.encoding == "ucs2"
    assert sms.segments == segments(sms.text).count == (1 if len(sms.text) <= 70 else -(-len(sms.text) // 67))


def test_quiet_hours_defer_until_the_window_ends(default_config: NotifyConfig) -> None:
    profile = SubscriberProfile(msisdn=SUBSCRIBER, time_zone="Europe/Istanbul", quiet_hours="14:30-16:00")
    notice = compose(default_config, [call("a", "+447912000111", 5)], profile)  # 15:00 local
    assert notice.action == "defer"
    assert notice.send_at == datetime(2026, 11, 29, 13, 0, tzinfo=UTC)
    assert notice.messages == []


@pytest.mark.parametrize(
    ("local_now", "window", "expected_local_end"),
    [
        ("23:30", "22:00-07:00", "2026-11-30T07:00"),  # before midnight, crossing
        ("06:59", "22:00-07:00", "2026-11-29T07:00"),  # after midnight
        ("07:00", "22:00-07:00", None),  # the window's end is outside it
        ("21:59", "22:00-07:00", None),
        ("13:15", "13:00-13:30", "2026-11-29T13:30"),
    ],
)
def test_quiet_until(local_now: str, window: str, expected_local_end: str | None) -> None:
    zone = ZoneInfo("America/New_York")
    now = datetime.fromisoformat(f"2026-11-29T{local_now}").replace(tzinfo=zone)
    result = quiet_until(now, zone, QuietHours.parse(window))
    if expected_local_end is None:
        assert result is None
    else:
        assert result == datetime.fromisoformat(expected_local_end).replace(tzinfo=zone).astimezone(UTC)
        assert result.tzinfo is UTC


def test_missed_call_on_behalf_sends_one_sms_per_caller_from_their_number(default_config: NotifyConfig) -> None:
    config = default_config.replace(on_behalf="sms")
    notice = compose(config, [call("a", "+447912000111", 9), call("b", "+447912000111", 4), call("c", None, 2)])
    on_behalf, private = notice.messages
    assert (on_behalf.source, on_behalf.source_is_number) == ("+447912000111", True)
    assert on_behalf.text == "I called you 2x, last at 11:56. Call me back!"
    assert (private.source, private.source_is_number) == ("MissedCall", False)
    assert "Private number at 11:58" in private.text


def test_config_validation_refuses_unknown_placeholders_zones_and_windows(default_config: NotifyConfig) -> None:
    raw = default_config.to_data()
    bad_template = {**raw, "templates": {"en": {**raw["templates"]["en"], "line_single": "{caller.__class__}"}}}
    with pytest.raises(ValueError, match="plain name"):
        NotifyConfig.from_data(bad_template)
    unknown_field = {**raw, "templates": {"en": {**raw["templates"]["en"], "more": "{secret}"}}}
    with pytest.raises(ValueError, match="unknown placeholder"):
        NotifyConfig.from_data(unknown_field)
    with pytest.raises(ValueError, match="unknown time zone"):
        NotifyConfig.from_data({**raw, "default_time_zone": "Mars/Olympus"})
    with pytest.raises(ValueError, match="quiet hours"):
        NotifyConfig.from_data({**raw, "default_quiet_hours": "late"})
    with pytest.raises(ValueError, match="default language"):
        NotifyConfig.from_data({**raw, "default_language": "fr"})
    with pytest.raises(ValueError):
        NotifyConfig.from_data({**raw, "tariff": {**raw["tariff"], "fee_minor_per_notice": 9.5}})


def test_a_notice_that_does_not_hold_the_subscribers_lock_lists_nothing(default_config: NotifyConfig) -> None:
    calls = [call("a", "+447912000111", 5)]
    other = SubscriberProfile(msisdn=SUBSCRIBER, notify_lock="n-other")
    assert compose(default_config, calls, other).action == "nothing"
    ours = SubscriberProfile(msisdn=SUBSCRIBER, notify_lock="n-1")
    assert compose(default_config, calls, ours).action == "send"
    assert compose(default_config, calls, PROFILE).action == "send"  # expired and released: no other notice


class _NoReads:
    """prepare_notice given the profile and the listing must read neither again."""

    def profile(self, msisdn: str) -> SubscriberProfile:
        raise AssertionError("profile read again")

    def pending_calls(self, subscriber: str, mark: object = None) -> list:
        raise AssertionError("calls listed again")

    def notify_me_subscribers(self, msisdns: object) -> set[str]:
        return set()

    def extend_lock(self, subscriber: str, notification_id: str, until: datetime) -> bool:
        return True


def test_prepare_composes_attachs_listing_without_the_calls_its_lock_shows_cleared(
    default_config: NotifyConfig,
) -> None:
    from mcn_core.logic.compose import prepare_notice
    from mcn_core.models.clearing import ClearMark

    # cleared by the notice that held the lock before this one (its mark came back with the lock)
    mark = ClearMark(seq=1, before=NOW - timedelta(minutes=30))
    profile = SubscriberProfile(msisdn=SUBSCRIBER, notify_lock="n-1", clear_mark=mark)
    listed = [call("old", "+447912000111", 60), call("new", "+4915112345678", 5)]
    notice = prepare_notice(
        notification_id="n-1",
        subscriber=SUBSCRIBER,
        store=_NoReads(),
        config=default_config,
        now=NOW,
        profile=profile,
        listed=listed,
    )
    assert notice.action == "send" and notice.call_refs == ["new"]
    assert notice.clearing is not None and notice.clearing.mark == mark
