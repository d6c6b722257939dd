"""Run the local SMSC in the foreground and print every SMS it receives.

python -m mcn_devkit.smsc --port 2775 --system-id mcn --password secret --auto-receipt DELIVRD
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from mcn_devkit.smsc.harness import LocalSmsc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mcn_devkit.smsc", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=2775, help="0 picks a free port")
    parser.add_argument("--system-id", help="accept only this system_id (default: any)")
    parser.add_argument("--password", help="accept only this password (default: any)")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay every submit_sm_resp")
    parser.add_argument("--tps", type=float, help="licence: throttle (0x58) above this rate")
    parser.add_argument("--auto-receipt", metavar="STAT", help="send a receipt (e.g. DELIVRD) for each submit")
    parser.add_argument("--show-numbers", action="store_true", help="print destination numbers unmasked")
    args = parser.parse_args(argv)

    from mcn_core.numbers import mask

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    smsc = LocalSmsc(system_id=args.system_id, password=args.password, latency_ms=args.latency_ms, port=args.port)
    with smsc:
        if args.tps:
            smsc.set_tps_limit(args.tps)
        if args.auto_receipt:
            smsc.auto_receipts(args.auto_receipt)
        print(f"local SMSC listening on {smsc.address} (Ctrl-C to stop)", flush=True)
        shown = 0
        try:
            while not stop.is_set():
                submits = smsc.submits
                for submit in submits[shown:]:
                    destination = submit.destination_addr if args.show_numbers else mask(submit.destination_addr)
                    outcome = submit.message_id or f"status 0x{submit.status or 0:02X} ({submit.fault})"
                    print(f"SMS {submit.source_addr} -> {destination} [{outcome}] {submit.text!r}", flush=True)
                shown = len(submits)
                smsc.wait_until(lambda seen=shown: len(smsc.events("submit_sm")) > seen, timeout=0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
