"""Keywords per tenant: an MO to a brand's short code is read with that brand's words and answered with its
replies, from its short code; a short code brands share answers in the sender's own brand."""

from __future__ import annotations

import pytest
from receipts_factories import NOW, SHORT_CODE, FakeSender, FakeStore, mo

from mcn_core.logic.keywords import handle_mo, short_code_tenants
from mcn_core.models.config import NotifyConfig

OPERATOR_SUBSCRIBER = "447911123456"
BRAVA_SUBSCRIBER = "447400123555"


@pytest.fixture(scope="module")
def config(template_config: NotifyConfig) -> NotifyConfig:
    raw = template_config.to_data()
    raw["tenants"] = {
        "brava": {
            "ranges": ["+4474001"],
            "overrides": {
                "keywords": {
                    "short_code": "80800",
                    "words": {"en": {"stop": ["HALT", "STOP"]}},
                    "replies": {"en": {"stopped": "Brava: alerts off. START to {short_code} to resume."}},
                }
            },
        },
        # shares the operator's short code, with its own replies
        "corp": {
            "ranges": ["+4474002"],
            "overrides": {"keywords": {"replies": {"en": {"stopped": "Corp alerts off."}}}},
        },
    }
    return NotifyConfig.from_data(raw)


def run(config: NotifyConfig, text: str, source: str, destination: str, store: FakeStore, sender: FakeSender):
    event = mo(text, source=source, destination=destination)
    return handle_mo(event, config=config, store=store, sender=sender, default_region="GB", now=NOW)


def test_a_brands_short_code_uses_its_words_and_replies_from_its_short_code(config: NotifyConfig) -> None:
    store, sender = FakeStore(), FakeSender()
    result = run(config, "halt", BRAVA_SUBSCRIBER, "80800", store, sender)
    assert (result.outcome, result.keyword, result.tenant) == ("applied", "STOP", "brava")
    assert store.subscribers["+" + BRAVA_SUBSCRIBER]["opted_out"] is True
    (reply,) = sender.sent
    assert (reply.source, reply.text) == ("80800", "Brava: alerts off. START to 80800 to resume.")


def test_the_brands_word_means_nothing_at_the_operators_short_code(config: NotifyConfig) -> None:
    store, sender = FakeStore(), FakeSender()
    result = run(config, "halt", OPERATOR_SUBSCRIBER, SHORT_CODE, store, sender)
    assert (result.keyword, result.tenant) == ("UNKNOWN", "default")
    assert sender.sent[0].source == SHORT_CODE and "opted_out" not in store.subscribers["+" + OPERATOR_SUBSCRIBER]


def test_a_shared_short_code_answers_in_the_senders_own_brand(config: NotifyConfig) -> None:
    assert short_code_tenants(config, SHORT_CODE) == ["default", "corp"]
    store, sender = FakeStore(), FakeSender()
    corp = run(config, "STOP", "447400211111", SHORT_CODE, store, sender)
    operator = run(config, "STOP", OPERATOR_SUBSCRIBER, SHORT_CODE, store, sender)
    assert (corp.tenant, operator.tenant) == ("corp", "default")
    assert [s.text for s in sender.sent] == [
        "Corp alerts off.",
        config.keywords.replies["en"].stopped.format(short_code=SHORT_CODE),
    ]


def test_a_brand_subscriber_texting_the_operators_short_code_is_answered_by_the_operator(
    config: NotifyConfig,
) -> None:
    store, sender = FakeStore(), FakeSender()
    result = run(config, "STOP", BRAVA_SUBSCRIBER, SHORT_CODE, store, sender)
    assert result.tenant == "default" and sender.sent[0].source == SHORT_CODE


def test_an_override_moves_the_subscriber_to_another_brands_replies(config: NotifyConfig) -> None:
    store, sender = FakeStore(), FakeSender()
    store.subscribers["+" + OPERATOR_SUBSCRIBER] = {"tenant": "corp"}
    assert run(config, "STOP", OPERATOR_SUBSCRIBER, SHORT_CODE, store, sender).tenant == "corp"


def test_an_unknown_short_code_is_ignored(config: NotifyConfig) -> None:
    store, sender = FakeStore(), FakeSender()
    result = run(config, "STOP", BRAVA_SUBSCRIBER, "99999", store, sender)
    assert (result.outcome, result.reason) == ("ignored", "not sent to the service short code")
    assert sender.sent == [] and store.subscribers == {}
