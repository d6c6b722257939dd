"""`mcn`: the operator's and developer's command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mcn_cli import config_cmd, demo, fees, local_cmd, preview, sms, subscribers

LOCAL_SMSC_PASSWORD = "local1"


def _function_logical_id(stack_functions: list[str], name: str) -> str:
    wanted = name.lower().removesuffix("function")
    for logical_id in stack_functions:
        if logical_id.lower().removesuffix("function") == wanted:
            return logical_id
    raise SystemExit(f"unknown function {name!r}; the template has: {', '.join(sorted(stack_functions))}")


def _cmd_invoke(args: argparse.Namespace) -> int:
    from mcn_cli.events import load_event, rebase_times
    from mcn_cli.lambda_runtime import FunctionError
    from mcn_cli.localstack import LocalStack
    from mcn_cli.smsc import LocalSmsc

    event = load_event(Path(args.event))
    if not args.keep_times:
        event = rebase_times(event)
    # Functions that send SMS reach a local SMSC (SMPP on loopback) unless told otherwise.
    with LocalSmsc(system_id="mcn", password=LOCAL_SMSC_PASSWORD) as smsc:
        parameters = {"SmscHost": "127.0.0.1", "SmscPort": str(smsc.port), **dict(args.parameter or [])}
        with LocalStack(parameters=parameters) as stack:
            assert stack.runtime is not None
            stack.runtime.log_sink = sys.stderr  # the function's logs, as `sam local invoke` shows them
            stack.client("secretsmanager").put_secret_value(
                SecretId=stack.resource_name("SmscCredentials"),
                SecretString=json.dumps({"username": "mcn", "password": LOCAL_SMSC_PASSWORD}),
            )
            functions = list(stack.resolved.resources_of_type("AWS::Serverless::Function"))
            logical_id = _function_logical_id(functions, args.function)
            try:
                response = stack.invoke(logical_id, event)
            except FunctionError as exc:
                print(json.dumps(exc.payload, indent=2))
                return 1
        for sms in smsc.submits:
            print(f"SMSC received: to {sms.destination_addr} from {sms.source_addr}: {sms.text!r}", file=sys.stderr)
    print(json.dumps(response, indent=2))
    return 0


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("use Name=Value")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcn", description="Missed Call Notice: operator and developer commands")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    invoke = commands.add_parser(
        "invoke",
        help="run a function's real handler in-process on the embedded AWS (no Docker)",
        description="The no-Docker equivalent of `sam local invoke -e EVENT FUNCTION`: the template is "
        "deployed to an embedded AWS (moto server), the handler runs with the environment the template "
        "gives it, and its JSON response is printed. Functions that send SMS talk to a local SMSC "
        "(SMPP on loopback); what it received is shown on stderr with the function's logs.",
    )
    invoke.add_argument("function", help="ingest, attach, ... or the template's logical id")
    invoke.add_argument("event", help="event file, e.g. events/ingest/single.json")
    invoke.add_argument("--keep-times", action="store_true", help="do not shift the event's timestamps to now")
    invoke.add_argument(
        "--parameter",
        action="append",
        type=_parameter,
        metavar="NAME=VALUE",
        help="template parameter override (repeatable)",
    )
    invoke.set_defaults(func=_cmd_invoke)

    sms.register(commands)
    local_cmd.register(commands)
    fees.register(commands)
    subscribers.register(commands)
    config_cmd.register(commands)
    preview.register(commands)
    demo.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
