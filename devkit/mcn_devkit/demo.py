"""`mcn demo` (what `make demo` runs): the whole story on one machine, on the embedded defaults.

Everything is real and local: moto's server with template.yaml deployed (the embedded AWS), an
SMPP 3.4 SMSC on loopback (node-smpp), the SIGTRAN gateway on loopback fed with real M3UA/ISUP/
TCAP/MAP bytes, and the notify state machine run by moto's Step Functions engine from the ASL
that deploys. The functions' JSON logs and EMF metrics go to a file, so the story stays readable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcn_core.numbers import mask
from mcn_devkit.template import PROJECT_ROOT

LOG_DIR = PROJECT_ROOT / ".local" / "demo"
# The flash-call trunk between the platform and the MSC, and how long the handset rings.
TRUNK_CICS = (101, 102)
RING_TIME_S = 1.0
SMSC_PASSWORD = "demo123"
# A hosted brand (MVNO) on the same deployment: its own number range, sender, language and currency.
BRAND_SUBSCRIBER = "+447400100001"
BRAND_TENANT = {
    "name": "Brava Mobile",
    "ranges": ["+4474001"],
    "overrides": {
        "service_sender": "Brava",
        "on_behalf": "off",  # the operator places calls on behalf (step 10); this brand sends the SMS only
        "default_language": "de",
        "default_time_zone": "Europe/Berlin",
        "tariff": {"id": "brava-2026", "currency": "EUR", "fee_minor_per_notice": 9},
        "templates": {"de": {"header": "Brava: Sie hatten {total_calls} Anruf(e) in Abwesenheit:"}},
    },
}


def _say(text: str = "") -> None:
    print(text, flush=True)


def _step(number: int, title: str) -> None:
    _say(f"\n{number}. {title}")


def _stored_calls(stack: Any, subscriber: str) -> list[dict[str, Any]]:
    items = stack.client("dynamodb").query(
        TableName=stack.resource_name("MissedCallsTable"),
        KeyConditionExpression="subscriber = :s",
        ExpressionAttributeValues={":s": {"S": subscriber}},
    )["Items"]
    return sorted(items, key=lambda item: item["call_time"]["S"])


def _pending_calls(stack: Any, subscriber: str) -> list[Any]:
    """The stored calls no notice cleared (the subscriber's clearing mark), as Compose sees them."""
    from mcn_core.dal.notify import NotifyStore

    tables = ("MissedCallsTable", "SubscribersTable", "FeesTable")
    return NotifyStore(*(stack.resource_name(t) for t in tables)).pending_calls(subscriber)


def _fees(stack: Any) -> list[dict[str, Any]]:
    items = stack.client("dynamodb").scan(TableName=stack.resource_name("FeesTable"))["Items"]
    return [item for item in items if "status" in item]  # fee records, not the period's tenant list


@contextlib.contextmanager
def _library_logs(path: Path) -> Iterator[None]:
    """Libraries' own warnings (smpplib skipping a vendor TLV, the pool noting a bind closed by the SMSC)
    go to a file: with no handler, Python prints them on stderr in the middle of the story."""
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def run_demo(args: argparse.Namespace) -> int:
    from mcn_devkit.embedded import EmbeddedStack, apply_env
    from mcn_devkit.sigtran import isup_pycrate, loopback_config
    from mcn_devkit.sigtran.builders import MSC_PC, SUBSCRIBER, m3ua_data, scenario_messages
    from mcn_devkit.sigtran.local import wait_for
    from mcn_devkit.sigtran.peer import ScriptedPeer
    from mcn_devkit.smsc import LocalSmsc
    from mcn_gateway.app import GatewayThread
    from mcn_gateway.protocol import m3ua
    from mcn_receiver.config import ReceiverConfig
    from mcn_receiver.service import Receiver
    from mcn_smpp import SmppConfig

    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / "functions.log"
    subscriber = "+" + SUBSCRIBER
    _say("Missed Call Notice: the whole story on this machine (no Docker, no AWS account)")
    with (
        _library_logs(LOG_DIR / "libraries.log"),  # outermost: it also takes what is logged while stopping
        LocalSmsc(system_id="mcn", password=SMSC_PASSWORD) as smsc,
        # Functions read the operator configuration afresh (the demo changes it at run time, step 10).
        EmbeddedStack(
            parameters={"SmscHost": "127.0.0.1", "SmscPort": str(smsc.port), "ConfigCacheSeconds": "0"}
        ) as stack,
        log_path.open("w") as function_logs,
        tempfile.TemporaryDirectory(prefix="mcn-demo-") as workdir,
    ):
        assert stack.runtime is not None
        stack.runtime.log_sink = function_logs
        stack.client("secretsmanager").put_secret_value(
            SecretId=stack.resource_name("SmscCredentials"),
            SecretString=json.dumps({"username": "mcn", "password": SMSC_PASSWORD}),
        )
        apply_env(stack.env)  # the gateway's Lambda client talks to the embedded AWS
        _add_brand(stack)
        config = loopback_config(
            Path(workdir),
            ingest_target=f"lambda:{stack.function_name('IngestFunction')}",
            attach_target=f"lambda:{stack.function_name('AttachFunction')}",
            endpoint_url=stack.lambda_endpoint,
            # Flash calls: the gateway takes requests from the template's SQS queue and places them on a
            # trunk toward the MSC (CICs 101-102 on the MSC's association); outcomes go to their function.
            outcome_target=f"lambda:{stack.function_name('FlashCallOutcomesFunction')}",
            origination={
                "queue_url": stack.resource_name("OriginationQueue"),
                "endpoint_url": stack.aws_endpoint,
                "region": stack.region,
                "associations": ["msc"],
                "dpc": MSC_PC,
                "cic_first": TRUNK_CICS[0],
                "cic_last": TRUNK_CICS[1],
                "ring_time_s": RING_TIME_S,
                "t7_s": 20,
                "wait_time_s": 1,
            },
        )
        smpp = SmppConfig.build(host="127.0.0.1", port=smsc.port, system_id="mcn", password=SMSC_PASSWORD)
        receiver_config = ReceiverConfig(
            target=f"lambda:{stack.function_name('ReceiptsFunction')}",
            endpoint_url=stack.lambda_endpoint,
            region=stack.region,
            spool_path=str(Path(workdir) / "receiver-spool.sqlite3"),
            batch_max_wait_s=0.05,
        )
        with (
            GatewayThread(config) as gateway,
            Receiver(receiver_config, smpp) as receiver,
            contextlib.ExitStack() as exits,
        ):
            if not receiver.wait_bound(timeout=30):
                raise RuntimeError("demo: mcn-receiver could not bind to the SMSC")
            port = gateway.association_port("msc")
            _step(1, "Started")
            _say(f"   embedded AWS (moto server)  {stack.aws_endpoint}  stack {stack.stack_name}")
            _say(f"   SMSC (SMPP 3.4, node-smpp)   127.0.0.1:{smsc.port}")
            _say(
                f"   SIGTRAN gateway (M3UA/TCP)   127.0.0.1:{port}   metrics http://127.0.0.1:{gateway.http_port}/metrics"
            )
            _say("   mcn-receiver (receipts, SMS keywords) bound to the SMSC")
            _say(f"   function logs                {log_path.relative_to(PROJECT_ROOT)} (libraries: libraries.log)")

            iams, alerts = scenario_messages()
            # The MSC stays connected to the end: it also answers the flash calls (step 10).
            msc = exits.enter_context(ScriptedPeer.connect("127.0.0.1", port))
            msc.bring_up()
            # The gateway resets its flash-call trunk (GRS) as soon as the MSC is up; the MSC acknowledges.
            grs = _isup_from_gateway(msc, isup_pycrate.GRS)
            msc.send(m3ua_data(5, isup_pycrate.gra(grs, TRUNK_CICS[1] - TRUNK_CICS[0] + 1), opc=MSC_PC))
            _step(2, f"The MSC forwards {len(iams)} calls to {mask(subscriber)} (switched off: CFNRc) as ISUP IAM")
            msc.send(b"".join(iams))
            answers = [msc.expect(m3ua.TRANSFER_DATA) for _ in iams]
            releases = sum(1 for a in answers if a.protocol_data and a.protocol_data.si == m3ua.SI_ISUP)
            _say(f"   the gateway released every call: {releases} x ISUP REL (cause 20, subscriber absent)")
            stored = wait_for(
                lambda: len(_stored_calls(stack, subscriber)) >= len(iams) and _stored_calls(stack, subscriber),
                "the calls to be stored",
            )
            _step(3, f"Forwarded to ingest and stored in DynamoDB ({len(stored)} items, one per attempt; TTL)")
            for item in stored:
                caller = mask(item["caller"]["S"]) if "S" in item.get("caller", {}) else "withheld (CLIR)"
                _say(
                    f"   {item['call_time']['S'][:19]}Z  caller {caller:<18} {item['reason']['S']:<14} "
                    f"expires_at {item['expires_at']['N']}"
                )

            _step(4, "The subscriber attaches: the HLR sends MAP alertServiceCentre")
            msc.send(b"".join(alerts))
            msc.expect(m3ua.TRANSFER_DATA)
            _say("   the gateway answered the TCAP dialogue (End + returnResultLast) and emitted an attach event")

            sfn = stack.client("stepfunctions")
            machine = stack.resource_name("NotifyStateMachine")
            execution = wait_for(
                lambda: sfn.list_executions(stateMachineArn=machine)["executions"], "the notice to start"
            )[0]
            described = wait_for(
                lambda: (
                    (d := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] != "RUNNING" and d
                ),
                "the notice to finish",
            )
            output = json.loads(described.get("output") or "{}")
            _step(
                5,
                f"Notify execution {execution['name']} ({described['status']}, Express, statemachine/notify.asl.json)",
            )
            _say(
                f"   compose: {output.get('calls_listed')} calls from {output.get('callers_listed')} callers -> "
                f"{len(output.get('messages', []))} SMS; send: attempt {output.get('send', {}).get('attempt')}; "
                f"record: {output.get('record', {}).get('status')}"
            )

            _step(6, "The SMS exactly as the SMSC received it (submit_sm over SMPP)")
            for part in smsc.submits:
                _say(
                    f"   from {part.source_addr} (TON {part.source_addr_ton}) to {mask('+' + part.destination_addr)}  "
                    f"data_coding {part.data_coding}  esm_class 0x{part.esm_class:02x}  message_id {part.message_id}"
                )
                for line in part.text.split("\n"):
                    _say(f"   | {line}")

            sms_parts = list(smsc.submits)
            _step(7, "The handset gets it: the SMSC sends a delivery receipt (deliver_sm) to mcn-receiver")
            for part in sms_parts:
                smsc.send_receipt(part.message_id, stat="DELIVRD")
            wait_for(lambda: all(f["status"]["S"] == "delivered" for f in _fees(stack)), "the receipt to be applied")
            _say(f"   receipt for {[p.message_id for p in sms_parts]}: DELIVRD -> spooled -> ReceiptsFunction")

            fees = _fees(stack)
            _step(8, f"Fee records ({len(fees)}; one per notice)")
            for fee in fees:
                _say(
                    f"   {fee['notification_id']['S']}  {mask(fee['subscriber']['S'])}  status {fee['status']['S']}  "
                    f"fee {fee['fee_minor']['N']} {fee['currency']['S']} (tariff {fee['tariff_id']['S']}, "
                    f"charged on {fee['charge_on']['S']})  segments {fee['segments']['N']}  "
                    f"calls {fee['calls_listed']['N']}  "
                    f"SMSC ids {[m['S'] for m in fee['smsc_message_ids']['L']]}"
                )
            left = _pending_calls(stack, subscriber)
            notified = len(_stored_calls(stack, subscriber)) - len(left)
            _say(
                f"   missed calls left pending for {mask(subscriber)}: {len(left)} "
                f"({notified} notified, kept until TTL deletes them)"
            )

            _step(9, "The subscriber texts 'lang de' to the service short code")
            short_code = "62226"
            seen = len(smsc.submits)
            smsc.send_mo(subscriber.lstrip("+"), short_code, b"lang de")
            reply = wait_for(lambda: smsc.submits[seen:], "the keyword's reply")[0]
            _say(f"   reply from {reply.source_addr}: {reply.text!r}")

            _flash_calls(stack, msc, subscriber)

            _step(12, f"Fee report for {datetime.now(UTC):%Y-%m} (mcn fees report --by day)")
            _fee_report(stack, Path(workdir))
            events = {
                kind: gateway.metrics.value("mcn_gateway_events_total", {"kind": kind})
                for kind in ("missed_call", "attach")
            }
            _say(f"\nGateway counters: missed calls {events['missed_call']:.0f}, attach {events['attach']:.0f}")
            _brand_notice(stack, smsc)
    _say(
        "\nDone: calls captured from SS7, one SMS listing them, delivered, one fee record; then missed calls placed"
        " on behalf, in the handset's call log. Every process stopped."
    )
    return 0


def _add_brand(stack: Any) -> None:
    """The tenant goes into the notify configuration (what `mcn config set` writes) before any call."""
    ssm, name = stack.client("ssm"), stack.resource_name("NotifyConfigParameter")
    config = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    config["tenants"] = {"brava": BRAND_TENANT}
    ssm.put_parameter(Name=name, Value=json.dumps(config), Type="String", Overwrite=True)


def _brand_notice(stack: Any, smsc: Any) -> None:
    from mcn_devkit.sigtran.local import wait_for

    _step(13, f"A hosted brand on the same deployment: {BRAND_TENANT['name']} (tenant brava, range +4474001)")
    now = datetime.now(UTC)
    call = {
        "call_ref": f"demo-brava-{now:%H%M%S%f}",
        "subscriber": BRAND_SUBSCRIBER,
        "caller": "+447912000111",
        "call_time": now.isoformat(),
        "msc": "447953000001",
    }
    stack.invoke("IngestFunction", {"events": [call]})
    seen = len(smsc.submits)
    attach = {"subscriber": BRAND_SUBSCRIBER, "attach_time": now.isoformat(), "hlr": "447953000100"}
    stack.invoke("AttachFunction", {"events": [attach]})
    _say(f"   a missed call for {mask(BRAND_SUBSCRIBER)}, then its attach (sent to the functions as the gateway does)")
    for part in wait_for(lambda: smsc.submits[seen:], "the brand's notice"):
        _say(f"   from {part.source_addr} (TON {part.source_addr_ton}) to {mask('+' + part.destination_addr)}")
        for line in part.text.split("\n"):
            _say(f"   | {line}")
    fee = wait_for(
        lambda: next((f for f in _fees(stack) if f["subscriber"]["S"] == BRAND_SUBSCRIBER), None), "the brand's fee"
    )
    _say(f"   fee record: {fee['fee_minor']['N']} {fee['currency']['S']} (tariff {fee['tariff_id']['S']})")


def _isup_from_gateway(msc: Any, kind: int, timeout_s: float = 30.0) -> int:
    """The CIC of the next ISUP message of type `kind` the gateway sent the MSC (read by pycrate)."""
    from mcn_devkit.sigtran import isup_pycrate
    from mcn_gateway.protocol import m3ua

    while True:
        data = msc.expect(m3ua.TRANSFER_DATA, timeout=timeout_s).protocol_data
        if data is None or data.si != m3ua.SI_ISUP:
            continue
        message = isup_pycrate.parse(data.data)
        if message["Type"].get_val() == kind:
            return int(message["CIC"].get_val())


def _flash_calls(stack: Any, msc: Any, subscriber: str) -> None:
    """Missed calls placed on behalf: two more calls while switched off, then the handset's call log."""
    from mcn_devkit.sigtran.builders import (
        HLR_PC,
        MSC_PC,
        SUBSCRIBER,
        build_alert_service_centre,
        build_iam,
        m3ua_data,
    )
    from mcn_devkit.sigtran.local import wait_for
    from mcn_devkit.sigtran.msc import ScriptedMsc

    _step(10, "The operator turns on missed calls placed on behalf (on_behalf: call; 2 pence per call that rings)")
    ssm, name = stack.client("ssm"), stack.resource_name("NotifyConfigParameter")
    config = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    config.update(on_behalf="call", tariff={**config["tariff"], "fee_minor_per_call": 2})
    ssm.put_parameter(Name=name, Value=json.dumps(config), Type="String", Overwrite=True)
    callers = ("447400123457", "447400123459")
    _say(f"   switched off again, {mask(subscriber)} misses calls from {', '.join(mask('+' + c) for c in callers)}")
    # From here the MSC is scripted (mcn_devkit.sigtran.msc): its phones ring (ACM) and it answers every REL.
    with ScriptedMsc(msc, point_code=MSC_PC) as scripted:
        for cic, caller in enumerate(callers, start=11):
            msc.send(m3ua_data(5, build_iam(cic, subscriber=SUBSCRIBER, caller=caller), opc=MSC_PC, sls=cic & 0x0F))
        wait_for(lambda: len(_pending_calls(stack, subscriber)) == len(callers), "the calls to be stored")
        msc.send(m3ua_data(3, build_alert_service_centre(subscriber=SUBSCRIBER, otid=0x1002), opc=HLR_PC))
        _say("   the HLR alerts again; the notice needs no SMS: the gateway takes the calls from the SQS queue")

        def placed() -> list[Any]:
            calls = [c for c in scripted.released() if TRUNK_CICS[0] <= c.cic <= TRUNK_CICS[1]]
            return calls if len(calls) == len(callers) else []

        calls = wait_for(placed, "the flash calls", timeout_s=90)
        if scripted.errors:
            raise RuntimeError(f"demo: the MSC could not read the gateway's ISUP: {scripted.errors}")
    _step(11, "The flash calls on the trunk, as the MSC saw them (ISUP, decoded by pycrate)")
    for call in sorted(calls, key=lambda c: c.received_at):
        presentation = {0: "allowed", 1: "restricted"}.get(call.presentation, str(call.presentation))
        screening = {3: "network provided"}.get(call.screening, str(call.screening))
        _say(
            f"   IAM  CIC {call.cic}: calling {mask('+' + call.calling)} (presentation {presentation}, screening "
            f"{screening}) -> called {mask('+' + call.called)}"
        )
        rang = (call.released_at or call.received_at) - call.received_at
        reason = "normal clearing" if call.release_cause == 16 else "see Q.850"
        _say(
            f"   ACM  CIC {call.cic}: the phone rings -> REL by the {call.released_by} cause {call.release_cause}"
            f" ({reason}) {rang:.1f} s after the IAM, before anyone answers -> RLC"
        )
        _say(f"   the handset's call log now shows a missed call from {mask('+' + call.calling)}")

    def settled() -> dict[str, Any] | None:
        return next((f for f in _fees(stack) if f.get("calls_alerted", {}).get("N") == str(len(callers))), None)

    fee = wait_for(settled, "the outcomes on the fee record")
    _say(
        f"   outcomes on the fee record {fee['notification_id']['S']}: calls requested {fee['calls_requested']['N']},"
        f" placed {fee['calls_placed']['N']}, rang {fee['calls_alerted']['N']}; status {fee['status']['S']};"
        f" fee {fee['fee_minor']['N']} + calls {fee['call_fee_minor']['N']} {fee['currency']['S']}"
    )


def _fee_report(stack: Any, workdir: Path) -> None:
    from mcn_cli.main import build_parser
    from mcn_cli.target import write_state
    from mcn_devkit.local_cmd import state_document

    state = workdir / "stack.json"
    write_state(state, state_document(stack))
    args = build_parser().parse_args(
        ["fees", "report", "--period", f"{datetime.now(UTC):%Y-%m}", "--by", "day", "--local-state", str(state)]
    )
    if args.func(args) != 0:
        raise RuntimeError("demo: the fee report failed")


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = commands.add_parser("demo", help="run the whole story on the embedded defaults (what `make demo` runs)")
    demo.set_defaults(func=run_demo)
