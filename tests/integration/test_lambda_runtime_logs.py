"""Regression: the local runtime collects a function's output without swallowing other threads'
(the demo lost its own lines while a receipts invocation ran in a server thread)."""

from __future__ import annotations

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

    def invoke() -> None:
        try:
            for _ in range(5):
                stack.invoke("IngestFunction", batch)
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
    logs = "\n".join(stack.runtime.logs["IngestFunction"])
    assert "event rejected" in logs  # the function's own output was collected
    assert "main-thread-line" not in logs
    assert capsys.readouterr().out.count("main-thread-line") == printed
