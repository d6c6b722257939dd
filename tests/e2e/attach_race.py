"""Many OS processes run the attach handler at the same instant for one subscriber (issue 11).

Like an HLR repeating alertServiceCentre to several gateway instances, or Lambda running
concurrent invocations: each worker is a separate process (spawned, not forked, so nothing is
shared but the embedded AWS endpoint), warm like a Lambda container, holding the real attach
handler. A round hands every worker the same attach event; they wait on one barrier and call
the handler together. Their DynamoDB and Step Functions requests meet in the embedded AWS;
the notify executions they start run from the deployed ASL, sending through a real SMSC.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from notify_stack import NotifyStack

from mcn_devkit.lambda_runtime import LambdaContext, LocalFunction

PROCESSES = 20


def _worker(function: LocalFunction, barrier: Any, inbox: Any, outbox: Any) -> None:
    os.environ.update(function.environment)
    handler = function.entry_point()
    outbox.put(("ready", os.getpid()))
    while (event := inbox.get()) is not None:
        context = LambdaContext(
            function_name=function.name,
            memory_limit_in_mb=function.memory_mb,
            timeout_seconds=function.timeout_s,
            invoked_function_arn=function.arn,
            aws_request_id=str(uuid.uuid4()),
        )
        barrier.wait(timeout=120)
        try:
            outbox.put(("result", handler(event, context)))
        except Exception as exc:  # reported to the test, which fails on it
            outbox.put(("error", f"{type(exc).__name__}: {exc}"))


@dataclass
class RoundOutcome:
    subscriber: str
    outcomes: list[str]
    executions: list[dict[str, Any]]
    sms: int
    fees: int

    @property
    def started(self) -> int:
        return self.outcomes.count("started")

    @property
    def sent(self) -> int:
        """Executions that composed a notice to send (the others found nothing and ended)."""
        return sum(1 for e in self.executions if json.loads(e.get("output") or "{}").get("action") == "send")


class AttachRace:
    """`with AttachRace(flow) as race: race.round(subscriber)`: PROCESSES warm workers."""

    def __init__(self, flow: NotifyStack, processes: int = PROCESSES) -> None:
        self.flow = flow
        self.processes = processes
        function = flow.stack.runtime.lookup("AttachFunction")  # type: ignore[union-attr]
        # A pristine copy (no module loaded): each worker imports the handler itself.
        self._function = LocalFunction(**{**function.__dict__, "_module": None})
        self._context = multiprocessing.get_context("spawn")
        self._barrier = self._context.Barrier(processes)
        self._outbox = self._context.Queue()
        self._inboxes = [self._context.Queue() for _ in range(processes)]
        self._workers = [
            self._context.Process(
                target=_worker, args=(self._function, self._barrier, inbox, self._outbox), daemon=True
            )
            for inbox in self._inboxes
        ]

    def __enter__(self) -> AttachRace:
        for worker in self._workers:
            worker.start()
        pids = {self._receive("ready") for _ in self._workers}
        assert len(pids) == self.processes, "workers must be separate processes"
        return self

    def __exit__(self, *exc: object) -> None:
        for inbox in self._inboxes:
            inbox.put(None)
        for worker in self._workers:
            worker.join(timeout=20)
            if worker.is_alive():
                worker.kill()
                worker.join(timeout=5)

    def _receive(self, kind: str) -> Any:
        received, value = self._outbox.get(timeout=180)
        assert received == kind, f"worker: {received}: {value}"
        return value

    def round(self, subscriber: str, callers: list[str | None]) -> RoundOutcome:
        self.flow.missed_calls(subscriber, callers)
        event = {
            "subscriber": subscriber,
            "attach_time": datetime.now(UTC).isoformat(),
            "source": "alertServiceCentre",
            "hlr": "447953000100",
        }
        for inbox in self._inboxes:
            inbox.put(event)
        responses = [self._receive("result") for _ in self._workers]
        outcomes = [r["results"][0]["outcome"] for r in responses]
        started = [r["results"][0]["notification_id"] for r in responses if r["results"][0]["outcome"] == "started"]
        executions = [run for notification_id in started for run in self.flow.wait_finished(notification_id)]
        # Only these executions send and record: once they ended, the counts below are final.
        return RoundOutcome(
            subscriber=subscriber,
            outcomes=outcomes,
            executions=executions,
            sms=len(self.flow.sms_to(subscriber)),
            fees=len(self.flow.fees(subscriber)),
        )
