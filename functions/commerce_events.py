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
from shared.commerce.events import parse_message
from shared.domain.events import CommerceHint, Rejection, TestMessage

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
    from shared.settings import get_settings

    result = parse_message(
        msg.get_body(),
        content_type=msg.content_type,
        application_properties=dict(msg.application_properties or {}),
        legal_entities=get_settings().commerce.served_legal_entities,
    )
    if isinstance(result, TestMessage):
        log.info("endpoint test message acknowledged", extra={"message_id": msg.message_id})
        return
    if isinstance(result, Rejection):
        log.warning(
            "commerce event rejected",
            extra={"message_id": msg.message_id, "reason": result.reason, "event_id": result.event_id},
        )
        raise RejectedMessage(result)
    assert isinstance(result, CommerceHint)
    from shared.mirror import request_task_mirrors
    from shared.sync.intake import handle_hint

    s = root()
    handled = await handle_hint(
        result,
        commerce=s.commerce,
        state=s.state,
        client=DurableClientAdapter(client),
        settings=s.settings,
        tasks=request_task_mirrors,
    )
    log.info(
        "commerce event",
        extra={
            "message_id": msg.message_id,
            "scope": result.scope.value,
            "event_type": result.event_type,
            "event_id": result.event_id,
            "outcome": handled.outcome,
            "teams": list(handled.keys),
        },
    )
