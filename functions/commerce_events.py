"""Service Bus trigger for Commerce events (topic subscription). Thin: parse, then act.

Dead-lettering bad input, with GA components only: the GA Python binding
(`func.ServiceBusMessage`) cannot settle the message (explicit settlement,
`ServiceBusMessageActions.deadletter`, exists only in the pre-release
`azurefunctions-extensions-bindings-servicebus` 1.0.0b2; see
https://github.com/Azure/azure-functions-python-extensions/issues/146). So a rejected message is
handed to the quarantine (`reject` -> shared/bus/quarantine.py): a copy is sent to the
`cts-quarantine` queue and dead-lettered there at once with the rejection's reason code as
DeadLetterReason and its description as DeadLetterErrorDescription; the function then returns and
the host completes the original. One delivery. If the copy cannot be sent, `RejectedMessage` is
raised: the host abandons the original, Service Bus redelivers it, and after `maxDeliveryCount`
dead-letters it as `MaxDeliveryCountExceeded` (`shared.ops.dlq.app_reason` still finds the code).
`quarantine_drain` (the sweeper's schedule) dead-letters a copy a crash left in the queue.
See docs/events.md, "Dead-lettering".
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from functions.durable_client import DurableClientAdapter
from functions.root import root
from shared import telemetry
from shared.bus.protocol import EntityRef, PropertyValue
from shared.commerce.events import parse_message
from shared.domain.events import CommerceHint, Rejection, TestMessage
from shared.telemetry.context import ORIGINAL_TRACEPARENT

bp = df.Blueprint()
log = logging.getLogger("cts.intake")


class RejectedMessage(Exception):
    """A message that can never be processed and that the quarantine could not take: raised so
    the host abandons it; the bus dead-letters it after maxDeliveryCount (see module doc)."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(f"{rejection.reason}: {rejection.description}")
        self.rejection = rejection


def _source() -> EntityRef:
    from shared.settings import get_settings

    bus = get_settings().bus
    return EntityRef(bus.topic, bus.subscription)


def _property(value: object) -> PropertyValue:
    return value if isinstance(value, str | int | float | bool) else str(value)


async def reject(
    msg: func.ServiceBusMessage, properties: dict[str, object], rejection: Rejection, source: EntityRef
) -> None:
    """Dead-letter `msg` at once with the rejection's reason, through the quarantine; raises
    `RejectedMessage` (the host abandons, nothing is lost) if the quarantine did not take it."""
    from functions.ops import _bus
    from shared.bus.quarantine import Rejected, quarantine

    rejected = Rejected(
        body=msg.get_body(),
        source=source,
        reason=rejection.reason,
        description=rejection.description,
        message_id=msg.message_id,
        sequence_number=msg.sequence_number,
        enqueued_time=msg.enqueued_time_utc,
        delivery_count=msg.delivery_count,
        content_type=msg.content_type,
        subject=msg.subject,
        correlation_id=msg.correlation_id,
        application_properties={k: _property(v) for k, v in properties.items() if v is not None},
    )
    try:
        async with _bus() as bus:
            await quarantine(bus, rejected)
    except Exception as exc:
        telemetry.log_event(
            log,
            "quarantine refused the message; abandoning it for redelivery",
            level=logging.WARNING,
            message_id=msg.message_id,
            reason=rejection.reason,
            error=type(exc).__name__,
        )
        raise RejectedMessage(rejection) from exc


@bp.timer_trigger(arg_name="timer", schedule="%CTS_RECONCILE__SWEEP_SCHEDULE%", run_on_startup=True)
async def quarantine_drain(timer: func.TimerRequest) -> None:
    """Dead-letter what a crash left in the quarantine queue (sent, not yet dead-lettered)."""
    from functions.ops import _bus
    from shared.bus.quarantine import QUARANTINE_QUEUE, drain

    try:
        async with _bus() as bus:
            done = await drain(bus, max_wait=1.0)
    except Exception as exc:  # the next tick tries again; the copies are safe in the queue
        telemetry.log_event(
            log,
            "quarantine drain failed",
            level=logging.WARNING,
            queue=QUARANTINE_QUEUE,
            error=type(exc).__name__,
        )
        return
    if done:
        telemetry.log_event(log, "quarantine drained", queue=QUARANTINE_QUEUE, dead_lettered=done)


@bp.function_name("commerce_event")
@bp.service_bus_topic_trigger(
    arg_name="msg",
    topic_name="%CTS_BUS__TOPIC%",
    subscription_name="%CTS_BUS__SUBSCRIPTION%",
    connection="ServiceBusConnection",
)
@bp.durable_client_input(client_name="client")
async def commerce_event(msg: func.ServiceBusMessage, client: df.DurableOrchestrationClient) -> None:
    properties = dict(msg.application_properties or {})
    # The invocation's span (the host's, parented by the message's Diagnostic-Id/traceparent) is
    # current here; a replayed dead letter also links the trace of its original delivery.
    replayed_from = telemetry.traceparent_of({"traceparent": properties.get(ORIGINAL_TRACEPARENT)})
    with telemetry.span(
        "commerce event",
        kind=telemetry.SpanKind.CONSUMER,
        links=telemetry.link_to(replayed_from, reason="dead-letter replay"),
        message_id=msg.message_id,
        replay_of=replayed_from.split("-")[1] if replayed_from else None,
    ) as span:
        await _handle(msg, properties, client, span)


async def _handle(
    msg: func.ServiceBusMessage,
    properties: dict[str, object],
    client: df.DurableOrchestrationClient,
    span: telemetry.Span,
) -> None:
    from shared.settings import get_settings

    result = parse_message(
        msg.get_body(),
        content_type=msg.content_type,
        application_properties=properties,
        legal_entities=get_settings().commerce.served_legal_entities,
    )
    if isinstance(result, TestMessage):
        telemetry.count("cts.events", outcome="test")
        telemetry.log_event(log, "endpoint test message acknowledged", message_id=msg.message_id)
        return
    if isinstance(result, Rejection):
        telemetry.count("cts.events", outcome="rejected")
        telemetry.count("cts.dead_letters", entity="commerce", reason=result.reason)
        telemetry.log_event(
            log,
            "commerce event rejected",
            level=logging.WARNING,
            message_id=msg.message_id,
            reason=result.reason,
            event_id=result.event_id,
        )
        telemetry.annotate(span, outcome="rejected", reason=result.reason, event_id=result.event_id)
        await reject(msg, properties, result, _source())
        return
    assert isinstance(result, CommerceHint)
    from shared.mirror import request_task_mirrors
    from shared.sync.intake import handle_hint

    telemetry.annotate(span, event_id=result.event_id, scope=result.scope.value, event_type=result.event_type)
    s = root()
    with telemetry.carried(event_id=result.event_id):  # the passes it starts name it in their logs
        handled = await handle_hint(
            result,
            commerce=s.commerce,
            state=s.state,
            client=DurableClientAdapter(client),
            settings=s.settings,
            tasks=request_task_mirrors,
        )
    telemetry.annotate(span, outcome=handled.outcome, team_keys=list(handled.keys))
    telemetry.count("cts.events", outcome=handled.outcome)
    telemetry.log_event(
        log,
        "commerce event",
        message_id=msg.message_id,
        scope=result.scope.value,
        event_type=result.event_type,
        event_id=result.event_id,
        outcome=handled.outcome,
        team_keys=list(handled.keys),
    )
