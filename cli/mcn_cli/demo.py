"""`mcn demo` (what `make demo` runs): the main job on the embedded defaults.

Deploys template.yaml to the embedded AWS, feeds the sample missed calls to the real
ingest handler and shows, readably, what happened to each and what is stored.
The functions' own JSON logs and EMF metrics go to a file, so the story stays readable.
"""

from __future__ import annotations

import argparse
from typing import Any

from mcn_cli.events import load_event, rebase_times
from mcn_cli.template import PROJECT_ROOT
from mcn_core.numbers import mask

EVENTS = PROJECT_ROOT / "events"
LOG_DIR = PROJECT_ROOT / ".local" / "demo"


def _say(text: str = "") -> None:
    print(text, flush=True)


def _show_outcomes(title: str, response: dict[str, Any]) -> None:
    _say(f"  {title}: {response['counts']}")
    for result in response["results"]:
        reason = f"  ({result['reason']})" if result.get("reason") else ""
        _say(f"    #{result['index']:<2} {result.get('call_ref') or '-':<34} {result['outcome']}{reason}")


def _show_stored(stack: Any) -> int:
    table = stack.resource_name("MissedCallsTable")
    items = stack.client("dynamodb").scan(TableName=table)["Items"]
    items.sort(key=lambda item: item["call_time"]["S"])
    _say(f"\nStored in {table} ({len(items)} items; numbers masked):")
    _say(f"  {'subscriber':<16} {'caller':<16} {'presentation':<12} {'reason':<14} {'call time (UTC)':<26} expires_at")
    for item in items:
        caller = mask(item["caller"]["S"]) if "caller" in item and "S" in item["caller"] else "withheld"
        _say(
            f"  {mask(item['subscriber']['S']):<16} {caller:<16} {item['presentation']['S']:<12} "
            f"{item['reason']['S']:<14} {item['call_time']['S'][:26]:<26} {item['expires_at']['N']}"
        )
    return len(items)


def run_demo(args: argparse.Namespace) -> int:
    from mcn_cli.localstack import LocalStack

    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / "functions.log"
    _say("Missed Call Notice demo: embedded AWS (moto server) with template.yaml deployed\n")
    with LocalStack() as stack, log_path.open("w") as function_logs:
        assert stack.runtime is not None
        stack.runtime.log_sink = function_logs
        _say(f"  AWS endpoint    {stack.aws_endpoint}")
        _say(f"  Lambda endpoint {stack.lambda_endpoint}")
        _say(f"  Tables          {', '.join(stack.resolved.resources_of_type('AWS::DynamoDB::Table'))}")
        _say(f"  Function logs   {log_path.relative_to(PROJECT_ROOT)}\n")

        # A subscriber who blocked one caller: policy is applied at ingest.
        stack.client("dynamodb").put_item(
            TableName=stack.resource_name("SubscribersTable"),
            Item={"msisdn": {"S": "+447911123456"}, "blocked_callers": {"SS": ["+447912000333"]}},
        )
        _say("Subscriber +44*******456 has blocked caller +44*******333.\n")
        _say("Ingest (events/ingest/*.json, timestamps moved to now):")
        for name in ("batch", "clir", "duplicate", "malformed"):
            event = rebase_times(load_event(EVENTS / "ingest" / f"{name}.json"))
            response = stack.invoke("IngestFunction", event)
            _show_outcomes(name, response)
        _say("\nRe-delivery of the same batch (the gateway replays its spool): nothing is doubled")
        response = stack.invoke("IngestFunction", rebase_times(load_event(EVENTS / "ingest" / "batch.json")))
        _show_outcomes("batch again", response)
        stored = _show_stored(stack)
    _say(f"\nDone: {stored} missed calls stored, one item per call attempt.")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="run the whole story on the embedded defaults (what `make demo` runs)")
    demo.set_defaults(func=run_demo)
