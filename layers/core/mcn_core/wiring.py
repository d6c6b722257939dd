"""The one place adapters are built: stores, Step Functions starters, the SMS sender, the config.

Each is built once per warm container and cached per configuration and endpoint (not once per
process), so a process that hosts several stacks, like the local runtime, never mixes their
tables or talks to a stopped one. Handlers ask here; nothing else builds an adapter.
Imports are deferred: the DynamoDB client stack is most of a cold start, and a batch whose
events are all rejected never needs it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

from mcn_core.settings import IngestSettings, NotifySettings, OutcomesSettings, ReceiptsSettings, notify_settings

if TYPE_CHECKING:
    from mcn_core.dal.calls import DynamoCallStore
    from mcn_core.dal.notify import NotifyStore
    from mcn_core.dal.origination import DynamoFlashCallStore, OriginationQueue
    from mcn_core.dal.receipts import DynamoReceiptStore
    from mcn_core.dal.relay import LambdaSmsRelay
    from mcn_core.dal.workflow import StepFunctionsStarter
    from mcn_core.models.config import NotifyConfig
    from mcn_core.sms import PooledSmsSender


def _endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL")


@lru_cache(maxsize=8)
def _call_store(missed_calls: str, subscribers: str, write_concurrency: int, endpoint: str | None) -> DynamoCallStore:
    from mcn_core.dal.calls import DynamoCallStore

    return DynamoCallStore(missed_calls, subscribers, write_concurrency=write_concurrency)


def call_store(settings: IngestSettings) -> DynamoCallStore:
    """ingest's store."""
    return _call_store(settings.missed_calls_table, settings.subscribers_table, settings.write_concurrency, _endpoint())


@lru_cache(maxsize=8)
def _notify_store(
    missed_calls: str, subscribers: str, fees: str, message_ids: str | None, endpoint: str | None
) -> NotifyStore:
    from mcn_core.dal.notify import NotifyStore

    return NotifyStore(missed_calls, subscribers, fees, message_ids)


def notify_store(settings: NotifySettings | None = None) -> NotifyStore:
    """attach's and the notify tasks' store."""
    settings = settings or notify_settings()
    return _notify_store(
        settings.missed_calls_table,
        settings.subscribers_table,
        settings.fees_table,
        settings.message_ids_table,
        _endpoint(),
    )


@lru_cache(maxsize=8)
def _receipt_store(fees: str, message_ids: str, subscribers: str, endpoint: str | None) -> DynamoReceiptStore:
    from mcn_core.dal.receipts import DynamoReceiptStore

    return DynamoReceiptStore(fees, message_ids, subscribers)


def receipt_store(settings: ReceiptsSettings) -> DynamoReceiptStore:
    """receipts' store (fee status by message id, subscriber keywords)."""
    return _receipt_store(settings.fees_table, settings.message_ids_table, settings.subscribers_table, _endpoint())


@lru_cache(maxsize=8)
def _origination_queue(queue_url: str, endpoint: str | None) -> OriginationQueue:
    from mcn_core.dal.origination import OriginationQueue

    return OriginationQueue(queue_url)


def origination_queue(settings: NotifySettings | None = None) -> OriginationQueue | None:
    """Where Record requests the notice's missed calls placed on behalf (None: not configured)."""
    settings = settings or notify_settings()
    if not settings.origination_queue_url:
        return None
    return _origination_queue(settings.origination_queue_url, _endpoint())


@lru_cache(maxsize=8)
def _flash_call_store(fees: str, endpoint: str | None) -> DynamoFlashCallStore:
    from mcn_core.dal.origination import DynamoFlashCallStore

    return DynamoFlashCallStore(fees)


def flash_call_store(settings: OutcomesSettings) -> DynamoFlashCallStore:
    """FlashCallOutcomes' store (the fee record by notification id)."""
    return _flash_call_store(settings.fees_table, _endpoint())


@lru_cache(maxsize=8)
def _starter(state_machine_arn: str, endpoint: str | None) -> StepFunctionsStarter:
    from mcn_core.dal.workflow import StepFunctionsStarter

    return StepFunctionsStarter(state_machine_arn)


def workflow_starter(state_machine_arn: str) -> StepFunctionsStarter:
    """Starts executions of one state machine (creating a boto3 client costs milliseconds per call)."""
    return _starter(state_machine_arn, _endpoint())


@lru_cache(maxsize=1)
def sms_sender() -> PooledSmsSender:
    """Sends through the SMPP layer's process-wide pool (it follows the SMPP_* environment itself)."""
    from mcn_core.sms import PooledSmsSender

    return PooledSmsSender()


@lru_cache(maxsize=8)
def _relay(function_name: str, endpoint: str | None) -> LambdaSmsRelay:
    from mcn_core.dal.relay import LambdaSmsRelay

    return LambdaSmsRelay(function_name)


def reply_sender(settings: ReceiptsSettings) -> LambdaSmsRelay | PooledSmsSender:
    """Keyword replies go through the submitting function (the fleet's SMSC budget), else out of this process."""
    if settings.sms_submit_function:
        return _relay(settings.sms_submit_function, _endpoint())
    return sms_sender()


def notify_config(settings: NotifySettings | None = None) -> NotifyConfig:
    """The operator's configuration (cached per parameter and endpoint by dal.config, max age from settings)."""
    from mcn_core.dal.config import load_notify_config

    settings = settings or notify_settings()
    return load_notify_config(settings.notify_config_parameter, settings.config_cache_seconds)


def ingest_tenants(settings: IngestSettings) -> NotifyConfig | None:
    """The operator's configuration for ingest's tenant resolution (None when not configured)."""
    if not settings.notify_config_parameter:
        return None
    from mcn_core.dal.config import load_notify_config

    return load_notify_config(settings.notify_config_parameter, settings.config_cache_seconds)
