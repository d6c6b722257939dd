"""Gateway -> Lambda Invoke API -> ingest -> DynamoDB on the embedded AWS, with a poison event.

Real M3UA/ISUP over TCP in, the real LambdaTarget over HTTP out. The ingest handler is wrapped to
fail (FunctionError: Unhandled, as a handler bug would) on any batch holding calls from one caller;
the gateway bisects, parks that call with the error, stores every other call, and the operator's
`mcn-gateway parked retry` brings it back once the function is fixed.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcn_devkit.embedded import EmbeddedStack
from mcn_devkit.sigtran import ScriptedPeer, build_iam, m3ua_data
from mcn_devkit.sigtran.builders import MSC_PC, ROUTING_CONTEXT, SUBSCRIBER
from mcn_devkit.sigtran.local import loopback_config, wait_for
from mcn_gateway.app import GatewayThread
from mcn_gateway.cli import main as gateway_main
from mcn_gateway.protocol import isup, m3ua

pytestmark = pytest.mark.integration
POISON_CALLER = "447400666666"


@pytest.fixture
def poisoned_ingest(stack: EmbeddedStack) -> Iterator[list[int]]:
    """The real ingest handler, failing any batch with a call from POISON_CALLER; yields batch sizes seen."""
    assert stack.runtime is not None
    function = stack.runtime.lookup(stack.function_name("IngestFunction"))
    real = function.entry_point()
    original_module = function._module
    sizes: list[int] = []

    def handler(event, context):
        events = event.get("events", [event])
        sizes.append(len(events))
        if any(POISON_CALLER in str(e.get("caller")) for e in events):
            raise KeyError("presentation")  # a handler bug this one event triggers
        return real(event, context)

    function._module = types.SimpleNamespace(lambda_handler=handler)
    try:
        yield sizes
    finally:
        function._module = original_module


def _stored_calls(stack: EmbeddedStack) -> list[dict]:
    return stack.client("dynamodb").query(
        TableName=stack.resource_name("MissedCallsTable"),
        KeyConditionExpression="subscriber = :s",
        ExpressionAttributeValues={":s": {"S": f"+{SUBSCRIBER}"}},
        ConsistentRead=True,
    )["Items"]


def test_a_poison_call_is_parked_the_others_are_stored_and_retry_brings_it_back(
    stack: EmbeddedStack, poisoned_ingest: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in stack.env.items():  # the gateway's credentials for the embedded AWS
        monkeypatch.setenv(name, value)
    config = loopback_config(
        tmp_path,
        ingest_target=f"lambda:{stack.function_name('IngestFunction')}",
        attach_target=f"file:{tmp_path / 'attach.jsonl'}",
        endpoint_url=stack.lambda_endpoint,
    )
    config = config.model_copy(
        update={
            "forwarding": config.forwarding.model_copy(
                update={"retry_initial_s": 0.05, "retry_max_s": 0.5, "batch_max_wait_s": 1.0}
            )
        }
    )
    callers = [f"4474001234{n:02d}" for n in range(9)]
    callers[4] = POISON_CALLER
    with GatewayThread(config) as gateway:
        peer = ScriptedPeer.connect("127.0.0.1", gateway.association_port("msc"))
        with peer:
            peer.bring_up(routing_context=ROUTING_CONTEXT)
            for cic, caller in enumerate(callers, start=1):
                peer.send(m3ua_data(5, build_iam(cic, caller=caller), opc=MSC_PC, sls=cic % 16))
                answer = peer.expect(m3ua.TRANSFER_DATA)  # REL: the call was spooled
                assert isup.IsupDecoder.peek(answer.protocol_data.data) == (cic, isup.MSG_REL)
                peer.send(m3ua_data(5, isup.encode_rlc(cic), opc=MSC_PC, sls=cic % 16))
        spool = gateway.gateway.spool
        wait_for(lambda: spool.parked_count() == 1 and spool.depth() == 0, "the poison call parked", timeout_s=60)
        [parked] = spool.parked()
        assert parked.kind == "missed_call" and POISON_CALLER in parked.body["caller"]
        assert "FunctionError" in parked.error
        assert gateway.metrics.value("mcn_gateway_parked_events_total", {"kind": "missed_call"}) == 1
        assert len(_stored_calls(stack)) == len(callers) - 1
        assert poisoned_ingest[0] > 1 and 1 in poisoned_ingest  # a batch, then bisected down to the poison

        # the function is fixed; the operator retries the parked call while the gateway runs
        poisoned_ingest.clear()
        stack.runtime.lookup(stack.function_name("IngestFunction"))._module = None  # the real handler again
        config_file = tmp_path / "gateway.json"
        config_file.write_text(config.model_dump_json())
        assert gateway_main(["--config", str(config_file), "parked", "retry", "--all"]) == 0
        wait_for(lambda: len(_stored_calls(stack)) == len(callers), "the retried call stored", timeout_s=60)
        assert spool.parked_count() == 0
