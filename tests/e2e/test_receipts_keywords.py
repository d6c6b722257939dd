"""Calls -> attach -> SMS -> the SMSC's receipt -> mcn-receiver (a real process) -> fee status; and keywords."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from notify_stack import SMSC_PASSWORD, NotifyStack, eventually
from receipts_receiver import ReceiverProcess

from mcn_devkit.smsc import LocalSmsc

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NotifyStack, ReceiverProcess]]:
    with LocalSmsc(system_id="mcn", password=SMSC_PASSWORD) as smsc:
        stack, flow = NotifyStack.start(smsc)
        receiver = ReceiverProcess(flow, tmp_path_factory.mktemp("receiver"))
        try:
            receiver.start()
            yield flow, receiver
        finally:
            receiver.stop()
            stack.stop()


def fee_status(flow: NotifyStack, subscriber: str) -> str:
    (fee,) = flow.fees(subscriber)
    return fee["status"]["S"]


def notify(flow: NotifyStack, subscriber: str, callers: list[str | None]) -> list:
    flow.missed_calls(subscriber, callers)
    started = flow.attach(subscriber)
    assert started["outcome"] == "started", started
    (run,) = flow.wait_finished(started["notification_id"])
    assert run["status"] == "SUCCEEDED", run
    return flow.sms_to(subscriber)


def test_delivery_receipt_reaches_the_fee_record_through_the_receiver(
    world: tuple[NotifyStack, ReceiverProcess],
) -> None:
    flow, receiver = world
    subscriber = "+447911200101"
    (sms,) = notify(flow, subscriber, ["+447912000111", None])
    assert fee_status(flow, subscriber) == "submitted"
    receiver.receipt(sms.message_id, "DELIVRD")
    eventually(lambda: fee_status(flow, subscriber) == "delivered", timeout=30)
    # the SMSC redelivers the same receipt: nothing changes
    receiver.receipt(sms.message_id, "UNDELIV")
    eventually(lambda: len([r for r in flow.smsc.deliver_sm_responses() if r["session"] == receiver.session]) >= 2)
    assert fee_status(flow, subscriber) == "delivered"
    (fee,) = flow.fees(subscriber)
    assert fee["delivered_parts"]["SS"] == [sms.message_id]
    assert "receipt" in receiver.logs() and subscriber[1:] not in receiver.logs()
    # /metrics of the real process: its own names, the receipts it spooled and forwarded
    status, metrics = receiver.http("/metrics")
    assert status == 200 and 'mcn_receiver_events_total{kind="receipt"}' in metrics
    assert "mcn_receiver_forward_latency_seconds_count{target=" in metrics and receiver.health()["binds"] >= 1


def test_multi_part_notice_is_delivered_when_every_part_is(world: tuple[NotifyStack, ReceiverProcess]) -> None:
    flow, receiver = world
    subscriber = "+447911200102"
    callers = [f"+4915112345{n:03d}" for n in range(5) for _ in range(2)]  # "... 2x, last hh:mm" lines
    parts = notify(flow, subscriber, callers)
    assert len(parts) == 2, [p.text for p in parts]  # one concatenated SMS: two parts, two message ids
    (fee,) = flow.fees(subscriber)
    assert sorted(m["S"] for m in fee["smsc_message_ids"]["L"]) == sorted(p.message_id for p in parts)
    receiver.receipt(parts[1].message_id)
    eventually(lambda: "delivered_parts" in flow.fees(subscriber)[0], timeout=30)
    assert fee_status(flow, subscriber) == "submitted"
    receiver.receipt(parts[0].message_id)
    eventually(lambda: fee_status(flow, subscriber) == "delivered", timeout=30)


def test_failed_part_fails_the_notice(world: tuple[NotifyStack, ReceiverProcess]) -> None:
    flow, receiver = world
    subscriber = "+447911200103"
    (sms,) = notify(flow, subscriber, ["+447912000111"])
    receiver.receipt(sms.message_id, "EXPIRED")
    eventually(lambda: fee_status(flow, subscriber) == "expired", timeout=30)


def test_unknown_receipt_is_acknowledged_and_counted(world: tuple[NotifyStack, ReceiverProcess]) -> None:
    flow, receiver = world
    before = len(flow.smsc.deliver_sm_responses())
    sent = flow.smsc.send_receipt("never-submitted-1", session=receiver.session)
    response = eventually(
        lambda: [r for r in flow.smsc.deliver_sm_responses()[before:] if r["sequence"] == sent["sequence"]]
    )
    assert response[0]["status"] == 0  # spooled, so acknowledged; the function counts it (after its grace)
    # it is retried for a while (it may have overtaken its fee record) without holding up other receipts
    subscriber = "+447911200105"
    (sms,) = notify(flow, subscriber, ["+447912000111"])
    receiver.receipt(sms.message_id)
    eventually(lambda: fee_status(flow, subscriber) == "delivered", timeout=10)


def test_keywords_change_preferences_and_are_answered(world: tuple[NotifyStack, ReceiverProcess]) -> None:
    flow, receiver = world
    subscriber = "+447911200104"

    def replies() -> list[str]:
        return [s.text for s in flow.sms_to(subscriber) if s.source_addr == "62226"]

    receiver.mo(subscriber, "stop")
    eventually(lambda: len(replies()) == 1, timeout=30)
    assert replies()[-1] == "You will no longer get missed call alerts. Text START to 62226 to get them again."
    item = flow.dynamodb.get_item(
        TableName=flow.stack.resource_name("SubscribersTable"), Key={"msisdn": {"S": subscriber}}
    )["Item"]
    assert item["opted_out"]["BOOL"] is True

    receiver.mo(subscriber, "START")
    receiver.mo(subscriber, "Sprache DE")
    receiver.mo(subscriber, "was ist das?")
    eventually(lambda: len(replies()) == 4, timeout=30)
    assert replies()[1:] == [
        "Missed call alerts are on again. Text STOP to 62226 to stop them.",
        "Die Anruf-Info kommt jetzt auf Deutsch.",
        "Anruf-Info: STOP zum Abmelden, START zum Anmelden, SPRACHE xx für die Sprache, "
        "RUHE 22:00-07:00 oder RUHE AUS, NOTIFYME EIN/AUS. SMS an 62226 sind kostenlos.",
    ]
    # the next notice is in the language the subscriber chose by SMS
    (notice,) = [s for s in notify(flow, subscriber, ["+447912000111"]) if s.source_addr != "62226"]
    assert notice.text.startswith("Sie hatten 1 Anruf(e) in Abwesenheit:")


def test_turkish_keyword_with_accents(world: tuple[NotifyStack, ReceiverProcess]) -> None:
    flow, receiver = world
    subscriber = "+905321234567"
    receiver.mo(subscriber, "İPTAL")
    reply = eventually(lambda: [s for s in flow.sms_to(subscriber) if s.source_addr == "62226"], timeout=30)
    assert reply[0].text == ("Artık cevapsız çağrı bildirimi almayacaksınız. Tekrar için 62226 numarasına BAŞLA yazın.")
