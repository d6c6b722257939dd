"""The whole notify story on one machine: embedded AWS + real SMSC (node-smpp) on loopback."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from mcn_devkit.embedded import EmbeddedStack
from mcn_devkit.sigtran.local import wait_for
from mcn_devkit.smsc import LocalSmsc

SMSC_PASSWORD = "secret1"


def eventually(predicate: Any, timeout: float = 30) -> Any:
    """Poll until `predicate()` is truthy and return its value (AssertionError after `timeout`)."""
    return wait_for(predicate, "the condition", timeout_s=timeout)


class NotifyStack:
    def __init__(self, stack: EmbeddedStack, smsc: LocalSmsc) -> None:
        self.stack, self.smsc = stack, smsc
        self.sfn = stack.client("stepfunctions")
        self.dynamodb = stack.client("dynamodb")
        self.notify_arn = stack.resource_name("NotifyStateMachine")

    @classmethod
    def start(cls, smsc: LocalSmsc, **parameters: str) -> tuple[EmbeddedStack, NotifyStack]:
        stack = EmbeddedStack(
            parameters={
                "SmscHost": "127.0.0.1",
                "SmscPort": str(smsc.port),
                "SmscSystemId": "mcn",
                "ConfigCacheSeconds": "0",
                **parameters,
            }
        )
        stack.start()
        stack.client("secretsmanager").put_secret_value(
            SecretId=stack.resource_name("SmscCredentials"),
            SecretString=json.dumps({"username": "mcn", "password": SMSC_PASSWORD}),
        )
        return stack, cls(stack, smsc)

    # ------------------------------------------------------------------ inputs
    def missed_calls(self, subscriber: str, callers: list[str | None], spacing_s: int = 60) -> list[dict[str, Any]]:
        """Ingest one call per caller (None: withheld), oldest first, `spacing_s` apart, the last just now."""
        now = datetime.now(UTC)
        events = []
        for i, caller in enumerate(callers):
            events.append(
                {
                    "call_ref": f"t-{uuid.uuid4().hex[:12]}",
                    "subscriber": subscriber,
                    "caller": caller,
                    "presentation": "allowed" if caller else "restricted",
                    "call_time": (now - timedelta(seconds=spacing_s * (len(callers) - i))).isoformat(),
                    "reason": "not_reachable",
                    "msc": "447953000001",
                }
            )
        response = self.stack.invoke("IngestFunction", {"events": events})
        assert response["counts"]["accepted"] == len(events), response
        return events

    def attach(self, subscriber: str) -> dict[str, Any]:
        event = {
            "subscriber": subscriber,
            "attach_time": datetime.now(UTC).isoformat(),
            "source": "alertServiceCentre",
            "hlr": "447953000100",
        }
        return self.stack.invoke("AttachFunction", event)["results"][0]

    def set_subscriber(self, subscriber: str, **attributes: Any) -> None:
        item = {"msisdn": {"S": subscriber}}
        for key, value in attributes.items():
            item[key] = {"BOOL": value} if isinstance(value, bool) else {"S": value}
        self.dynamodb.put_item(TableName=self.stack.resource_name("SubscribersTable"), Item=item)

    def set_config(self, **changes: Any) -> dict[str, Any]:
        ssm = self.stack.client("ssm")
        name = self.stack.resource_name("NotifyConfigParameter")
        config = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
        config.update(changes)
        ssm.put_parameter(Name=name, Value=json.dumps(config), Type="String", Overwrite=True)
        return config

    # ------------------------------------------------------------------ observations
    def executions(self, notification_id: str) -> list[dict[str, Any]]:
        found = []
        for execution in self.sfn.list_executions(stateMachineArn=self.notify_arn)["executions"]:
            described = self.sfn.describe_execution(executionArn=execution["executionArn"])
            if json.loads(described["input"]).get("notification_id") == notification_id:
                found.append(described)
        return found

    def wait_finished(self, notification_id: str, count: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.executions(notification_id)
            if len(runs) >= count and all(r["status"] != "RUNNING" for r in runs):
                return runs
            time.sleep(0.3)
        raise AssertionError(f"notice {notification_id} did not finish: {self.executions(notification_id)}")

    def fees(self, subscriber: str) -> list[dict[str, Any]]:
        items = self.dynamodb.scan(TableName=self.stack.resource_name("FeesTable"))["Items"]
        return [i for i in items if "subscriber" in i and i["subscriber"]["S"] == subscriber]

    def stored(self, subscriber: str) -> list[dict[str, Any]]:
        """Every stored call of the subscriber, pending or cleared (TTL deletes them)."""
        items: list[dict[str, Any]] = self.dynamodb.query(
            TableName=self.stack.resource_name("MissedCallsTable"),
            KeyConditionExpression="subscriber = :s",
            ExpressionAttributeValues={":s": {"S": subscriber}},
            ConsistentRead=True,
        )["Items"]
        return items

    def pending(self, subscriber: str) -> list[str]:
        """The stored calls no notice cleared: the subscriber's clearing mark read as stored."""
        from mcn_core.models.clearing import ClearMark

        def moment(value: str) -> datetime:
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")

        item = self.dynamodb.get_item(
            TableName=self.stack.resource_name("SubscribersTable"),
            Key={"msisdn": {"S": subscriber}},
            ConsistentRead=True,
        ).get("Item", {})
        mark = ClearMark(
            seq=int(item.get("cleared_seq", {}).get("N", 0)),
            before=moment(item["cleared_before"]["S"]) if "cleared_before" in item else None,
            refs=frozenset(item.get("cleared_refs", {}).get("SS", [])),
        )
        return sorted(
            i["call_ref"]["S"]
            for i in self.stored(subscriber)
            if not mark.covers(i["call_ref"]["S"], moment(i["received_at"]["S"]))
        )

    def sms_to(self, number: str) -> list[Any]:
        digits = number.lstrip("+")
        return [s for s in self.smsc.submits if s.destination_addr == digits and s.status == 0]
