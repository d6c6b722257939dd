"""The adapters' AWS clients and the values they keep for a while (configuration, secrets).

botocore's clients, not boto3's: `boto3.client(...)` is botocore's client behind boto3's session, and
importing boto3 (its resources, docs and transfer manager) costs a cold start 0.12x `import boto3`
on top of botocore, for nothing the adapters use. Powertools Parameters is not used either: its
package imports boto3 and every provider (0.08x more), for a cache of one value with a maximum age,
which `KeptValues` is. (benchmarks/cold_import.py; docs/architecture.md "Lean layers".)
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Hashable
from functools import lru_cache
from typing import Any, Generic, TypeVar

_V = TypeVar("_V")


@lru_cache(maxsize=1)
def _session() -> Any:
    import botocore.session

    return botocore.session.get_session()


_client_lock = threading.Lock()  # a botocore session does not create clients from two threads at once


@lru_cache(maxsize=32)
def _client(service: str, endpoint: str | None, region: str | None) -> Any:
    with _client_lock:
        return _session().create_client(service, region_name=region, endpoint_url=endpoint)


def aws_client(service: str) -> Any:
    """A client of `service` for this process's AWS_REGION and AWS_ENDPOINT_URL, as `boto3.client` makes it.

    One per endpoint: a process that serves several stacks (the local runtime, the test suite) must
    never call another stack's endpoint with a client it kept. In Lambda there is one endpoint.
    """
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return _client(service, os.environ.get("AWS_ENDPOINT_URL"), region)


class KeptValues(Generic[_V]):
    """Values read from a store, each kept for a maximum age (per key) before it is read again."""

    def __init__(self) -> None:
        self._values: dict[Hashable, tuple[float, _V]] = {}

    def get(self, key: Hashable, max_age_s: float, read: Callable[[], _V], *, fresh: bool = False) -> _V:
        """The value kept for `key` if younger than `max_age_s` (and not `fresh`), else `read()` kept anew."""
        now = time.monotonic()
        kept = self._values.get(key)
        if kept is not None and not fresh and now - kept[0] < max_age_s:
            return kept[1]
        value = read()
        self._values[key] = (now, value)
        return value

    def clear(self) -> None:
        self._values.clear()
