"""Builds the adapters a handler needs from its environment, once per warm container.

Cached per configuration and endpoint (not once per process), so a process that hosts several
stacks, like the local runtime, never mixes their tables or talks to a stopped one.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

from mcn_core.settings import NotifySettings, notify_settings

if TYPE_CHECKING:
    from mcn_core.dal.notify import NotifyStore
    from mcn_core.models.config import NotifyConfig


@lru_cache(maxsize=8)
def _store(
    missed_calls: str, subscribers: str, fees: str, message_ids: str | None, endpoint: str | None
) -> NotifyStore:
    from mcn_core.dal.notify import NotifyStore

    return NotifyStore(missed_calls, subscribers, fees, message_ids)


def notify_store(settings: NotifySettings | None = None) -> NotifyStore:
    settings = settings or notify_settings()
    return _store(
        settings.missed_calls_table,
        settings.subscribers_table,
        settings.fees_table,
        settings.message_ids_table,
        os.environ.get("AWS_ENDPOINT_URL"),
    )


def notify_config(settings: NotifySettings | None = None) -> NotifyConfig:
    from mcn_core.dal.config import load_notify_config

    settings = settings or notify_settings()
    return load_notify_config(settings.notify_config_parameter, settings.config_cache_seconds)
