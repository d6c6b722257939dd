"""Starts notify executions (Step Functions). The only Step Functions code."""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any


class StepFunctionsStarter:
    def __init__(self, state_machine_arn: str) -> None:
        self._arn = state_machine_arn

    @cached_property
    def _client(self) -> Any:
        import boto3

        return boto3.client("stepfunctions")

    def start(self, notification_id: str, request: dict[str, Any]) -> None:
        self._client.start_execution(stateMachineArn=self._arn, name=notification_id, input=json.dumps(request))
