"""Tenants: resolution (ranges, override, default), per-tenant settings merged and validated as a whole,
the notice composed with the subscriber's tenant, and the daily cap (local days, DST, quiet hours)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from notify_factories import NOW, SUBSCRIBER, call

from mcn_core.logic.compose import compose_notice, next_local_day
from mcn_core.logic.record import day_count
from mcn_core.logic.tenants import longest_prefix, resolve_tenant
from mcn_core.models.base import ValidationError
from mcn_core.models.config import (
    NotifyConfig,
    configuration_problems,
    deep_merge,
    validate_sender,
    validation_problems,
)
from mcn_core.models.notice import DEFAULT_TENANT, SubscriberProfile

MVNO_NUMBER = "+447700900123"
MVNO = {
    "name": "Brava Mobile",
    "ranges": ["+4477009"],
    "overrides": {
        "default_language": "de",
        "service_sender": "Brava",
        "default_time_zone": "Europe/Berlin",
        "tariff": {"id": "brava-2026", "currency": "EUR", "fee_minor_per_notice": 9},
        "templates": {"de": {"header": "Brava: {total_calls} Anruf(e) verpasst:"}},
        "keywords": {"short_code": "80800"},
        "daily_cap": 2,
    },
}


def document(base: NotifyConfig, **tenants: Any) -> dict[str, Any]:
    return {key: value for key, value in base.to_data().items() if key != "tenants"} | {"tenants": tenants}


@pytest.fixture(scope="module")
def tenant_config(default_config: NotifyConfig) -> NotifyConfig:
    return NotifyConfig.from_data(
        document(default_config, brava=MVNO, corp={"ranges": ["+447700900123", "+44770091"], "overrides": {}})
    )


# ------------------------------------------------------------------ resolution
prefixes = st.text(alphabet="0123456789", min_size=1, max_size=6).map(lambda digits: "+4" + digits)


@given(
    ranges=st.dictionaries(prefixes, st.sampled_from(["a", "b", "c"]), max_size=12),
    number=st.text(alphabet="0123456789", min_size=4, max_size=13).map(lambda digits: "+4" + digits),
)
def test_longest_prefix_is_the_longest_matching_range(ranges: dict[str, str], number: str) -> None:
    matching = [prefix for prefix in ranges if number.startswith(prefix)]
    expected = max(matching, key=len) if matching else None
    assert longest_prefix(number, ranges) == expected


@given(ranges=st.dictionaries(prefixes, st.sampled_from(["a", "b"]), min_size=1, max_size=8), data=st.data())
def test_a_number_inside_a_range_resolves_to_that_range_or_a_longer_one(ranges: dict[str, str], data) -> None:
    prefix = data.draw(st.sampled_from(sorted(ranges)))
    number = prefix + data.draw(st.text(alphabet="0123456789", min_size=0, max_size=6))
    found = longest_prefix(number, ranges)
    assert found is not None and found.startswith(prefix) and number.startswith(found)


def test_override_then_longest_range_then_default(tenant_config: NotifyConfig) -> None:
    assert resolve_tenant(tenant_config, "+447700900999").tenant == "brava"
    # +447700900123 is in brava's +4477009 and corp's longer +447700900123: the longest wins
    exact = resolve_tenant(tenant_config, MVNO_NUMBER)
    assert (exact.tenant, exact.source, exact.prefix) == ("corp", "range", "+447700900123")
    assert resolve_tenant(tenant_config, "+447911123456").tenant == DEFAULT_TENANT
    overridden = resolve_tenant(tenant_config, "+447911123456", "brava")
    assert (overridden.tenant, overridden.source) == ("brava", "override")
    assert resolve_tenant(tenant_config, "+447700900999", "default").tenant == DEFAULT_TENANT
    gone = resolve_tenant(tenant_config, "+447700900999", "removed-brand")
    assert (gone.tenant, gone.source, gone.unknown_override) == ("brava", "range", "removed-brand")
    assert "not a configured tenant" in resolve_tenant(tenant_config, "+33612345678", "x").describe()


# ------------------------------------------------------------------ settings per tenant
def test_a_tenant_is_the_operators_settings_with_its_overrides(tenant_config: NotifyConfig) -> None:
    brava = tenant_config.for_tenant("brava")
    assert (brava.service_sender, brava.default_language, brava.tariff.currency) == ("Brava", "de", "EUR")
    assert brava.templates["de"].header == "Brava: {total_calls} Anruf(e) verpasst:"
    # deep merge: the rest of the German templates and every other language stay the operator's
    assert brava.templates["de"].line_single == tenant_config.templates["de"].line_single
    assert set(brava.templates) == set(tenant_config.templates)
    assert brava.keywords.short_code == "80800" and brava.keywords.words == tenant_config.keywords.words
    assert brava.daily_cap == 2 and tenant_config.daily_cap is None
    assert tenant_config.for_tenant(DEFAULT_TENANT) is tenant_config
    assert tenant_config.for_tenant("corp").tariff == tenant_config.tariff


def test_any_setting_is_overridable_without_code_for_it(default_config: NotifyConfig) -> None:
    config = NotifyConfig.from_data(
        document(default_config, t1={"overrides": {"send_max_attempts": 2, "withheld_callers": "omit"}})
    )
    assert config.for_tenant("t1").send_max_attempts == 2 and config.for_tenant("t1").withheld_callers == "omit"


def test_deep_merge_merges_mappings_and_replaces_the_rest() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": "keep", "c": None}
    assert deep_merge(base, {"a": {"y": [3]}, "c": "set"}) == {"a": {"x": 1, "y": [3]}, "b": "keep", "c": "set"}
    assert base["a"]["y"] == [1, 2]  # unchanged


@pytest.mark.parametrize(
    ("tenants", "expected"),
    [
        (
            {"brava": {"overrides": {"tariff": {"currency": "euro"}}}},
            ("brava", "overrides.tariff.currency"),
        ),
        ({"brava": {"overrides": {"service_sender": "BravaMobileDE"}}}, ("brava", "overrides.service_sender")),
        ({"brava": {"overrides": {"default_language": "fr"}}}, ("brava", "overrides.default_language")),
        ({"brava": {"overrides": {"default_time_zone": "Mars/Olympus"}}}, ("brava", "overrides.default_time_zone")),
        ({"brava": {"overrides": {"colour": "red"}}}, ("brava", "overrides.colour")),
        ({"brava": {"ranges": ["447700"]}}, ("brava", "ranges")),
        ({"brava": {"ranges": ["+4477"]}, "corp": {"ranges": ["+4477"]}}, ("corp", "ranges")),
        ({"default": {"ranges": ["+4477"]}}, ("default", "(name)")),
        ({"brava": {"overrides": {"tenants": {}}}}, ("brava", "overrides")),
    ],
)
def test_problems_name_the_tenant_and_the_field(
    default_config: NotifyConfig, tenants: dict[str, Any], expected: tuple[str, str]
) -> None:
    raw = document(default_config, **tenants)
    problems = configuration_problems(raw)
    assert [(p.tenant, p.field.rstrip(".").removesuffix(".(top level)")) for p in problems][:1] == [expected], problems
    assert str(problems[0]).startswith(f"tenant {expected[0]!r}: ")
    with pytest.raises(ValueError, match="tenant"):
        NotifyConfig.from_data(raw)


def test_operator_problems_are_reported_without_a_tenant(default_config: NotifyConfig) -> None:
    raw = document(default_config, brava=MVNO) | {"max_callers_per_message": 0}
    (problem,) = configuration_problems(raw)
    assert problem.tenant is None and problem.field == "max_callers_per_message"


def test_every_problem_is_listed_per_tenant_and_for_the_operator(default_config: NotifyConfig) -> None:
    """Validation stops at the first problem (msgspec); `mcn config validate` lists them all."""
    brava = {
        "overrides": {"tariff": {"currency": "euro", "fee_minor_per_notice": -1}, "service_sender": "BravaMobileDE"}
    }
    corp = {"ranges": ["447700"], "overrides": {"colour": "red"}}
    problems = configuration_problems(document(default_config, brava=brava, corp=corp))
    assert sorted((p.tenant, p.field) for p in problems) == [
        ("brava", "overrides.service_sender"),
        ("brava", "overrides.tariff.currency"),
        ("brava", "overrides.tariff.fee_minor_per_notice"),
        ("corp", "ranges"),
    ], problems  # corp's overrides are merged once its own shape (its ranges) is valid
    operator = document(default_config) | {"max_callers_per_message": 0, "colour": "red", "default_time_zone": "Mars"}
    del operator["tariff"]
    assert sorted((p.tenant, p.field, p.message) for p in configuration_problems(operator)) == [
        (None, "colour", "unknown setting (misspelt?)"),
        (None, "default_time_zone", "unknown time zone 'Mars'"),
        (None, "max_callers_per_message", "Expected `int` >= 1"),
        (None, "tariff", "Field required"),
    ]


def test_validation_names_the_tenant_and_field_of_its_first_problem(default_config: NotifyConfig) -> None:
    raw = document(default_config, brava={"overrides": {"tariff": {"currency": "euro"}}})
    with pytest.raises(ValidationError) as caught:
        NotifyConfig.from_data(raw)
    (problem,) = validation_problems(caught.value, raw)
    assert problem.field == "tenants.brava.overrides.tariff.currency" and "regex" in problem.message
    raw = document(default_config) | {"templates": {"en": {**raw["templates"]["en"], "header": "{calls}"}}}
    with pytest.raises(ValidationError) as caught:
        NotifyConfig.from_data(raw)
    (problem,) = validation_problems(caught.value, raw)
    assert str(problem).startswith("templates.en.header: template 'header' uses unknown placeholder(s) ['calls']")


def test_no_tenants_is_todays_configuration(default_config: NotifyConfig) -> None:
    assert default_config.tenants == {} and default_config.tenant_ranges == {}
    assert configuration_problems(document(default_config)) == []


@pytest.mark.parametrize("sender", ["MissedCall", "Brava", "O2 UK", "AB-C_D.E&F", "62226", "+447700900123"])
def test_valid_senders(sender: str) -> None:
    assert validate_sender(sender) == sender


@pytest.mark.parametrize("sender", ["TwelveLetter", "Brava€", "Bräva", "Brava{}", "a" * 21, "Brava\n"])
def test_invalid_senders(sender: str) -> None:
    with pytest.raises(ValueError, match="sender"):
        validate_sender(sender)


# ------------------------------------------------------------------ compose with the tenant
def profile(msisdn: str = MVNO_NUMBER.replace("123", "555"), **values: Any) -> SubscriberProfile:
    return SubscriberProfile(msisdn=msisdn, **values)


def compose(config: NotifyConfig, who: SubscriberProfile, now: datetime = NOW, calls: list | None = None):
    calls = calls or [call("a", "+447912000111", 30), call("b", "+447912000222", 20)]
    calls = [c.replace(subscriber=who.msisdn) for c in calls]
    return compose_notice(notification_id="n-1", profile=who, calls=calls, config=config, now=now)


def test_the_notice_uses_the_tenants_texts_sender_tariff_and_currency(tenant_config: NotifyConfig) -> None:
    notice = compose(tenant_config, profile())
    assert (notice.tenant, notice.language, notice.currency, notice.fee_minor) == ("brava", "de", "EUR", 9)
    assert notice.tariff_id == "brava-2026"
    (sms,) = notice.messages
    assert sms.source == "Brava" and sms.text.startswith("Brava: 2 Anruf(e) verpasst:")
    operator = compose(tenant_config, profile(SUBSCRIBER))
    assert (operator.tenant, operator.messages[0].source, operator.currency) == ("default", "MissedCall", "GBP")


def test_the_subscribers_override_beats_the_ranges(tenant_config: NotifyConfig) -> None:
    assert compose(tenant_config, profile(SUBSCRIBER, tenant="brava")).currency == "EUR"
    assert compose(tenant_config, profile(tenant="default")).currency == "GBP"


def test_a_range_changed_while_calls_wait_applies_to_the_notice(tenant_config: NotifyConfig) -> None:
    """Calls stored with one tenant at ingest; the range moved before the attach: compose's resolution wins."""
    calls = [call("a", "+447912000111", 30, tenant="brava")]
    moved = NotifyConfig.from_data(tenant_config.to_data() | {"tenants": {"brava": {**MVNO, "ranges": ["+4479"]}}})
    notice = compose(moved, profile(), calls=calls)
    assert (notice.tenant, notice.currency) == ("default", "GBP")


