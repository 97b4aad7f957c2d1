"""Service Bus triggers for the local host: embedded-broker messages → `func.ServiceBusMessage`.

`to_function_message` builds the binding the way the Python worker does in Azure: trigger
metadata as `Datum`s (the names and formats the Functions host sends), decoded by
`azure.functions`' own `ServiceBusMessageInConverter`. `run_delivery_loop` plays the Service Bus
extension: peek-lock, call, complete on success, abandon on failure (the exception text is kept
as the last error, for the logs; as in Azure it does not become the DeadLetterErrorDescription),
lock renewal while the handler runs (host.json `maxAutoLockRenewalDuration`), `maxConcurrentCalls`.
`run_batch_delivery_loop` plays it for a cardinality-many trigger: one batch of up to
`maxMessageBatchSize` at a time, complete all on success, abandon all on failure, no lock renewal.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import azure.functions as func
from azure.functions.meta import Datum
from azure.functions.servicebus import ServiceBusMessage, ServiceBusMessageInConverter

from shared.bus.protocol import EntityRef, ReceivedMessage

from .aio import wait_event
from .broker import Broker, MessageLockLost

log = logging.getLogger("cts.local.servicebus")

Handler = Callable[[func.ServiceBusMessage], Awaitable[None] | None]
BatchHandler = Callable[[list[func.ServiceBusMessage]], Awaitable[None] | None]

_MAX_ERROR_LENGTH = 4096  # Service Bus's limit for DeadLetterErrorDescription
_RETRY_SECONDS = 1.0


def _time(value: datetime | None) -> Datum | None:
    if value is None:
        return None
    return Datum(value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "string")


def _string(value: str | None) -> Datum | None:
    return None if value is None else Datum(value, "string")


def trigger_metadata(message: ReceivedMessage) -> dict[str, Datum]:
    """What the Functions host sends the worker with a Service Bus trigger (single cardinality)."""
    props = json.dumps(dict(message.application_properties))
    now = datetime.now(UTC)
    fields: dict[str, Datum | None] = {
        "MessageId": _string(message.message_id),
        "DeliveryCount": Datum(message.delivery_count, "int"),
        "SequenceNumber": Datum(message.sequence_number, "int"),
        "EnqueuedTimeUtc": _time(message.enqueued_time),
        "ExpiresAtUtc": _time(message.expires_at),
        "ScheduledEnqueueTimeUtc": _time(message.scheduled_enqueue_time),
        "LockToken": _string(message.lock_token),
        "LockedUntil": _time(message.locked_until),
        "ContentType": _string(message.content_type),
        "CorrelationId": _string(message.correlation_id),
        "Subject": _string(message.subject),
        "Label": _string(message.subject),
        "SessionId": _string(message.session_id),
        "To": _string(message.to),
        "ReplyTo": _string(message.reply_to),
        "ReplyToSessionId": _string(message.reply_to_session_id),
        "PartitionKey": _string(message.partition_key),
        "DeadLetterSource": _string(message.dead_letter_source),
        "DeadLetterReason": _string(message.dead_letter_reason),
        "DeadLetterErrorDescription": _string(message.dead_letter_error_description),
        # pure seconds: the worker's timedelta parser reads only HH:MM:SS, MM:SS or seconds
        "TimeToLive": _string(str(int(message.time_to_live.total_seconds())))
        if message.time_to_live
        else None,
        "State": Datum(0, "int"),  # ServiceBusMessageState.Active
        "ApplicationProperties": Datum(props, "json"),
        "UserProperties": Datum(props, "json"),
        "sys": Datum(
            json.dumps({"MethodName": "local", "UtcNow": now.isoformat(), "RandGuid": str(uuid.uuid4())}),
            "json",
        ),
    }
    return {k: v for k, v in fields.items() if v is not None}


def to_function_message(message: ReceivedMessage) -> func.ServiceBusMessage:
    """The `func.ServiceBusMessage` Azure would pass for this message.

    Built directly (the worker's own `ServiceBusMessageInConverter.decode` gives the same object,
    checked by a test, but parses every date with a dozen `strptime` formats: a third of the
    delivery cost); `metadata` is the trigger metadata the host would send."""
    props = dict(message.application_properties)

    def utc(value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    return ServiceBusMessage(
        body=message.body,
        trigger_metadata=trigger_metadata(message),
        application_properties=props,
        user_properties=dict(props),
        content_type=message.content_type,
        correlation_id=message.correlation_id,
        dead_letter_error_description=message.dead_letter_error_description,
        dead_letter_reason=message.dead_letter_reason,
        dead_letter_source=message.dead_letter_source,
        delivery_count=message.delivery_count,
        enqueued_time_utc=utc(message.enqueued_time),
        expires_at_utc=utc(message.expires_at),
        label=message.subject,
        locked_until=utc(message.locked_until),
        lock_token=message.lock_token,
        message_id=message.message_id,
        partition_key=message.partition_key,
        reply_to=message.reply_to,
        reply_to_session_id=message.reply_to_session_id,
        scheduled_enqueue_time_utc=utc(message.scheduled_enqueue_time),
        sequence_number=message.sequence_number,
        session_id=message.session_id,
        state=0,  # ServiceBusMessageState.Active
        subject=message.subject,
        time_to_live=message.time_to_live,
        to=message.to,
    )


def decode_like_the_worker(message: ReceivedMessage) -> func.ServiceBusMessage:
    """The binding as the Python worker decodes it from the host's trigger metadata (slow path,
    kept to check `to_function_message` against)."""
    decoded = ServiceBusMessageInConverter.decode(
        Datum(message.body, "bytes"), trigger_metadata=trigger_metadata(message)
    )
    assert isinstance(decoded, func.ServiceBusMessage)
    return decoded


def error_text(exc: BaseException) -> str:
    """The last error recorded for a failed delivery: the exception's own text."""
    return (str(exc) or type(exc).__name__)[:_MAX_ERROR_LENGTH]


