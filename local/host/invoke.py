"""Calling a function: bind its arguments by name like the Python worker, run it, log the outcome.

Async functions run on the host's event loop; sync ones in a thread pool (as the worker does),
with the invocation's context variables copied so the app's log records carry the function name
and invocation id. Service Bus output bindings (`func.Out`) are sent after a successful return.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

import azure.functions as func
from azure.functions import _abc

from local.host.aio import call_function
from local.host.loader import FunctionSpec
from local.host.logs import current_function, current_invocation
from local.host.telemetry import invocation_span
from local.host.workers import RemoteError, WorkerPool

# Triggers whose invocations may run in a worker process when FUNCTIONS_WORKER_PROCESS_COUNT > 1
# (activities go through the durable engine; HTTP and timers stay in the host process).
REMOTE_TRIGGERS = frozenset({"serviceBusTrigger"})

log = logging.getLogger("local.host")

SendMessages = Callable[[str, Sequence[Any]], Awaitable[None]]


class _TraceContext(_abc.TraceContext):
    def __init__(self, invocation_id: str, traceparent: str | None = None) -> None:
        # The invocation span's context when the host traces (local/host/telemetry.py).
        self._parent = traceparent or f"00-{uuid.uuid4().hex}-{invocation_id.replace('-', '')[:16]}-01"

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class InvocationContext(func.Context):
    """The `context` argument the worker passes to functions that declare one."""

    def __init__(
        self, invocation_id: str, function_name: str, function_directory: str, traceparent: str | None = None
    ) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._thread_local = threading.local()
        self._trace = _TraceContext(invocation_id, traceparent)

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> threading.local:  # type: ignore[override]
        return self._thread_local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> _abc.TraceContext:
        return self._trace

    @property
    def retry_context(self) -> Any:
        return None


class OutValue(func.Out[Any]):
    """A `func.Out[T]` output binding value."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


