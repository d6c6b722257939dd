"""`mcn-receiver` as a real process beside the embedded AWS and the local SMSC (e2e helper)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from notify_stack import SMSC_PASSWORD, NotifyStack, eventually

from mcn_devkit.ports import free_port

SYSTEM_TYPE = "MCNRCV"


class ReceiverProcess:
    def __init__(self, flow: NotifyStack, workdir: Path) -> None:
        self.flow = flow
        self.log_path = workdir / "receiver.log"
        self.http_port = free_port()  # never the default 9103: other test runs share the machine
        self.env = {
            **os.environ,
            **flow.stack.env,
            "SMPP_HOST": flow.smsc.host,
            "SMPP_PORT": str(flow.smsc.port),
            "SMPP_SYSTEM_ID": "mcn",
            "SMPP_PASSWORD": SMSC_PASSWORD,
            "SMPP_SYSTEM_TYPE": SYSTEM_TYPE,
            "MCN_RECEIVER_TARGET": f"lambda:{flow.stack.function_name('ReceiptsFunction')}",
            "MCN_RECEIVER_ENDPOINT_URL": flow.stack.lambda_endpoint,
            "MCN_RECEIVER_SPOOL": str(workdir / "receiver-spool.sqlite3"),
            "MCN_RECEIVER_BATCH_WAIT_S": "0.05",
            "MCN_RECEIVER_LOG_LEVEL": "INFO",
            "MCN_RECEIVER_HTTP_HOST": "127.0.0.1",
            "MCN_RECEIVER_HTTP_PORT": str(self.http_port),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.session: int | None = None

    def start(self) -> ReceiverProcess:
        known = {b["session"] for b in self.flow.smsc.binds()}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mcn_receiver"], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

        def bound() -> int | None:
            assert self.process is not None and self.process.poll() is None, self.logs()
            for bind in self.flow.smsc.binds():
                if bind["session"] not in known and bind.get("system_type") == SYSTEM_TYPE and bind["status"] == 0:
                    return int(bind["session"])
            return None

        self.session = eventually(bound, timeout=30)
        # what a container health check and Prometheus see of the real process
        eventually(lambda: self.http("/healthz")[0] == 200, timeout=30)
        return self

    def http(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    def health(self) -> dict[str, Any]:
        return dict(json.loads(self.http("/healthz")[1]))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # The local SMSC would answer on the session that submitted (the Lambda's own bind);
    # a receipt route to the receiver's bind, as an SMSC routing receipts to a receiver ESME.
    def receipt(self, message_id: str, stat: str = "DELIVRD") -> dict[str, Any]:
        return self.flow.smsc.send_receipt(message_id, stat=stat, session=self.session)

    def mo(self, source: str, text: str, destination: str = "62226") -> dict[str, Any]:
        body = text.encode("ascii") if text.isascii() else text.encode("utf-16-be")
        return self.flow.smsc.command(
            "mo",
            session=self.session,
            source_addr=source.lstrip("+"),
            destination_addr=destination,
            short_message_hex=body.hex(),
            data_coding=0 if text.isascii() else 8,
        )
