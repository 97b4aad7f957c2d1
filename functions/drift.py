"""Drift made in Teams: the Graph webhook, the queue that processes it, and the subscription timer.
Thin: the decisions are in shared/drift (docs/drift.md).

- `graph_notifications` / `graph_lifecycle` (HTTP, each with its OWN function key in `?code=`:
  Graph cannot send headers; docs/security.md): handshake, clientState, then the accepted
  notifications go to the Service Bus queue `graph-notifications`: one message through the OUTPUT
  binding, which the host sends before the HTTP response leaves (a failed send fails the
  invocation → 500 → Graph retries). More than fits one Standard-tier message (256 KB) are split
  (shared/drift/webhook.py) and sent with the bus client before answering, since the Python
  Service Bus binding takes one `str`/`bytes` per invocation
  (https://github.com/Azure/azure-functions-python-library/issues/79). No Graph or state call.
- `graph_notification_processor` (queue trigger): echo or drift → the spine's `request(TEAMS, ...)`.
- `graph_subscriptions` (timer, on start-up and every 30 min by default): create/renew/recreate.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import azure.durable_functions as df
import azure.functions as func

from functions.durable_client import DurableClientAdapter
from functions.root import root
from shared import telemetry

if TYPE_CHECKING:
    from shared.drift.processing import BadNotificationMessage

bp = df.Blueprint()
log = logging.getLogger("cts.drift")

QUEUE = "graph-notifications"  # = shared.drift.webhook.QUEUE (literal: read at indexing time)


async def _webhook(req: func.HttpRequest, out: func.Out[str], endpoint: str) -> func.HttpResponse:
    from shared.drift.webhook import answer
    from shared.settings import get_settings

    settings = get_settings()
    reply = answer(
        req.params.get("validationToken"),
        req.get_body(),
        settings.webhook.client_state,
        endpoint=endpoint,
        tenant_id=settings.graph.tenant_id,
    )
    if len(reply.messages) == 1:
        out.set(reply.messages[0])
    elif reply.messages:
        from functions.ops import _bus
        from shared.bus.protocol import OutgoingMessage

        async with _bus() as bus:  # raises on failure: 500, Graph delivers the POST again
            await bus.send(QUEUE, [OutgoingMessage(body=m.encode("utf-8")) for m in reply.messages])
    if reply.problem:
        # Never log the presented or configured clientState.
        telemetry.count("cts.webhook.failures", endpoint=endpoint, problem=reply.problem)
        telemetry.log_event(
            log,
            "graph notifications refused",
            level=logging.WARNING,
            problem=reply.problem,
            reasons=reply.reasons,
            dropped=reply.dropped,
            accepted=reply.accepted,
            endpoint=endpoint,
        )
    if reply.accepted:
        telemetry.log_event(
            log,
            "graph notifications queued",
            accepted=reply.accepted,
            messages=len(reply.messages),
            endpoint=endpoint,
        )
    return func.HttpResponse(
        reply.body, status_code=reply.status, mimetype=reply.content_type, headers=reply.headers
    )


@bp.function_name("graph_notifications")
@bp.route(route="graph/notifications", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.service_bus_queue_output(arg_name="out", queue_name=QUEUE, connection="ServiceBusConnection")
async def graph_notifications(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    return await _webhook(req, out, "notifications")


@bp.function_name("graph_lifecycle")
@bp.route(route="graph/lifecycle", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.service_bus_queue_output(arg_name="out", queue_name=QUEUE, connection="ServiceBusConnection")
async def graph_lifecycle(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    return await _webhook(req, out, "lifecycle")


@bp.function_name("graph_notification_processor")
@bp.service_bus_queue_trigger(
    arg_name="msgs", queue_name=QUEUE, connection="ServiceBusConnection", cardinality=func.Cardinality.MANY
)
@bp.durable_client_input(client_name="client")
async def graph_notification_processor(
    msgs: list[func.ServiceBusMessage], client: df.DurableOrchestrationClient
) -> None:
    """A batch of queued POSTs (up to host.json maxMessageBatchSize), handled as one: one state
    read per distinct team however many messages name it. Graph sends a POST per change while
    the app provisions (an echo for every member it adds), so one invocation per message would
    cost the host an invocation, a broker round trip and a state read per echo."""
    from collections import Counter

    from shared.drift.processing import BadNotificationMessage, DriftProcessor
    from shared.drift.subscriptions import SubscriptionKeeper
    from shared.mirror.todo import pair_of_todo_task

    c = root()
    keeper = SubscriptionKeeper(c.gateway, c.state, c.settings.webhook)
    now = datetime.now(UTC)
    for msg in msgs:
        enqueued = getattr(msg, "enqueued_time_utc", None)
        if enqueued is not None:
            lag = (now - (enqueued if enqueued.tzinfo else enqueued.replace(tzinfo=UTC))).total_seconds()
            telemetry.observe("cts.notification.lag", max(0.0, lag))
    with telemetry.span(
        "graph notifications",
        kind=telemetry.SpanKind.CONSUMER,
        message_id=msgs[0].message_id if msgs else None,
        messages=len(msgs),
    ):
        processor = DriftProcessor(
            c.state, DurableClientAdapter(client), keeper, todo_pairs=pair_of_todo_task
        )
        results = await processor.process_batch([m.get_body() for m in msgs])
        outcomes: Counter[str] = Counter()
        for msg, result in zip(msgs, results, strict=True):
            if isinstance(result, BadNotificationMessage):
                await _reject(msg, result)
            else:
                outcomes.update(o.what for o in result)
        telemetry.log_event(
            log,
            "graph notifications processed",
            messages=len(msgs),
            notifications=sum(outcomes.values()),
            outcomes=dict(sorted(outcomes.items())),
        )


async def _reject(msg: func.ServiceBusMessage, exc: BadNotificationMessage) -> None:
    """Dead-letter one message of the batch at once with its reason, through the quarantine
    (see commerce_events); the batch's other messages are completed as usual."""
    from functions.commerce_events import reject
    from shared.bus.protocol import EntityRef
    from shared.domain.events import Rejection

    reason, detail = exc.reason, exc.detail
    telemetry.count("cts.dead_letters", entity="notifications", reason=reason)
    telemetry.log_event(
        log,
        "graph notification message rejected",
        level=logging.ERROR,
        message_id=msg.message_id,
        reason=reason,
    )
    await reject(
        msg,
        dict(msg.application_properties or {}),
        Rejection(reason=reason, description=detail),
        EntityRef(QUEUE),
    )


@bp.timer_trigger(arg_name="timer", schedule="%CTS_WEBHOOK__SUBSCRIPTION_SCHEDULE%", run_on_startup=True)
async def graph_subscriptions(timer: func.TimerRequest) -> None:
    from shared.control import write_gate
    from shared.drift.subscriptions import SubscriptionKeeper

    c = root()
    if (gate := await write_gate(c.state, c.settings)).suspended:  # kill switch: no Graph write at all
        telemetry.log_event(
            log, "graph subscriptions not kept: writes suspended", level=logging.WARNING, reason=gate.reason
        )
        return
    report = await SubscriptionKeeper(c.gateway, c.state, c.settings.webhook).ensure()
    telemetry.log_event(
        log, "graph subscriptions kept", subscriptions=report.as_dict(), past_due=timer.past_due
    )
    if report.failed:
        telemetry.count("cts.subscriptions.failed", len(report.failed))
        raise RuntimeError(f"{len(report.failed)} subscription action(s) failed: {report.failed}")
