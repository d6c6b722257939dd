"""A deliver_sm resent after a lost deliver_sm_resp is neither applied nor answered twice.

Real SMSC (node-smpp), real sockets: a TCP relay between the receiver and the SMSC drops the
receiver's first deliver_sm_resp on the wire; the SMSC never sees it, so (as an SMSC does when its
response timer expires) the same message is delivered again; the receiver answers the resend,
spools nothing new and counts it. A receiver restarted in between still recognises it.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from receiver_kit import PASSWORD, forwarded, receiver_config, wait_for

from mcn_devkit.smsc import LocalSmsc
from mcn_receiver.service import Receiver
from mcn_smpp import SmppConfig

DELIVER_SM_RESP = 0x80000005


class RespDroppingRelay:
    """TCP relay to the SMSC that drops the next `drop` deliver_sm_resp PDUs sent by the client."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.drop = 0
        self.dropped = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            smsc = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump_pdus, args=(client, smsc), daemon=True).start()
            threading.Thread(target=self._pump_bytes, args=(smsc, client), daemon=True).start()

    def _pump_bytes(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            sink.close()

    def _pump_pdus(self, source: socket.socket, sink: socket.socket) -> None:
        buffer = b""
        try:
            while chunk := source.recv(65536):
                buffer += chunk
                while len(buffer) >= 16:
                    length, command_id = struct.unpack(">II", buffer[:8])
                    if len(buffer) < length:
                        break
                    pdu, buffer = buffer[:length], buffer[length:]
                    if command_id == DELIVER_SM_RESP and self.drop > 0:
                        self.drop -= 1
                        self.dropped += 1
                        continue
                    sink.sendall(pdu)
        except OSError:
            pass
        finally:
            sink.close()

    def close(self) -> None:
        self._closed = True
        self._server.close()


@pytest.fixture
def relay(smsc: LocalSmsc) -> Iterator[RespDroppingRelay]:
    smsc.reset_faults()
    smsc.clear()
    relay = RespDroppingRelay((smsc.host, smsc.port))
    yield relay
    relay.close()


def _receiver(relay: RespDroppingRelay, tmp_path: Path) -> Receiver:
    config = receiver_config(tmp_path)
    smpp = SmppConfig.build(host="127.0.0.1", port=relay.port, system_id="mcn", password=PASSWORD, system_type="MCN")
    return Receiver(config, smpp)


def _deliver_until_answered(smsc: LocalSmsc, send, responses_before: int) -> int:
    """What an SMSC does: deliver, wait for the response, deliver the same message again if none came."""
    attempts = 0
    while True:
        attempts += 1
        send()
        try:
            wait_for(lambda: len(smsc.deliver_sm_responses()) > responses_before, timeout=1.5)
            return attempts
        except AssertionError:
            assert attempts < 5, "the SMSC never got a deliver_sm_resp"


def test_an_mo_resent_after_a_lost_response_is_applied_and_answered_once(
    smsc: LocalSmsc, relay: RespDroppingRelay, tmp_path: Path
) -> None:
    with _receiver(relay, tmp_path) as receiver:
        assert receiver.wait_bound()
        relay.drop = 1
        attempts = _deliver_until_answered(smsc, lambda: smsc.send_mo("447911123456", "62226", b"STOP"), 0)
        assert attempts == 2 and relay.dropped == 1
        wait_for(lambda: receiver.spool.depth() == 0 and forwarded(tmp_path / "out.jsonl"))
        # a different keyword from the same subscriber is a new message
        smsc.send_mo("447911123456", "62226", b"START")
        wait_for(lambda: len(forwarded(tmp_path / "out.jsonl")) == 2)
        assert receiver.counts["duplicates"] == 1 and receiver.counts["mo"] == 2
        assert receiver.metrics.value("mcn_receiver_duplicates_total", {"kind": "mo"}) == 1
    assert [e["text"] for e in forwarded(tmp_path / "out.jsonl")] == ["STOP", "START"]
    assert [r["status"] for r in smsc.deliver_sm_responses()] == [0, 0]  # the resend answered OK


def test_a_receipt_resent_across_a_receiver_restart_is_recognised(
    smsc: LocalSmsc, relay: RespDroppingRelay, tmp_path: Path
) -> None:
    with _receiver(relay, tmp_path) as receiver:
        assert receiver.wait_bound()
        relay.drop = 1
        smsc.send_receipt("msg-42", stat="DELIVRD")
        wait_for(lambda: relay.dropped == 1)
        wait_for(lambda: forwarded(tmp_path / "out.jsonl"))
    assert smsc.deliver_sm_responses() == []  # the SMSC never heard back
    with _receiver(relay, tmp_path) as restarted:
        assert restarted.wait_bound()
        smsc.send_receipt("msg-42", stat="DELIVRD")  # the SMSC's redelivery, on the new bind
        wait_for(lambda: smsc.deliver_sm_responses())
        smsc.send_receipt("msg-42", stat="UNDELIV")  # another state of the message is news
        wait_for(lambda: len(forwarded(tmp_path / "out.jsonl")) == 2)
        assert restarted.counts["duplicates"] == 1
    assert [(e["message_id"], e["state"]) for e in forwarded(tmp_path / "out.jsonl")] == [
        ("msg-42", "DELIVRD"),
        ("msg-42", "UNDELIV"),
    ]