# ------------------------------------------------------------------ daily cap
LONDON = ZoneInfo("Europe/London")


def capped(config: NotifyConfig, cap: int) -> NotifyConfig:
    return NotifyConfig.from_data(config.to_data() | {"daily_cap": cap})


def test_sent_notices_are_counted_per_local_day(default_config: NotifyConfig) -> None:
    config = capped(default_config, 2)
    first = compose(config, profile(SUBSCRIBER))
    assert (first.action, first.notice_day, first.notices_on_day) == ("send", "2026-11-29", 1)
    second = compose(config, profile(SUBSCRIBER, notices_day="2026-11-29", notices_on_day=1))
    assert (second.action, second.notices_on_day) == ("send", 2)
    # yesterday's count does not count today
    fresh = compose(config, profile(SUBSCRIBER, notices_day="2026-11-28", notices_on_day=9))
    assert (fresh.action, fresh.notices_on_day) == ("send", 1)


def test_capped_calls_wait_for_the_next_local_day(default_config: NotifyConfig) -> None:
    config = capped(default_config, 2)
    tokyo = profile(SUBSCRIBER, time_zone="Asia/Tokyo", notices_day="2026-11-29", notices_on_day=2)
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # 21:00 in Tokyo
    notice = compose(config, tokyo, now)
    assert (notice.action, notice.defer_reason) == ("defer", "daily_cap")
    assert notice.send_at == datetime(2026, 11, 29, 15, 0, tzinfo=UTC)  # midnight in Tokyo
    assert notice.call_refs == [] and notice.fee_minor == 0
    # at the next local day the same calls (and any new ones) go out, merged, in one notice
    later = [call("a", "+447912000111", 30), call("b", "+447912000222", 20), call("c", "+447912000333", -120)]
    resumed = compose(config, tokyo, notice.send_at, calls=later)
    assert (resumed.action, resumed.calls_listed, resumed.notice_day, resumed.notices_on_day) == (
        "send",
        3,
        "2026-11-30",
        1,
    )