def _entity(queue: str | None, topic: str | None, subscription: str | None) -> EntityRef:
    if (queue is None) == (topic is None or subscription is None):
        raise ValueError("give either queue=, or topic= and subscription=")
    return EntityRef(queue) if queue is not None else EntityRef(topic or "", subscription)


async def run_delivery_loop(
    broker: Broker,
    *,
    topic: str | None = None,
    subscription: str | None = None,
    queue: str | None = None,
    handler: Handler,
    stop: asyncio.Event,
    max_concurrent_calls: int = 16,
    max_auto_lock_renewal: timedelta = timedelta(minutes=5),
    drain_timeout: float = 30.0,
) -> None:
    """Deliver messages of a subscription (`topic` + `subscription`) or `queue` to `handler` until
    `stop` is set. On stop: no new receive; running handlers get `drain_timeout` s to finish, then
    are cancelled and their messages abandoned. Nothing is lost either way: an unsettled message
    becomes available again (at once if abandoned, after its lock otherwise)."""
    entity = _entity(queue, topic, subscription)
    lock_duration = await broker.lock_duration(entity)
    in_flight: set[asyncio.Task[None]] = set()
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            free = max_concurrent_calls - len(in_flight)
            if free <= 0:
                await asyncio.wait({*in_flight, stopped}, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                messages = await broker.receive(entity, max_count=free, max_wait=60.0, stop=stop)
            except Exception:  # e.g. the file locked by another process for too long: retry
                log.exception("receiving from %s failed; retrying in %.0f s", entity, _RETRY_SECONDS)
                await wait_event(stop, _RETRY_SECONDS)
                continue
            for message in messages:
                if stop.is_set():
                    await _settle(broker.abandon(message), message)
                    continue
                task = asyncio.create_task(
                    _deliver(broker, message, handler, lock_duration, max_auto_lock_renewal.total_seconds())
                )
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
    finally:
        stopped.cancel()
        if in_flight:
            _, pending = await asyncio.wait(set(in_flight), timeout=drain_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)


async def run_batch_delivery_loop(
    broker: Broker,
    *,
    topic: str | None = None,
    subscription: str | None = None,
    queue: str | None = None,
    handler: BatchHandler,
    stop: asyncio.Event,
    max_message_batch_size: int = 1000,
    drain_timeout: float = 30.0,
) -> None:
    """Deliver batches of a subscription or queue to `handler` (a cardinality-many trigger) until
    `stop` is set, as the Service Bus extension's batch receive loop does
    (Azure/azure-sdk-for-net, Microsoft.Azure.WebJobs.Extensions.ServiceBus,
    Listeners/ServiceBusListener.cs `RunBatchReceiveLoopAsync`):
    - one batch at a time ("only executes functions at a concurrency level of 1"): receive up to
      `max_message_batch_size` (host.json maxMessageBatchSize) messages, call, then receive again;
    - the function succeeded: every message of the batch is completed; it failed: every one is
      abandoned (its delivery count goes up; the broker dead-letters at max delivery count);
    - no lock renewal: the host.json reference says maxAutoLockRenewalDuration "only applies for
      functions that receive a single message at a time", so a batch slower than the lock
      duration loses its locks (settling then fails, the messages come again).
    On stop the running batch gets `drain_timeout` s, then is cancelled and abandoned."""
    entity = _entity(queue, topic, subscription)
    if max_message_batch_size < 1:
        raise ValueError("max_message_batch_size must be at least 1")
    while not stop.is_set():
        try:
            messages = await broker.receive(
                entity, max_count=max_message_batch_size, max_wait=60.0, stop=stop
            )
        except Exception:
            log.exception("receiving from %s failed; retrying in %.0f s", entity, _RETRY_SECONDS)
            await wait_event(stop, _RETRY_SECONDS)
            continue
        if not messages:
            continue
        if stop.is_set():
            for message in messages:
                await _settle(broker.abandon(message), message)
            return
        batch = asyncio.ensure_future(_deliver_batch(broker, messages, handler))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({batch, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not batch.done():
                await asyncio.wait({batch}, timeout=drain_timeout)
            if not batch.done():
                batch.cancel()
                await asyncio.gather(batch, return_exceptions=True)
        finally:
            stopped.cancel()


async def _deliver_batch(broker: Broker, messages: list[ReceivedMessage], handler: BatchHandler) -> None:
    try:
        result = handler([to_function_message(m) for m in messages])
        if inspect.isawaitable(result):
            await result
    except asyncio.CancelledError:
        await asyncio.shield(asyncio.gather(*(_settle(broker.abandon(m), m) for m in messages)))
        raise
    except Exception as exc:
        log.warning(
            "handler failed (batch of %d messages, first %s): %s",
            len(messages),
            messages[0].message_id,
            error_text(exc),
            exc_info=exc,
        )
        text = error_text(exc)
        await asyncio.gather(*(_settle(broker.abandon(m, error=text), m) for m in messages))
    else:  # together: the broker completes them in one transaction
        await asyncio.gather(*(_settle(broker.complete(m), m) for m in messages))


async def _deliver(
    broker: Broker, message: ReceivedMessage, handler: Handler, lock_duration: float, max_renewal: float
) -> None:
    renewer = asyncio.create_task(_renew_lock(broker, message, lock_duration, max_renewal))
    try:
        result = handler(to_function_message(message))
        if inspect.isawaitable(result):
            await result
    except asyncio.CancelledError:
        await asyncio.shield(_settle(broker.abandon(message), message))
        raise
    except Exception as exc:
        log.warning(
            "handler failed (delivery %d of message %s): %s",
            message.delivery_count,
            message.message_id,
            error_text(exc),
            exc_info=exc,
        )
        await _settle(broker.abandon(message, error=error_text(exc)), message)
    else:
        await _settle(broker.complete(message), message)
    finally:
        renewer.cancel()


async def _settle(settlement: Awaitable[None], message: ReceivedMessage) -> None:
    try:
        await settlement
    except MessageLockLost:
        # The lock ran out (handler slower than lock + renewal): the message is delivered again.
        log.warning(
            "lock lost for message %s (seq %d); it will be delivered again",
            message.message_id,
            message.sequence_number,
        )
    except Exception:
        # Not settled: the lock runs out and the message is delivered again. Nothing is lost.
        log.exception("settling message %s (seq %d) failed", message.message_id, message.sequence_number)


async def _renew_lock(
    broker: Broker, message: ReceivedMessage, lock_duration: float, max_renewal: float
) -> None:
    """Renew at half the lock duration until the handler ends or `max_renewal` s have passed."""
    loop = asyncio.get_running_loop()
    until = loop.time() + max_renewal
    interval = max(lock_duration / 2, 0.01)
    while loop.time() + interval < until:
        await asyncio.sleep(interval)
        try:
            await broker.renew_lock(message)
        except MessageLockLost:
            return


__all__ = [
    "decode_like_the_worker",
    "error_text",
    "run_batch_delivery_loop",
    "run_delivery_loop",
    "to_function_message",
    "trigger_metadata",
]
