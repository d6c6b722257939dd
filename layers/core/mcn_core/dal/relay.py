"""Hands an SMS to the one function that holds the deployment's SMPP binds (Lambda async invoke).

Only that function submits, so its reserved concurrency bounds the binds and the rate of the
whole fleet (mcn_smpp.budget). An asynchronous invoke that finds it at its concurrency limit
is kept and retried by Lambda (for up to 6 hours), so a reply waits rather than being lost.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from mcn_core.logic.send import MessageOutcome, PartOutcome
from mcn_core.models.notice import OutgoingSms

QUEUED = "queued"


class LambdaSmsRelay:
    def __init__(self, function_name: str) -> None:
        self._function = function_name

    @cached_property
    def _client(self) -> Any:
        from mcn_core.dal.clients import aws_client

        return aws_client("lambda")

    def send(self, sms: OutgoingSms, *, reference: int | None, part_numbers: list[int] | None) -> MessageOutcome:
        payload = {"task": "reply", "sms": sms.to_data()}
        self._client.invoke(FunctionName=self._function, InvocationType="Event", Payload=json.dumps(payload))
        parts = tuple(PartOutcome(n, sms.segments, QUEUED, None, None, "") for n in range(1, max(1, sms.segments) + 1))
        return MessageOutcome(reference=reference, parts=parts)
