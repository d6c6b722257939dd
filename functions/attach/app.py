"""attach: the subscriber is reachable again (alertServiceCentre / readyForSM / updateLocation).

Starts at most one notify execution per subscriber; repeated alerts and races start none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from mcn_core.handler_support import unpack_or_reject
from mcn_core.logic.attach import AttachOutcome, handle_attach, tally
from mcn_core.numbers import mask
from mcn_core.observability import count, logger, metrics, traced
from mcn_core.settings import notify_settings
from mcn_core.wiring import notify_store

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from mcn_core.dal.workflow import StepFunctionsStarter


@lru_cache(maxsize=4)
def _starter(state_machine_arn: str) -> StepFunctionsStarter:
    """One client per warm container (creating a boto3 client costs milliseconds per invocation)."""
    from mcn_core.dal.workflow import StepFunctionsStarter

    return StepFunctionsStarter(state_machine_arn)


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict:
    raw_events, rejected = unpack_or_reject(event, metric="AttachRejected", outcomes=[o.value for o in AttachOutcome])
    if rejected is not None:
        return rejected

    settings = notify_settings()
    if not settings.state_machine_arn:
        raise RuntimeError("NOTIFY_STATE_MACHINE_ARN is not set: the function's environment is incomplete")
    starter = _starter(settings.state_machine_arn)
    store = notify_store(settings)
    now = datetime.now(UTC)
    results = []
    for index, raw in enumerate(raw_events):
        result = handle_attach(
            raw, index, default_region=settings.default_region, store=store, starter=starter, now=now
        )
        results.append(result)
        subscriber = raw.get("subscriber") if isinstance(raw, dict) else None
        log = logger.warning if result.outcome is AttachOutcome.REJECTED else logger.info
        log(
            "attach handled",
            subscriber=mask(subscriber if isinstance(subscriber, str) else None),
            outcome=result.outcome.value,
            notification_id=result.notification_id,
            reason=result.reason,
        )
    counts = tally(results)
    for outcome, total in counts.items():
        count(f"Attach{outcome.title().replace('_', '')}", total)
    return {"results": [r.model_dump(mode="json") for r in results], "counts": counts}
