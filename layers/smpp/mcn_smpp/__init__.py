"""Pooled SMPP layer: exact GSM 03.38 encoding, windowed binds, TPS licence, outcomes.

Import-light on purpose (Lambda cold start): only the pure encoding module is imported
eagerly; the pool, config and receipts modules load on first attribute access.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from mcn_smpp.gsm0338 import (
    EncodedMessage,
    MessageTooLong,
    SegmentCount,
    SegmentPlan,
    WirePart,
    encode_message,
    segments,
)

_LAZY: dict[str, str] = {
    "SmppConfig": "mcn_smpp.config",
    "ConfigError": "mcn_smpp.config",
    "CredentialsProvider": "mcn_smpp.credentials",
    "EnvCredentials": "mcn_smpp.credentials",
    "StaticCredentials": "mcn_smpp.credentials",
    "SecretsManagerCredentials": "mcn_smpp.credentials",
    "Outcome": "mcn_smpp.outcomes",
    "PartResult": "mcn_smpp.outcomes",
    "SendResult": "mcn_smpp.outcomes",
    "classify_status": "mcn_smpp.outcomes",
    "DeliveryReceipt": "mcn_smpp.receipts",
    "InboundMessage": "mcn_smpp.receipts",
    "parse_receipt_text": "mcn_smpp.receipts",
    "classify_deliver": "mcn_smpp.receipts",
    "looks_like_receipt_text": "mcn_smpp.receipts",
    "SmppPool": "mcn_smpp.pool",
    "get_pool": "mcn_smpp.pool",
    "close_pool": "mcn_smpp.pool",
    "TokenBucket": "mcn_smpp.ratelimit",
}

__all__ = [
    "EncodedMessage",
    "MessageTooLong",
    "SegmentCount",
    "SegmentPlan",
    "WirePart",
    "encode_message",
    "segments",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'mcn_smpp' has no attribute {name!r}")
    value = getattr(import_module(module_name), name)
    globals()[name] = value
    return value