def test_no_cap_by_default(default_config: NotifyConfig) -> None:
    many = profile(SUBSCRIBER, notices_day="2026-11-29", notices_on_day=500)
    assert compose(default_config, many).action == "send"


def test_a_capped_notice_waits_out_the_next_days_quiet_hours(default_config: NotifyConfig) -> None:
    config = capped(default_config, 1)
    who = profile(SUBSCRIBER, quiet_hours="22:00-07:00", notices_day="2026-11-29", notices_on_day=1)
    notice = compose(config, who, datetime(2026, 11, 29, 20, 0, tzinfo=UTC))
    assert notice.defer_reason == "daily_cap"
    assert notice.send_at == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # 07:00 London, not midnight


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        # London springs forward at 01:00 UTC on 29 March 2026: midnight before it is still GMT
        ("Europe/London", datetime(2026, 3, 28, 12, 0, tzinfo=UTC), datetime(2026, 3, 29, 0, 0, tzinfo=UTC)),
        # the day after the change starts at 00:00 BST = 23:00 UTC
        ("Europe/London", datetime(2026, 3, 29, 12, 0, tzinfo=UTC), datetime(2026, 3, 29, 23, 0, tzinfo=UTC)),
        # Santiago skips its midnight (00:00 -> 01:00 on 6 September 2026): the day starts at 01:00 -03
        ("America/Santiago", datetime(2026, 9, 5, 20, 0, tzinfo=UTC), datetime(2026, 9, 6, 4, 0, tzinfo=UTC)),
        # Kolkata: a half-hour offset
        ("Asia/Kolkata", datetime(2026, 11, 29, 12, 0, tzinfo=UTC), datetime(2026, 11, 29, 18, 30, tzinfo=UTC)),
    ],
)
def test_next_local_day_across_dst_and_odd_offsets(zone: str, now: datetime, expected: datetime) -> None:
    start = next_local_day(now, ZoneInfo(zone))
    assert start == expected
    assert start.astimezone(ZoneInfo(zone)).date() == now.astimezone(ZoneInfo(zone)).date() + timedelta(days=1)
    assert (start - timedelta(seconds=1)).astimezone(ZoneInfo(zone)).date() == now.astimezone(ZoneInfo(zone)).date()


