"""attach: the subscriber is reachable again (alertServiceCentre / readyForSM / updateLocation).

Starts at most one notify execution per subscriber; repeated alerts and races start none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mcn_core.handler_support import unpack_or_reject
from mcn_core.logic.attach import AttachOutcome, AttachResult, attach_batch, tally
from mcn_core.numbers import mask
from mcn_core.observability import count, logger, metrics, traced
from mcn_core.settings import attach_settings
from mcn_core.wiring import notify_store, workflow_starter

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def _log(raw: Any, result: AttachResult) -> None:
    subscriber = raw.get("subscriber") if isinstance(raw, dict) else None
    log = logger.warning if result.outcome is AttachOutcome.REJECTED else logger.info
    log(
        "attach handled",
        subscriber=mask(subscriber if isinstance(subscriber, str) else None),
        outcome=result.outcome.value,
        notification_id=result.notification_id,
        reason=result.reason,
    )


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    raw_events, rejected = unpack_or_reject(event, metric="AttachRejected", outcomes=[o.value for o in AttachOutcome])
    if rejected is not None:
        return rejected

    settings = attach_settings()
    results = attach_batch(
        raw_events,
        default_region=settings.default_region,
        store=notify_store(settings),
        starter=workflow_starter(settings.state_machine_arn),
        now=datetime.now(UTC),
        on_result=_log,
    )
    counts = tally(results)
    for outcome, total in counts.items():
        count(f"Attach{outcome.title().replace('_', '')}", total)
    return {"results": [r.model_dump(mode="json") for r in results], "counts": counts}