class Invoker:
    """Runs invocations of the app's functions; shared by HTTP, timer and Service Bus triggers."""

    def __init__(
        self,
        *,
        function_directory: str,
        executor: Executor,
        durable_client_json: Callable[[], str] | None = None,
        send_messages: SendMessages | None = None,
        workers: WorkerPool | None = None,
    ) -> None:
        self._directory = function_directory
        self._executor = executor
        self._durable_client_json = durable_client_json
        self._send = send_messages
        self._workers = workers
        self.in_flight: set[asyncio.Task[Any]] = set()

    async def invoke(
        self,
        spec: FunctionSpec,
        trigger_value: Any,
        *,
        reason: str,
        executor: Executor | None = None,
        details: Mapping[str, Any] | None = None,
        trace_carrier: Mapping[str, Any] | None = None,
    ) -> Any:
        """Invoke ``spec`` with ``trigger_value`` bound to its trigger; re-raises the function's error.

        ``trace_carrier``: the trigger's trace context (message application properties, request
        headers); the invocation's span is its child, as the Functions host does."""
        invocation_id = str(uuid.uuid4())
        with invocation_span(
            spec.name, str(spec.trigger.get("type")), invocation_id, trace_carrier
        ) as parent:
            return await self._invoke(spec, trigger_value, invocation_id, parent, reason, executor, details)

    async def _invoke(
        self,
        spec: FunctionSpec,
        trigger_value: Any,
        invocation_id: str,
        traceparent: str | None,
        reason: str,
        executor: Executor | None,
        details: Mapping[str, Any] | None,
    ) -> Any:
        kwargs: dict[str, Any] = {str(spec.trigger["name"]): trigger_value}
        if spec.durable_client_arg:
            if self._durable_client_json is None:
                raise RuntimeError(f"function '{spec.name}' needs a durable client but no engine is running")
            kwargs[spec.durable_client_arg] = self._durable_client_json()
        outputs = {str(b["name"]): OutValue() for b in spec.bus_outputs if b["name"] != "$return"}
        kwargs.update(outputs)
        if spec.wants_context:
            kwargs["context"] = InvocationContext(invocation_id, spec.name, self._directory, traceparent)
        if spec.parameters:
            kwargs = {k: v for k, v in kwargs.items() if k in spec.parameters}

        fn_token = current_function.set(spec.name)
        inv_token = current_invocation.set(invocation_id)
        started = time.perf_counter()
        extra = dict(details or {})
        log.info("Executing (reason: %s)", reason, extra={"event": "executing", **extra})
        outcome = "failed"
        try:
            result = await self._call(spec, kwargs, outputs, executor, invocation_id, traceparent)
            await self._send_outputs(spec, outputs, result)
            outcome = "succeeded"
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except RemoteError as exc:  # raised in a worker process: its traceback is the worker's
            log.error(
                "Function error: %s: %s\n%s", exc.type_name, exc, exc.remote_traceback.rstrip(),
                extra={"event": "error"},
            )  # fmt: skip
            raise
        except Exception as exc:
            log.error(
                "Function error: %s: %s", type(exc).__name__, exc, exc_info=exc, extra={"event": "error"}
            )
            raise
        finally:
            duration = (time.perf_counter() - started) * 1000
            level = logging.INFO if outcome == "succeeded" else logging.WARNING
            log.log(
                level,
                "Executed",
                extra={"event": "executed", "outcome": outcome, "duration_ms": round(duration, 1), **extra},
            )
            current_invocation.reset(inv_token)
            current_function.reset(fn_token)

    async def _call(
        self,
        spec: FunctionSpec,
        kwargs: dict[str, Any],
        outputs: Mapping[str, OutValue],
        executor: Executor | None,
        invocation_id: str,
        traceparent: str | None,
    ) -> Any:
        """Run the function here, or in a worker process (`local.host.workers`) when there are
        several and its trigger is one the workers run (Service Bus)."""
        if self._workers is None or spec.trigger_type not in REMOTE_TRIGGERS:
            return await self._call_here(spec, kwargs, executor)
        async with self._workers.slot(spec.name) as worker:  # held while it runs, here or there
            if worker is None:
                return await self._call_here(spec, kwargs, executor)
            sent = {k: v for k, v in kwargs.items() if k != "context" and k not in outputs}
            context = (
                {"invocation_id": invocation_id, "traceparent": traceparent} if spec.wants_context else None
            )
            try:
                result, values = await worker.function(spec.name, sent, list(outputs), context)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                self._workers.not_picklable(spec.name, exc)  # nothing was sent: it runs here
            else:
                for name, value in values.items():
                    outputs[name].set(value)
                return result
        return await self._call_here(spec, kwargs, executor)

    async def _call_here(self, spec: FunctionSpec, kwargs: dict[str, Any], executor: Executor | None) -> Any:
        return await call_function(spec.func, kwargs, executor or self._executor)

    async def _send_outputs(self, spec: FunctionSpec, outputs: Mapping[str, OutValue], result: Any) -> None:
        for binding in spec.bus_outputs:
            name = str(binding["name"])
            value = result if name == "$return" else outputs[name].get()
            if value is None:
                continue
            if self._send is None:
                raise RuntimeError(f"function '{spec.name}': no Service Bus broker for output '{name}'")
            entity = str(binding.get("queueName") or binding.get("topicName"))
            await self._send(entity, [outgoing_message(v) for v in _as_list(value)])


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def outgoing_message(value: Any) -> Any:
    """A `shared.bus.protocol.OutgoingMessage` from what a function set on its output binding."""
    from shared.bus.protocol import OutgoingMessage

    if isinstance(value, OutgoingMessage):
        return value
    if isinstance(value, bytes):
        return OutgoingMessage(body=value, content_type=None)
    if isinstance(value, str):
        return OutgoingMessage(body=value.encode("utf-8"), content_type="text/plain")
    return OutgoingMessage(body=json.dumps(value).encode("utf-8"), content_type="application/json")
