"""Service Bus triggers: declare each trigger's queue or topic/subscription on the embedded broker
and run the broker's delivery loop (`local.host.servicebus.run_delivery_loop`) for it.

The delivery loop completes a message when the function returns and abandons it when it raises
(the broker dead-letters after ``max_delivery_count``), which is the Functions runtime's
``autoCompleteMessages`` behaviour. Sync functions run in a thread pool sized to the trigger's
concurrency, so a slow function never blocks the loop or other triggers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import azure.functions as func

from local.host.invoke import Invoker
from local.host.loader import FunctionSpec

log = logging.getLogger("local.host")

# infra/resources.bicep gives every topic `requiresDuplicateDetection: true` with
# `duplicateDetectionHistoryTimeWindow: 'PT10M'`: a second message with the same MessageId within
# 10 minutes is accepted and dropped by Service Bus
# (https://learn.microsoft.com/azure/service-bus-messaging/duplicate-detection). The topics the
# host declares get the same window, so a resend that Azure would drop is dropped here too
# (tests/unit/test_infra_settings.py checks the two agree).
TOPIC_DUPLICATE_DETECTION = timedelta(minutes=10)


class BusUnavailable(RuntimeError):
    """The app has Service Bus triggers but the embedded broker/delivery loop is not available."""


def delivery_loop_function(name: str = "run_delivery_loop") -> Callable[..., Any]:
    try:
        from local.host import servicebus
    except ImportError as exc:
        raise BusUnavailable(
            "Service Bus triggers need the embedded broker's delivery loop "
            f"(local/host/servicebus.py: {name}), which is not available: {exc}"
        ) from exc
    loop: Callable[..., Any] | None = getattr(servicebus, name, None)
    if loop is None:
        raise BusUnavailable(f"local/host/servicebus.py has no {name}")
    return loop


def entity_label(spec: FunctionSpec) -> str:
    t = spec.trigger
    if t.get("queueName"):
        return f"queue '{t['queueName']}'"
    return f"topic '{t['topicName']}' subscription '{t['subscriptionName']}'"


async def declare_entities(
    broker: Any, triggers: list[FunctionSpec], *, max_delivery_count: int, lock_duration: timedelta
) -> None:
    """Create the queues and topic subscriptions the triggers listen on (idempotent)."""
    topics: dict[str, list[str]] = {}
    for spec in triggers:
        t = spec.trigger
        if t.get("queueName"):
            await broker.ensure_queue(
                str(t["queueName"]), max_delivery_count=max_delivery_count, lock_duration=lock_duration
            )
        else:
            topics.setdefault(str(t["topicName"]), []).append(str(t["subscriptionName"]))
    for topic, subscriptions in topics.items():
        await broker.ensure_topic(
            topic,
            subscriptions=subscriptions,
            max_delivery_count=max_delivery_count,
            lock_duration=lock_duration,
            duplicate_detection_window=TOPIC_DUPLICATE_DETECTION,
        )


class BusTriggers:
    """One delivery loop per Service Bus trigger, all stopped by one event."""

    def __init__(
        self,
        triggers: list[FunctionSpec],
        invoker: Invoker,
        broker: Any,
        *,
        max_concurrent_calls: int,
        max_auto_lock_renewal: timedelta = timedelta(minutes=5),
        drain_timeout: float = 30.0,
        max_message_batch_size: int = 1000,
    ) -> None:
        self.triggers = triggers
        self.max_message_batch_size = max_message_batch_size
        self.invoker = invoker
        self.broker = broker
        self.max_concurrent_calls = max_concurrent_calls
        self.max_auto_lock_renewal = max_auto_lock_renewal
        self.drain_timeout = drain_timeout
        self.stop_event = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._executors: list[ThreadPoolExecutor] = []

    def start(self) -> None:
        for spec in self.triggers:
            if spec.is_batch:
                self._start_batch(spec)
                continue
            run_delivery_loop = delivery_loop_function()
            accepted = set(inspect.signature(run_delivery_loop).parameters)
            executor = ThreadPoolExecutor(
                max_workers=self.max_concurrent_calls, thread_name_prefix=f"sb-{spec.name}"
            )
            self._executors.append(executor)
            t = spec.trigger
            kwargs: dict[str, Any] = {
                "handler": self._handler(spec, executor),
                "stop": self.stop_event,
                "max_concurrent_calls": self.max_concurrent_calls,
                "max_auto_lock_renewal": self.max_auto_lock_renewal,
                "drain_timeout": self.drain_timeout,
            }
            if t.get("queueName"):
                kwargs["queue"] = str(t["queueName"])
            else:
                kwargs["topic"] = str(t["topicName"])
                kwargs["subscription"] = str(t["subscriptionName"])
            if "name" in accepted:
                kwargs["name"] = spec.name
            kwargs = {k: v for k, v in kwargs.items() if k in accepted or _has_var_kw(run_delivery_loop)}
            self._tasks.append(
                asyncio.create_task(run_delivery_loop(self.broker, **kwargs), name=f"servicebus:{spec.name}")
            )

    def _start_batch(self, spec: FunctionSpec) -> None:
        """A cardinality-many trigger: one batch at a time (no executor pool: concurrency 1)."""
        run_batch_delivery_loop = delivery_loop_function("run_batch_delivery_loop")
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sb-{spec.name}")
        self._executors.append(executor)
        label = entity_label(spec)

        async def handle(messages: list[func.ServiceBusMessage]) -> None:
            await self.invoker.invoke(
                spec,
                messages,
                reason=f"new messages on {label}",
                executor=executor,
                details={"messages": len(messages), "first_message_id": messages[0].message_id},
                # The batch's invocation continues the first message's trace.
                trace_carrier=dict(messages[0].application_properties or {}),
            )

        t = spec.trigger
        where: dict[str, str] = (
            {"queue": str(t["queueName"])}
            if t.get("queueName")
            else {"topic": str(t["topicName"]), "subscription": str(t["subscriptionName"])}
        )
        self._tasks.append(
            asyncio.create_task(
                run_batch_delivery_loop(
                    self.broker,
                    handler=handle,
                    stop=self.stop_event,
                    max_message_batch_size=self.max_message_batch_size,
                    drain_timeout=self.drain_timeout,
                    **where,
                ),
                name=f"servicebus:{spec.name}",
            )
        )

    def _handler(self, spec: FunctionSpec, executor: ThreadPoolExecutor) -> Callable[[Any], Any]:
        label = entity_label(spec)

        async def handle(message: func.ServiceBusMessage) -> None:
            await self.invoker.invoke(
                spec,
                message,
                reason=f"new message on {label}",
                executor=executor,
                details={"message_id": message.message_id, "delivery_count": message.delivery_count},
                trace_carrier=dict(message.application_properties or {}),
            )

        return handle

    async def stop(self, grace: float) -> None:
        """Stop receiving; in-flight messages finish within ``grace`` s or return to the queue."""
        self.stop_event.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace + 5)
            for task in pending:
                task.cancel()
            results = await asyncio.gather(*self._tasks, return_exceptions=True)
            for spec, result in zip(self.triggers, results, strict=False):
                if isinstance(result, Exception):
                    log.error("delivery loop of '%s' ended with %r", spec.name, result)
        for executor in self._executors:
            executor.shutdown(wait=False, cancel_futures=True)


def _has_var_kw(fn: Callable[..., Any]) -> bool:
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(fn).parameters.values())