def test_the_tenant_cap_applies_to_its_subscribers_only(tenant_config: NotifyConfig) -> None:
    two_today = {"notices_day": "2026-11-29", "notices_on_day": 2}
    assert compose(tenant_config, profile(**two_today)).defer_reason == "daily_cap"  # brava: cap 2
    assert compose(tenant_config, profile(SUBSCRIBER, **two_today)).action == "send"  # operator: no cap


def test_only_a_notice_that_reached_the_subscriber_counts(default_config: NotifyConfig) -> None:
    notice = compose(default_config, profile(SUBSCRIBER))
    assert day_count(notice, "submitted") == ("2026-11-29", 1)
    assert day_count(notice, "failed") is None


def test_notify_me_tells_callers_in_the_subscribers_brand(tenant_config: NotifyConfig) -> None:
    from mcn_core.logic.notify_me import notify_callers
    from mcn_core.logic.send import MessageOutcome, PartOutcome

    class Store:
        def notify_me_subscribers(self, msisdns):
            return set(msisdns)

        def mark_notified_once(self, notification_id, caller):
            return True

    class Sender:
        def __init__(self) -> None:
            self.sent: list = []

        def send(self, sms, *, reference, part_numbers):
            self.sent.append(sms)
            return MessageOutcome(reference=None, parts=(PartOutcome(1, 1, "accepted", "m1", 0, ""),))

    notice = compose(tenant_config, profile()).replace(notify_me_candidates=["+447912000111"])
    sender = Sender()
    notify_callers(notice, config=tenant_config, store=Store(), sender=sender)
    (sms,) = sender.sent
    assert (sms.source, sms.destination) == ("Brava", "+447912000111")
    assert sms.text == tenant_config.for_tenant("brava").templates["de"].notify_me.format(subscriber=notice.subscriber)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
