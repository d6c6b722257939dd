"""`mcn invoke FUNCTION EVENT`: run a function's real handler with a sample event, no Docker.

Two targets:
- a running `mcn local up` (its `.local/stack.json`; the default when it is present, or `--local`):
  the call goes through the stack's Lambda Invoke API, so what one invoke stores the next one sees
  (ingest, then attach, then compose, ...). The function's logs appear in the `mcn local up` terminal.
- a fresh stack (`--fresh`, or no `mcn local up` running): the template deployed for this one call,
  with a local SMSC; the function's logs and what the SMSC received go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

LOCAL_SMSC_PASSWORD = "local1"
# The samples name deployed resources of samconfig.toml's default stack; an invoke rewrites them.
SAMPLE_STACK_NAME = "mcn-dev"
# Names that are neither a logical id nor its short form but that people type.
FUNCTION_ALIASES = {
    "receipt": "ReceiptsFunction",
    "mo": "ReceiptsFunction",
    # NotifyMe is a task of the Send function, the only one holding SMSC binds (events/send/notify_me.json)
    "notify_me": "SendFunction",
    "notify-me": "SendFunction",
    "notifyme": "SendFunction",
    # the gateway's reports of missed calls placed on behalf
    "outcomes": "FlashCallOutcomesFunction",
    "flash_call_outcome": "FlashCallOutcomesFunction",
}


class InvokeError(RuntimeError):
    """A user error: the message says what to do."""


def _normalised(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "").removesuffix("function")


def function_logical_id(functions: list[str], name: str) -> str:
    """`IngestFunction`, `ingest`, `notify_me`, `notify-me`, `NotifyMe`, or an alias, to the logical id."""
    wanted = _normalised(FUNCTION_ALIASES.get(name.lower(), name))
    for logical_id in functions:
        if _normalised(logical_id) == wanted:
            return logical_id
    short = ", ".join(sorted(_short_name(f) for f in functions))
    raise InvokeError(
        f"unknown function {name!r}; the template has: {short} (or their logical ids, e.g. IngestFunction)"
    )


def _short_name(logical_id: str) -> str:
    stem = logical_id.removesuffix("Function")
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(stem))


def retarget(event: Any, stack_name: str) -> Any:
    """Point the sample's ARNs of the `mcn-dev` stack at the stack the call runs on."""
    if isinstance(event, dict):
        return {key: retarget(value, stack_name) for key, value in event.items()}
    if isinstance(event, list):
        return [retarget(item, stack_name) for item in event]
    if isinstance(event, str) and event.startswith("arn:"):
        return event.replace(f":{SAMPLE_STACK_NAME}-", f":{stack_name}-")
    return event


def _template_functions() -> list[str]:
    from mcn_devkit.template import ResolvedTemplate, load_template

    return list(ResolvedTemplate(load_template(), "names").resources_of_type("AWS::Serverless::Function"))


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("use Name=Value")
    return name, value


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    invoke = commands.add_parser(
        "invoke",
        help="run a function's real handler with an event, on `mcn local up` or a fresh embedded AWS (no Docker)",
        description="The no-Docker equivalent of `sam local invoke -e EVENT FUNCTION`. With `mcn local up` "
        "running (its state file exists) the call goes to that stack, so state is kept between invokes; "
        "otherwise (or with --fresh) the template is deployed to a fresh embedded AWS for this one call, with "
        "a local SMSC (SMPP on loopback). The handler's JSON response is printed on stdout.",
    )
    invoke.add_argument(
        "function",
        help="ingest, attach, compose, send (also notify_me), record, release, defer, resume, receipts, "
        "flash_call_outcomes (also outcomes); "
        "or the template's logical id (IngestFunction)",
    )
    invoke.add_argument("event", help="event file, e.g. events/ingest/single.json")
    where = invoke.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="require the running `mcn local up` (error if none)")
    where.add_argument("--fresh", action="store_true", help="deploy a fresh embedded AWS for this call")
    invoke.add_argument(
        "--local-state", metavar="FILE", help="state file of `mcn local up` (default .local/stack.json)"
    )
    invoke.add_argument("--keep-times", action="store_true", help="do not shift the event's timestamps to now")
    invoke.add_argument(
        "--parameter",
        action="append",
        type=_parameter,
        metavar="NAME=VALUE",
        help="template parameter override (repeatable; a fresh stack only)",
    )
    invoke.set_defaults(func=run_invoke)


