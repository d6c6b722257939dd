"""Regression: the local runtime collects a function's output without swallowing other threads'
(the demo lost its own lines while a receipts invocation ran in a server thread)."""

from __future__ import annotations

import json
import threading

import pytest

from mcn_devkit.embedded import EmbeddedStack
from mcn_devkit.events import load_event, rebase_times
from mcn_devkit.template import PROJECT_ROOT

pytestmark = pytest.mark.integration


def test_other_threads_output_is_not_taken_into_a_functions_log(
    stack: EmbeddedStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stack.runtime is not None
    stack.runtime.logs["IngestFunction"].clear()
    batch = rebase_times(load_event(PROJECT_ROOT / "events" / "ingest" / "malformed.json"))
    done = threading.Event()
    errors: list[Exception] = []

    def invoke() -> None:
        try:
            for _ in range(5):
                stack.invoke("IngestFunction", batch)
        except Exception as exc:  # reported below: a thread's exception would only be a warning
            errors.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=invoke)
    worker.start()
    printed = 0
    while not done.is_set():
        print(f"main-thread-line-{printed}")
        printed += 1
        done.wait(0.001)
    worker.join()
    assert not errors, errors
    logs = "\n".join(stack.runtime.logs["IngestFunction"])
    assert "event rejected" in logs  # the function's own output was collected
    assert "main-thread-line" not in logs
    assert capsys.readouterr().out.count("main-thread-line") == printed


def test_each_function_logs_and_counts_under_its_own_service_name(stack: EmbeddedStack) -> None:
    # Regression: the functions share this process and mcn_core's one Logger and Metrics, which read
    # POWERTOOLS_SERVICE_NAME when first imported: every line locally said "mcn-ingest".
    assert stack.runtime is not None
    for function in ("IngestFunction", "ReceiptsFunction"):
        stack.runtime.logs[function].clear()
    stack.invoke("IngestFunction", rebase_times(load_event(PROJECT_ROOT / "events" / "ingest" / "malformed.json")))
    stack.invoke("ReceiptsFunction", {"events": [{"kind": "receipt"}]})  # rejected: logged and counted
    for function, service in (("IngestFunction", "mcn-ingest"), ("ReceiptsFunction", "mcn-receipts")):
        lines = [json.loads(line) for line in stack.runtime.logs[function] if line.startswith("{")]
        assert lines, function
        assert {line.get("service") for line in lines} == {service}, function
        assert any("_aws" in line for line in lines), f"{function}: its metrics too"
