"""Logger and metrics shared by every function (Powertools: JSON logs, EMF metrics).

Service name, namespace and level come from POWERTOOLS_* variables set in template.yaml.
Phone numbers are masked before they reach a log call (`mcn_core.numbers.mask`).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from typing import IO, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord
from aws_lambda_powertools.metrics import MetricUnit

# The log group already names the function (and its memory): repeated on every line they were a
# third of the log bytes a notice pays for (benchmarks/notify_cost.py). CloudWatch stamps every
# event with its time, and each message names its place, so `timestamp` and `location` went too;
# `cold_start` is kept only when true (the line that paid for an init). The request id stays.
_REDUNDANT_KEYS = ("function_name", "function_arn", "function_memory_size", "timestamp", "location")


class _LeanFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: LogRecord) -> str:
        lean = {
            key: value
            for key, value in log.items()
            if key not in _REDUNDANT_KEYS and not (key == "cold_start" and value is False)
        }
        # The service as the environment says now, not as it was at import: the same in Lambda (one
        # function per process), right in a local runtime where the functions share this module.
        service = os.environ.get("POWERTOOLS_SERVICE_NAME")
        if service and "service" in lean:
            lean["service"] = service
        return super().serialize(lean)


class _CurrentStdout:
    """Writes to whatever sys.stdout is now (Lambda: CloudWatch), not the one seen at import.

    Lets a local runtime collect each invocation's logs like CloudWatch would.
    """

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


# A task that had nothing to count (e.g. NotifyMe with no takers) is normal, not worth a warning per call.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger(stream=cast(IO[str], _CurrentStdout()), logger_formatter=_LeanFormatter())  # write/flush is all it uses
metrics = Metrics()


Handler = TypeVar("Handler", bound=Callable[..., Any])


def traced(handler: Handler) -> Handler:
    """Powertools Tracer around a handler when the stack's `Tracing` parameter is Active.

    template.yaml sets POWERTOOLS_TRACE_DISABLED=false then: the invocation and every AWS call
    (boto3 is patched) become X-Ray subsegments. Off (the default), the X-Ray SDK is not even
    imported, so tracing costs no cold start when nobody pays for traces.
    """
    # Only an explicit "false" turns it on: an absent or unreadable value leaves tracing off.
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() not in {"0", "false", "no", "off"}:
        return handler
    from aws_lambda_powertools import Tracer

    return cast(Handler, Tracer().capture_lambda_handler(handler))


def count(name: str, value: int = 1) -> None:
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
