"""SMS keywords: parsing (case, accents, languages), each keyword's effect and its reply."""

from __future__ import annotations

from datetime import timedelta

import pytest
from receipts_factories import NOW, SHORT_CODE, FakeSender, FakeStore, mo

from mcn_core.logic.keywords import QUIET_OFF, handle_mo, parse_command, parse_quiet
from mcn_core.models.config import KeywordsConfig, NotifyConfig, normalise_keyword
from mcn_core.numbers import smsc_number_to_e164

SUBSCRIBER = "+447911123456"


def run(config: NotifyConfig, store: FakeStore, sender: FakeSender, text: str, **kwargs):
    return handle_mo(mo(text, **kwargs), config=config, store=store, sender=sender, default_region="GB", now=NOW)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def sender() -> FakeSender:
    return FakeSender()


@pytest.mark.parametrize(
    ("text", "keyword", "language"),
    [
        ("STOP", "STOP", "en"),
        ("  stop  ", "STOP", "en"),
        ("Stop!", "STOP", "en"),
        ("İptal", "STOP", "tr"),
        ("iptal", "STOP", "tr"),
        ("IPTAL", "STOP", "tr"),
        ("başla", "START", "tr"),
        ("BASLA", "START", "tr"),
        ("Hilfe", "HELP", "de"),
        ("yardım", "HELP", "tr"),
        ("evet", "YES", "tr"),
        ("ja", "YES", "de"),
        ("lang de", "LANG", "en"),
        ("Sprache tr", "LANG", "de"),
        ("dil en", "LANG", "tr"),
        ("quiet 22:00-07:00", "QUIET", "en"),
        ("Sessiz kapat", "QUIET", "tr"),
        ("notifyme on", "NOTIFYME", "en"),
        ("", "UNKNOWN", None),
        ("hello there", "UNKNOWN", None),
    ],
)
def test_parse_is_case_and_accent_insensitive_in_every_language(text: str, keyword: str, language: str | None) -> None:
    command = parse_command(text, KeywordsConfig(), "en")
    assert (command.keyword, command.language) == (keyword, language)


def test_normalise_keyword() -> None:
    assert normalise_keyword("  Ruhe   AUS ") == "RUHE AUS"
    assert normalise_keyword("Açık ŞÜÖĞ") == "ACIK SUOG"


@pytest.mark.parametrize(
    ("argument", "window"),
    [
        ("22:00-07:00", "22:00-07:00"),
        ("22.00 - 7.30", "22:00-07:30"),
        ("2200-0700", "22:00-07:00"),
        ("22-7", "22:00-07:00"),
        ("22H00-07H00", "22:00-07:00"),
        ("25:00-07:00", None),
        ("22:61-07:00", None),
        ("tonight", None),
        ("", None),
    ],
)
def test_parse_quiet(argument: str, window: str | None) -> None:
    assert parse_quiet(argument) == window


def test_help_and_unknown_text_get_the_help_text(template_config: NotifyConfig, store, sender) -> None:
    for text in ("HELP", "what is this?", ""):
        result = run(template_config, store, sender, text)
        assert result.outcome == "applied" and result.reply == "accepted"
    assert [s.text for s in sender.sent] == [
        template_config.keywords.replies["en"].help.format(short_code=SHORT_CODE)
    ] * 3
    assert sender.sent[0].destination == SUBSCRIBER and sender.sent[0].source == SHORT_CODE
    assert [run(template_config, store, sender, t).keyword for t in ("HELP", "bla")] == ["HELP", "UNKNOWN"]


def test_stop_and_start(template_config: NotifyConfig, store, sender) -> None:
    run(template_config, store, sender, "stop")
    assert store.subscribers[SUBSCRIBER]["opted_out"] is True
    assert sender.sent[-1].text.startswith("You will no longer get missed call alerts.")
    run(template_config, store, sender, "START")
    assert store.subscribers[SUBSCRIBER]["opted_out"] is False
    assert sender.sent[-1].text == "Missed call alerts are on again. Text STOP to 62226 to stop them."


def test_stop_with_confirmation(template_config: NotifyConfig, store, sender) -> None:
    config = template_config.replace(keywords=template_config.keywords.replace(stop_requires_confirmation=True))
    run(config, store, sender, "STOP")
    assert "opted_out" not in store.subscribers[SUBSCRIBER]
    assert store.subscribers[SUBSCRIBER]["pending_action"] == "stop"
    assert sender.sent[-1].text == "Reply YES within 10 min to stop missed call alerts."
    run(config, store, sender, "yes")
    assert store.subscribers[SUBSCRIBER]["opted_out"] is True
    assert "pending_action" not in store.subscribers[SUBSCRIBER]
    assert sender.sent[-1].text.startswith("You will no longer get missed call alerts.")
    # YES with nothing pending
    run(config, store, sender, "YES")
    assert sender.sent[-1].text == "Nothing to confirm. Text HELP to 62226 for the commands."


def test_stop_confirmation_expires(template_config: NotifyConfig, store, sender) -> None:
    config = template_config.replace(keywords=template_config.keywords.replace(stop_requires_confirmation=True))
    run(config, store, sender, "STOP")
    store.subscribers[SUBSCRIBER]["pending_until"] = NOW - timedelta(seconds=1)
    run(config, store, sender, "YES")
    assert not store.subscribers[SUBSCRIBER].get("opted_out")
    assert sender.sent[-1].text.startswith("Nothing to confirm")