def run_invoke(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    from mcn_cli.target import TargetError, local_target, state_file
    from mcn_devkit.events import load_event, rebase_times
    from mcn_devkit.smsc import SmscError

    try:
        event = load_event(Path(args.event))
        if not args.keep_times:
            event = rebase_times(event)
        path = state_file(args.local_state)
        use_local = args.local or (not args.fresh and path.exists())
        if use_local:
            if args.parameter:
                raise InvokeError("--parameter applies to a fresh stack; `mcn local up --parameter` sets them there")
            try:
                target = local_target(path)
            except TargetError as exc:
                if args.local:
                    raise InvokeError(str(exc)) from None
                print(f"note: {exc}; using a fresh stack", file=err)
            else:
                return _invoke_running(target, args.function, event, out, err)
        return _invoke_fresh(args.function, event, dict(args.parameter or []), out, err)
    except InvokeError as exc:
        print(f"error: {exc}", file=err)
        return 2
    except SmscError as exc:  # node or the node-smpp peer missing: say how to get them
        print(f"error: {exc} (run `make node`)", file=err)
        return 1


def _invoke_running(target: Any, function: str, event: Any, out: TextIO, err: TextIO) -> int:
    logical_id = function_logical_id(_template_functions(), function)
    physical = target.resources.get(logical_id)
    if not physical:
        raise InvokeError(f"the running stack has no {logical_id}; restart `mcn local up` from this checkout")
    response = _lambda_client(target).invoke(
        FunctionName=physical, Payload=json.dumps(retarget(event, target.stack_name)).encode()
    )
    payload = json.loads(response["Payload"].read() or b"null")
    print(f"invoked {logical_id} on {target.describe()}; its logs are in the `mcn local up` terminal", file=err)
    print(json.dumps(payload, indent=2), file=out)
    return 1 if response.get("FunctionError") else 0


def _lambda_client(target: Any) -> Any:
    import boto3
    from botocore.config import Config

    from mcn_cli.target import LOCAL_CREDENTIALS

    return boto3.client(
        "lambda",
        region_name=target.region,
        endpoint_url=target.endpoint_url,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=LOCAL_CREDENTIALS["AWS_SESSION_TOKEN"],
        config=Config(retries={"max_attempts": 1}, read_timeout=300),
    )


def _invoke_fresh(function: str, event: Any, parameters: dict[str, str], out: TextIO, err: TextIO) -> int:
    from mcn_devkit.embedded import EmbeddedStack
    from mcn_devkit.lambda_runtime import FunctionError
    from mcn_devkit.smsc import LocalSmsc

    logical_id = function_logical_id(_template_functions(), function)
    # Functions that send SMS reach a local SMSC (SMPP on loopback) unless told otherwise.
    with LocalSmsc(system_id="mcn", password=LOCAL_SMSC_PASSWORD) as smsc:
        parameters = {"SmscHost": "127.0.0.1", "SmscPort": str(smsc.port), **parameters}
        with EmbeddedStack(parameters=parameters) as stack:
            assert stack.runtime is not None
            stack.runtime.log_sink = err  # the function's logs, as `sam local invoke` shows them
            set_smsc_password(stack, LOCAL_SMSC_PASSWORD)
            try:
                response = stack.invoke(logical_id, retarget(event, stack.stack_name))
            except FunctionError as exc:
                print(json.dumps(exc.payload, indent=2), file=out)
                return 1
        report_submits(smsc.submits, err)
    print(json.dumps(response, indent=2), file=out)
    return 0


def set_smsc_password(stack: Any, password: str) -> None:
    stack.client("secretsmanager").put_secret_value(
        SecretId=stack.resource_name("SmscCredentials"),
        SecretString=json.dumps({"username": "mcn", "password": password}),
    )


def report_submits(submits: list[Any], err: TextIO) -> None:
    from mcn_core.numbers import mask

    for sms in submits:
        print(f"SMSC received: to {mask(sms.destination_addr)} from {sms.source_addr}: {sms.text!r}", file=err)
