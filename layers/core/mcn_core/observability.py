"""Logger and metrics shared by every function (Powertools: JSON logs, EMF metrics).

Service name, namespace and level come from POWERTOOLS_* variables set in template.yaml.
Phone numbers are masked before they reach a log call (`mcn_core.numbers.mask`).
"""

from __future__ import annotations

import sys
import warnings
from typing import IO, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord
from aws_lambda_powertools.metrics import MetricUnit

# The log group already names the function (and its memory): repeated on every line they were a
# third of the log bytes a notice pays for (benchmarks/notify_cost.py). The request id stays.
_REDUNDANT_KEYS = ("function_name", "function_arn", "function_memory_size")


class _LeanFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: LogRecord) -> str:
        lean = {key: value for key, value in log.items() if key not in _REDUNDANT_KEYS}
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


def count(name: str, value: int = 1) -> None:
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