def test_lang_sets_a_language_that_has_templates_and_replies_in_it(
    template_config: NotifyConfig, store, sender
) -> None:
    run(template_config, store, sender, "LANG de")
    assert store.subscribers[SUBSCRIBER]["language"] == "de"
    assert sender.sent[-1].text == "Die Anruf-Info kommt jetzt auf Deutsch."
    run(template_config, store, sender, "LANG xx")
    assert store.subscribers[SUBSCRIBER]["language"] == "de"
    # answered in the subscriber's language now
    assert sender.sent[-1].text == "Unbekannte Sprache. Verfügbar: de, en, tr, z.B. SPRACHE de."
    run(template_config, store, sender, "dil tr")
    assert sender.sent[-1].text == "Bildirimler artık Türkçe dilinde."
    assert sender.sent[-1].national_shift == "turkish" and sender.sent[-1].encoding == "gsm7-turkish"


def test_quiet_hours(template_config: NotifyConfig, store, sender) -> None:
    run(template_config, store, sender, "quiet 22:30-6:45")
    assert store.subscribers[SUBSCRIBER]["quiet_hours"] == "22:30-06:45"
    assert sender.sent[-1].text == "No missed call alerts between 22:30-06:45; they will wait until it ends."
    run(template_config, store, sender, "QUIET OFF")
    assert store.subscribers[SUBSCRIBER]["quiet_hours"] == QUIET_OFF
    assert sender.sent[-1].text == "Quiet hours are off: missed call alerts arrive at any time."
    run(template_config, store, sender, "QUIET whenever")
    assert store.subscribers[SUBSCRIBER]["quiet_hours"] == QUIET_OFF
    assert sender.sent[-1].text == "Use QUIET 22:00-07:00, or QUIET OFF."


def test_notify_me(template_config: NotifyConfig, store, sender) -> None:
    run(template_config, store, sender, "NOTIFYME ON")
    assert store.subscribers[SUBSCRIBER]["notify_me"] is True
    assert sender.sent[-1].text == "Callers who asked will be told when you are reachable again."
    run(template_config, store, sender, "notifyme aus")
    assert store.subscribers[SUBSCRIBER]["notify_me"] is False
    assert sender.sent[-1].text == "Callers will no longer be told when you are reachable again."
    run(template_config, store, sender, "notifyme")  # no switch: the help text
    assert sender.sent[-1].text.startswith("Missed call alerts: STOP")


def test_reply_language_of_a_subscriber_without_one_is_the_keywords_language(
    template_config: NotifyConfig, store, sender
) -> None:
    run(template_config, store, sender, "HILFE")
    assert sender.sent[-1].text.startswith("Anruf-Info: STOP zum Abmelden")
    store.subscribers[SUBSCRIBER]["language"] = "tr"
    run(template_config, store, sender, "help")
    assert sender.sent[-1].text.startswith("Cevapsız çağrı bildirimi")


def test_redelivered_mo_is_applied_and_answered_once(template_config: NotifyConfig, store, sender) -> None:
    first = run(template_config, store, sender, "STOP", ref="20261129T120000.000001Z-a")
    again = run(template_config, store, sender, "STOP", ref="20261129T120000.000001Z-a")
    older = run(template_config, store, sender, "START", ref="20261129T115959.000000Z-a")
    assert (first.outcome, again.outcome, older.outcome) == ("applied", "duplicate", "duplicate")
    assert len(sender.sent) == 1
    assert store.subscribers[SUBSCRIBER]["opted_out"] is True


def test_other_destinations_and_disabled_keywords_are_ignored(template_config: NotifyConfig, store, sender) -> None:
    assert run(template_config, store, sender, "STOP", destination="12345").outcome == "ignored"
    disabled = template_config.replace(keywords=template_config.keywords.replace(enabled=False))
    assert run(disabled, store, sender, "STOP").outcome == "ignored"
    assert sender.sent == [] and store.subscribers == {}


def test_invalid_source_is_rejected(template_config: NotifyConfig, store, sender) -> None:
    assert run(template_config, store, sender, "STOP", source="123").outcome == "rejected"


def test_failed_reply_keeps_the_change(template_config: NotifyConfig, store) -> None:
    sender = FakeSender(outcome="permanent")
    result = run(template_config, store, sender, "STOP")
    assert (result.outcome, result.reply) == ("applied", "permanent")
    assert store.subscribers[SUBSCRIBER]["opted_out"] is True

    class Broken:
        def send(self, *args, **kwargs):
            raise ConnectionError("SMSC down")

    result = handle_mo(mo("START"), config=template_config, store=store, sender=Broken(), default_region="GB", now=NOW)
    assert (result.outcome, result.reply) == ("applied", "failed")
    assert store.subscribers[SUBSCRIBER]["opted_out"] is False


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("447911123456", "+447911123456"),
        ("+447911123456", "+447911123456"),
        ("00447911123456", "+447911123456"),
        ("07911123456", "+447911123456"),
    ],
)
def test_subscriber_number(raw: str, e164: str) -> None:
    assert smsc_number_to_e164(raw, "GB") == e164


def test_keyword_config_validation() -> None:
    words = KeywordsConfig().words["en"].to_data()
    with pytest.raises(ValueError, match="means both"):
        KeywordsConfig.from_data({"words": {"en": {**words, "help": ["HELP", "STOP"]}}})
    with pytest.raises(ValueError, match="one word"):
        KeywordsConfig.from_data({"words": {"en": {**words, "help": ["HELP ME"]}}})
    replies = KeywordsConfig().replies["en"].to_data()
    with pytest.raises(ValueError, match="unknown placeholder"):
        KeywordsConfig.from_data({"replies": {"en": {**replies, "stopped": "Bye {name}"}}})


def test_template_default_config_has_keywords(template_config: NotifyConfig) -> None:
    assert template_config.keywords.short_code == SHORT_CODE
    assert template_config.keywords.stop_requires_confirmation is False
    assert set(template_config.keywords.words) == set(template_config.templates)
