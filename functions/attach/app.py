"""attach: the subscriber is reachable again (alertServiceCentre / readyForSM / updateLocation).

Starts at most one notify execution per subscriber; repeated alerts and races start none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mcn_core.handler_support import report_composed, unpack_or_reject
from mcn_core.logic.attach import AttachOutcome, AttachResult, attach_batch, tally
from mcn_core.logic.compose import prepare_notice
from mcn_core.models.calls import StoredCall
from mcn_core.models.notice import SubscriberProfile
from mcn_core.numbers import mask
from mcn_core.observability import count, logger, metrics, traced
from mcn_core.settings import AttachSettings, attach_settings
from mcn_core.wiring import notify_config, notify_store, workflow_starter

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


def _composer(
    settings: AttachSettings, composed: set[str]
) -> Callable[[dict[str, Any], SubscriberProfile, list[StoredCall], datetime], dict[str, Any]]:
    """Compose the notice here, under the lock just taken: the execution starts at its Route
    (one Lambda invocation and one task less per notice, benchmarks/notify_cost.py). If composing
    fails, the execution starts with the request and its Compose task composes (and handles the
    failure as before): an attach is never held up by composing."""

    def compose_ahead(
        request: dict[str, Any], profile: SubscriberProfile, calls: list[StoredCall], listed_at: datetime
    ) -> dict[str, Any]:
        try:
            notice = prepare_notice(
                notification_id=request["notification_id"],
                subscriber=request["subscriber"],
                store=notify_store(settings),
                config=notify_config(settings),
                now=listed_at,
                profile=profile,  # as the lock's update returned it: no read of its own
                listed=calls,  # as attach listed them: no second Query
            )
        except Exception as exc:
            count("ComposeAheadFailed")
            logger.warning("notice not composed ahead: the workflow composes it", reason=repr(exc)[:300])
            return request
        # One line for the attach and its notice (the started attach is not logged again).
        report_composed(notice, subscriber=mask(notice.subscriber), outcome=AttachOutcome.STARTED.value)
        composed.add(notice.notification_id)
        return notice.to_data()

    return compose_ahead


@traced
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    raw_events, rejected = unpack_or_reject(event, metric="AttachRejected", outcomes=[o.value for o in AttachOutcome])
    if rejected is not None:
        return rejected

    settings = attach_settings()
    composed: set[str] = set()
    results = attach_batch(
        raw_events,
        default_region=settings.default_region,
        store=notify_store(settings),
        starter=workflow_starter(settings.state_machine_arn),
        now=datetime.now(UTC),
        on_result=lambda raw, result: None if result.notification_id in composed else _log(raw, result),
        prepare=_composer(settings, composed),
    )
    counts = tally(results)
    for outcome, total in counts.items():
        count(f"Attach{outcome.title().replace('_', '')}", total)
    return {"results": [r.to_data() for r in results], "counts": counts}
