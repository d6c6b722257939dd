"""Starts Step Functions executions (notify, quiet hours, resume). The only Step Functions code."""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any


class StepFunctionsStarter:
    """Starts executions of one state machine (its client made once per endpoint: mcn_core.dal.clients)."""

    def __init__(self, state_machine_arn: str) -> None:
        self._arn = state_machine_arn

    @cached_property
    def _client(self) -> Any:
        from mcn_core.dal.clients import aws_client

        return aws_client("stepfunctions")

    def start(self, notification_id: str, request: dict[str, Any]) -> None:
        """A notice's execution, named by its notification id (the domain's NoticeStarter port)."""
        self._client.start_execution(stateMachineArn=self._arn, name=notification_id, input=json.dumps(request))

    def start_once(self, name: str, document: str) -> str | None:
        """Start the execution called `name` with the JSON `document` as its input.

        Its ARN, or None when an execution of that name was started before (a retried task):
        the name is what makes a start idempotent.
        """
        try:
            response = self._client.start_execution(stateMachineArn=self._arn, name=name, input=document)
        except self._client.exceptions.ExecutionAlreadyExists:
            return None
        return str(response["executionArn"])
