"""The `parked` command both edge services have: list, retry or purge the events parked in the
spool's dead letters (events the function kept failing on alone; see mcn_edge.forwarder).

Safe while the service runs: the spool is SQLite in WAL mode, and a retried event is appended at
the tail of the spool, where the running forwarder picks it up.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from mcn_core.numbers import mask

from .spool import ParkedEvent, Spool


def add_parked_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parked = sub.add_parser("parked", help="list, retry or purge events parked in the dead letters")
    parked.add_argument("action", choices=("list", "retry", "purge"))
    parked.add_argument("--id", dest="ids", type=int, action="append", help="a parked event's id (repeatable)")
    parked.add_argument("--all", action="store_true", help="retry/purge every parked event (of --kind if given)")
    parked.add_argument("--kind", help="only events of this kind (e.g. missed_call, attach, receipt, mo)")
    parked.add_argument("--json", action="store_true", help="list as JSON lines (bodies unmasked)")
    return parked  # type: ignore[no-any-return]  # argparse types add_parser loosely


def _line(event: ParkedEvent) -> str:
    body = event.body
    ref = body.get("call_ref") or body.get("event_ref") or body.get("message_id") or body.get("message_ref") or "-"
    subscriber = mask(body.get("subscriber") or body.get("source"))
    parked_at = datetime.fromtimestamp(event.parked_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{event.id}\t{event.kind}\t{parked_at}\tref {ref}\tsubscriber {subscriber}\t{event.error}"


def run_parked(args: argparse.Namespace, spool_path: str | Path, out: TextIO | None = None) -> int:
    """Exit status: 0 done, 2 usage error (retry/purge without --id or --all), 1 nothing matched."""
    out = out or sys.stdout
    if not Path(spool_path).exists():
        print(f"spool not found: {spool_path}", file=sys.stderr)
        return 2
    spool = Spool(spool_path)
    try:
        if args.action == "list":
            events = spool.parked(kind=args.kind, ids=args.ids)
            for event in events:
                if args.json:
                    record = {
                        "id": event.id,
                        "kind": event.kind,
                        "parked_at": event.parked_at,
                        "error": event.error,
                        "body": event.body,
                    }
                    print(json.dumps(record, sort_keys=True), file=out)
                else:
                    print(_line(event), file=out)
            if not args.json:
                print(f"{len(events)} parked event(s)", file=sys.stderr)
            return 0
        if not args.ids and not args.all:
            print(f"parked {args.action}: give --id N (repeatable) or --all", file=sys.stderr)
            return 2
        chosen = [event.id for event in spool.parked(kind=args.kind, ids=args.ids)]
        if not chosen:
            print("no parked event matches", file=sys.stderr)
            return 1
        if args.action == "retry":
            new_ids = spool.unpark(chosen)
            print(f"{len(new_ids)} parked event(s) back in the spool (new ids {new_ids})", file=out)
        else:
            print(f"{spool.purge_parked(chosen)} parked event(s) purged", file=out)
        return 0
    finally:
        spool.close()
