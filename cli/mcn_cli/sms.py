"""`mcn sms send`: send one SMS through the pooled SMPP layer and print each part's outcome.

The operator's SMSC connectivity check. Settings come from SMPP_* environment variables
(see mcn_smpp.config.SmppConfig.from_env); the flags below override them.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import sys
import time
from typing import TextIO

EXIT_ACCEPTED = 0
EXIT_PERMANENT = 1
EXIT_USAGE = 2
EXIT_RETRYABLE = 75  # EX_TEMPFAIL: try again later
# What SMPP carries in destination_addr (at most 20 characters); the SMSC routes it, the CLI does not judge.
DESTINATION = re.compile(r"\+?\d{1,20}")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sms = subparsers.add_parser("sms", help="send SMS through the pooled SMPP layer")
    sms_commands = sms.add_subparsers(dest="sms_command", required=True)
    send = sms_commands.add_parser(
        "send",
        help="send one SMS and print each part's outcome (SMSC connectivity check)",
        description="Send one SMS; SMPP_* environment variables give defaults, flags override them. "
        f"Exit codes: {EXIT_ACCEPTED} accepted, {EXIT_PERMANENT} permanent failure, "
        f"{EXIT_RETRYABLE} retryable failure, {EXIT_USAGE} bad configuration.",
    )
    send.add_argument("--to", required=True, help="destination number, e.g. +447700900123")
    send.add_argument("--text", required=True, help="message text (GSM 03.38 or UCS-2 chosen automatically)")
    send.add_argument("--smsc", help="host:port of the SMSC (default: SMPP_HOST/SMPP_PORT)")
    send.add_argument("--system-id", help="bind system_id (default: SMPP_SYSTEM_ID)")
    send.add_argument("--password-env", help="environment variable holding the bind password (default SMPP_PASSWORD)")
    send.add_argument("--password-secret-id", help="AWS Secrets Manager secret holding the password")
    send.add_argument("--system-type", help="bind system_type")
    send.add_argument("--source", help="source address (default: SMPP_SOURCE_ADDR)")
    send.add_argument("--source-ton", type=int, help="source address TON (5 = alphanumeric)")
    send.add_argument("--source-npi", type=int, help="source address NPI")
    send.add_argument("--bind-mode", choices=["transceiver", "transmitter"])
    send.add_argument("--concat", choices=["udh8", "udh16", "payload"])
    send.add_argument("--national-shift", choices=["turkish"])
    send.add_argument("--timeout", type=float, help="response timeout in seconds")
    send.add_argument("--no-receipt", action="store_true", help="do not request a delivery receipt")
    send.add_argument(
        "--wait-receipts",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="after sending, wait up to SECONDS for delivery receipts and print them",
    )
    send.add_argument("--json", action="store_true", help="print the result as JSON")
    send.set_defaults(func=run_send)


def _config_environment(args: argparse.Namespace) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key.startswith("SMPP_")}
    if args.smsc:
        host, _, port = args.smsc.rpartition(":")
        if not host or not port:
            raise ValueError(f"--smsc must be host:port, got {args.smsc!r}")
        env["SMPP_HOST"], env["SMPP_PORT"] = host, port
    overrides = {
        "SMPP_SYSTEM_ID": args.system_id,
        "SMPP_SYSTEM_TYPE": args.system_type,
        "SMPP_SOURCE_ADDR": args.source,
        "SMPP_SOURCE_ADDR_TON": args.source_ton,
        "SMPP_SOURCE_ADDR_NPI": args.source_npi,
        "SMPP_BIND_MODE": args.bind_mode,
        "SMPP_CONCAT": args.concat,
        "SMPP_NATIONAL_SHIFT": args.national_shift,
        "SMPP_RESPONSE_TIMEOUT_S": args.timeout,
    }
    env.update({key: str(value) for key, value in overrides.items() if value is not None})
    if args.password_env:
        env["SMPP_PASSWORD_ENV"] = args.password_env
        env.pop("SMPP_PASSWORD_SECRET_ID", None)
    if args.password_secret_id:
        env["SMPP_PASSWORD_SECRET_ID"] = args.password_secret_id
        env.pop("SMPP_PASSWORD_ENV", None)
    if args.no_receipt:
        env["SMPP_REGISTERED_DELIVERY"] = "false"
    # One message: one bind is enough and opens fastest.
    env["SMPP_BINDS"] = "1"
    return env


def run_send(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    from mcn_core.numbers import mask
    from mcn_smpp.config import ConfigError, SmppConfig
    from mcn_smpp.credentials import CredentialsError, EnvCredentials
    from mcn_smpp.gsm0338 import MessageTooLong
    from mcn_smpp.outcomes import Outcome, status_name
    from mcn_smpp.pool import SmppPool

    try:
        config = SmppConfig.from_env(_config_environment(args))
    except (ConfigError, ValueError) as error:
        print(f"error: {error}", file=err)
        return EXIT_USAGE
    credentials = config.credentials()
    if isinstance(credentials, EnvCredentials):  # checked now: a bind would only fail later, per connection
        try:
            credentials.password()
        except CredentialsError as error:
            print(f"error: configuration: no bind password ({error}); set it or use --password-env NAME", file=err)
            return EXIT_USAGE
    destination = args.to.replace(" ", "")
    if not DESTINATION.fullmatch(destination):
        print(f"error: --to {args.to!r} is not a phone number (digits, optionally with a leading +)", file=err)
        return EXIT_USAGE

    with SmppPool(config) as pool:
        try:
            result = pool.send(destination, args.text)
        except MessageTooLong as error:
            print(f"error: {error}", file=err)
            return EXIT_USAGE
        receipts = []
        if args.wait_receipts > 0 and result.message_ids:
            deadline = time.monotonic() + args.wait_receipts
            wanted = set(result.message_ids)
            while wanted and (remaining := deadline - time.monotonic()) > 0:
                try:
                    event = pool.inbound.get(timeout=remaining)
                except queue.Empty:
                    break
                if getattr(event, "message_id", None) in wanted:
                    wanted.discard(event.message_id)  # type: ignore[union-attr]
                    receipts.append(event)

    if args.json:
        document = result.to_dict(mask)
        document["receipts"] = [receipt.to_dict() for receipt in receipts]
        for receipt in document["receipts"]:
            receipt["source_addr"] = mask(receipt["source_addr"])
        print(json.dumps(document, indent=2), file=out)
    else:
        print(
            f"to {mask(result.destination)}: {result.encoding}, {result.segment_count} segment(s) "
            f"via {config.host}:{config.port} -> {result.outcome.value.upper()}",
            file=out,
        )
        for part in result.parts:
            status = (
                "no response"
                if part.command_status is None
                else (f"{status_name(part.command_status)} (0x{part.command_status:02X})")
            )
            line = f"  part {part.part_number}/{part.part_total}: {part.outcome.value}"
            if part.message_id:
                line += f" message_id={part.message_id}"
            line += f" status={status}"
            if part.reason:
                line += f" reason={part.reason}"
            print(line, file=out)
        for receipt in receipts:
            print(f"  receipt {receipt.message_id}: {receipt.state} err={receipt.error_code}", file=out)

    if result.outcome is Outcome.ACCEPTED:
        return EXIT_ACCEPTED
    if result.outcome is Outcome.PERMANENT:
        return EXIT_PERMANENT
    return EXIT_RETRYABLE
