"""Where MWD registrations live, shared by every gateway instance: DynamoDB (MwdRegistrationsTable).

One item per subscriber (hash key `subscriber`, E.164 with '+'), `expires_at` (epoch seconds) for TTL:

| state        | meaning                                                        | expires_at            |
| ------------ | -------------------------------------------------------------- | --------------------- |
| `pending`    | an instance (`owner`) runs the HLR dialogues                   | now + claim_ttl_s     |
| `registered` | the HLR confirmed: the platform's GT is in the subscriber's MWD | now + registration_ttl |
| `failed`     | the HLR could not be reached / refused; retry after a hold-off  | now + failure_holdoff |
| `reachable`  | the HLR said the subscriber is reachable: nothing to register   | now + reachable_holdoff |

A claim is a conditional put (`attribute_not_exists(subscriber) OR expires_at < :now`): of two instances
seeing the first call of an absence, exactly one wins. Later transitions are conditional on the owner, so
an instance whose claim was cleared by the attach alert (or taken over after expiry) cannot resurrect it.
DynamoDB deletes expired items lazily, hence the explicit `expires_at < :now` in the claim.

This module is the only one of the MAP client side that knows about AWS.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

STATE_PENDING = "pending"
STATE_REGISTERED = "registered"
STATE_FAILED = "failed"
STATE_REACHABLE = "reachable"


class StoreError(Exception):
    """The registration table could not be reached or answered with an error."""


@dataclass(frozen=True, slots=True)
class Claim:
    won: bool
    state: str | None = None  # when lost: the state of the registration in force (if known)
    expires_at: int | None = None


class RegistrationStore(Protocol):
    def claim(self, subscriber: str, owner: str, now: int, expires_at: int) -> Claim: ...

    def transition(self, subscriber: str, owner: str, state: str, now: int, expires_at: int, **fields: str) -> bool:
        """Move an owned registration to `state`; False when it is no longer ours (cleared, taken over)."""

    def clear(self, subscriber: str) -> bool:
        """Delete the subscriber's registration; True when there was one."""

    def get(self, subscriber: str) -> dict | None: ...


class MemoryRegistrationStore:
    """Single-instance store (unit tests, a gateway run without a table). Same semantics as DynamoDB."""

    def __init__(self) -> None:
        self._items: dict[str, dict] = {}
        self._lock = threading.Lock()

    def claim(self, subscriber: str, owner: str, now: int, expires_at: int) -> Claim:
        with self._lock:
            item = self._items.get(subscriber)
            if item is not None and item["expires_at"] >= now:
                return Claim(False, item["state"], item["expires_at"])
            self._items[subscriber] = {
                "subscriber": subscriber,
                "state": STATE_PENDING,
                "owner": owner,
                "updated_at": now,
                "expires_at": expires_at,
            }
            return Claim(True)

    def transition(self, subscriber: str, owner: str, state: str, now: int, expires_at: int, **fields: str) -> bool:
        with self._lock:
            item = self._items.get(subscriber)
            if item is None or item["owner"] != owner:
                return False
            item.update(fields, state=state, updated_at=now, expires_at=expires_at)
            return True

    def clear(self, subscriber: str) -> bool:
        with self._lock:
            return self._items.pop(subscriber, None) is not None

    def get(self, subscriber: str) -> dict | None:
        with self._lock:
            item = self._items.get(subscriber)
            return dict(item) if item else None


class DynamoRegistrationStore:
    """The shared store on DynamoDB (boto3, low-level client; short timeouts: the MAP side must not stall)."""

    def __init__(
        self,
        table_name: str,
        region: str,
        endpoint_url: str | None = None,
        timeout_s: float = 3.0,
        client: object | None = None,
    ) -> None:
        self.table_name = table_name
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "dynamodb",
                region_name=region,
                endpoint_url=endpoint_url,
                config=Config(
                    connect_timeout=min(timeout_s, 2.0),
                    read_timeout=timeout_s,
                    retries={"max_attempts": 2, "mode": "standard"},
                ),
            )
        self.client = client

    def _call(self, operation: str, **kwargs: object) -> dict:
        try:
            return getattr(self.client, operation)(TableName=self.table_name, **kwargs)
        except Exception as exc:
            if _is_conditional_failure(exc):
                raise
            raise StoreError(f"{operation}: {type(exc).__name__}: {exc}") from exc

    def claim(self, subscriber: str, owner: str, now: int, expires_at: int) -> Claim:
        try:
            self._call(
                "put_item",
                Item={
                    "subscriber": {"S": subscriber},
                    "state": {"S": STATE_PENDING},
                    "owner": {"S": owner},
                    "updated_at": {"N": str(now)},
                    "expires_at": {"N": str(expires_at)},
                },
                ConditionExpression="attribute_not_exists(subscriber) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(now)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as exc:
            if not _is_conditional_failure(exc):
                raise
            old = getattr(exc, "response", {}).get("Item") or {}
            state = old.get("state", {}).get("S")
            expires = old.get("expires_at", {}).get("N")
            return Claim(False, state, int(expires) if expires else None)
        return Claim(True)

    def transition(self, subscriber: str, owner: str, state: str, now: int, expires_at: int, **fields: str) -> bool:
        names = {"#state": "state", "#owner": "owner"}
        values = {
            ":state": {"S": state},
            ":owner": {"S": owner},
            ":now": {"N": str(now)},
            ":expires": {"N": str(expires_at)},
        }
        sets = ["#state = :state", "updated_at = :now", "expires_at = :expires"]
        for index, (name, value) in enumerate(sorted(fields.items())):
            names[f"#f{index}"] = name
            values[f":f{index}"] = {"S": value}
            sets.append(f"#f{index} = :f{index}")
        try:
            self._call(
                "update_item",
                Key={"subscriber": {"S": subscriber}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(subscriber) AND #owner = :owner",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def clear(self, subscriber: str) -> bool:
        response = self._call("delete_item", Key={"subscriber": {"S": subscriber}}, ReturnValues="ALL_OLD")
        return bool(response.get("Attributes"))

    def get(self, subscriber: str) -> dict | None:
        item = self._call("get_item", Key={"subscriber": {"S": subscriber}}, ConsistentRead=True).get("Item")
        if not item:
            return None
        return {key: int(value["N"]) if "N" in value else value.get("S") for key, value in item.items()}


def _is_conditional_failure(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def make_store(table_name: str | None, region: str, endpoint_url: str | None, timeout_s: float) -> RegistrationStore:
    if not table_name:
        return MemoryRegistrationStore()
    return DynamoRegistrationStore(table_name, region, endpoint_url, timeout_s)


def epoch() -> int:
    return int(time.time())