tenant_documents = st.dictionaries(
    st.sampled_from(["brava", "default", "Bad Name", "x", "off"]),
    st.fixed_dictionaries(
        {},
        optional={
            "ranges": st.lists(st.sampled_from(["+4474001", "+44", "4474", "+4474001", "+"]), max_size=3),
            "overrides": st.dictionaries(
                st.sampled_from(["service_sender", "tariff", "daily_cap", "templates", "colour", "tenants"]),
                json_values,
                max_size=3,
            ),
            "name": json_values,
        },
    )
    | json_values,
    max_size=3,
)


@given(tenants=tenant_documents)
def test_any_tenants_document_is_either_valid_or_its_problems_are_listed(
    default_config: NotifyConfig, tenants: Any
) -> None:
    raw = document(default_config) | {"tenants": tenants}
    problems = configuration_problems(raw)
    if problems:
        assert all(p.tenant is None or isinstance(p.tenant, str) for p in problems)
        with pytest.raises(ValueError):
            NotifyConfig.from_data(raw)
    else:
        NotifyConfig.from_data(raw)


def test_a_tenant_written_with_the_former_sender_mode_overrides_the_operators_on_behalf(
    default_config: NotifyConfig,
) -> None:
    """Found merging tenants with on_behalf: the operator's on_behalf (from the merge base) contradicted
    a tenant's `sender_mode`, so a valid tenant was refused."""
    brand = {"ranges": ["+4474001"], "overrides": {"sender_mode": "caller"}}
    config = NotifyConfig.from_data(document(default_config, brava=brand) | {"on_behalf": "call"})
    assert config.on_behalf == "call"
    assert config.for_tenant("brava").on_behalf == "sms"
