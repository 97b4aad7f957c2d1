"""Service Bus trigger for Commerce events (topic subscription). Thin: parse, then act.

Dead-lettering bad input: the GA Python binding (`func.ServiceBusMessage`) cannot settle a
message; explicit settlement (`ServiceBusMessageActions.deadletter`) exists only in the preview
`azurefunctions-extensions-bindings-servicebus` (1.0.0b2; see
https://github.com/Azure/azure-functions-python-extensions/issues/146). So a rejected message
raises `RejectedMessage`, whose text starts with the rejection's reason code; the runtime abandons
it and Service Bus dead-letters it after `maxDeliveryCount`. Parsing does no I/O, so those
deliveries cost nothing, and nothing is lost. See docs/events.md.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from functions.durable_client import DurableClientAdapter
from functions.root import root
from shared import telemetry
from shared.commerce.events import parse_message
from shared.domain.events import CommerceHint, Rejection, TestMessage
from shared.telemetry.context import ORIGINAL_TRACEPARENT

bp = df.Blueprint()
log = logging.getLogger("cts.intake")


class RejectedMessage(Exception):
    """A message that can never be processed; the bus dead-letters it (see module doc)."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(f"{rejection.reason}: {rejection.description}")
        self.rejection = rejection


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
        raise RejectedMessage(result)
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
