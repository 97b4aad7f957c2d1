"""The durable engine: runs orchestrations of a function app on the real durable SDK.

Orchestrations advance in *episodes*, as with the Durable extension: take the instance's new
messages (start, activity/sub-orchestration/timer completions, external events), replay the
whole history plus those messages through the SDK (`replay.run_episode`), then commit in one
SQLite transaction the new history, the consumed messages, and the work the episode scheduled
(activities, timers, sub-orchestrations, messages to a parent). A kill at any moment loses
nothing: uncommitted episodes are replayed, unfinished activities run again (at least once).

One instance never runs two episodes at once; different instances interleave (up to
``max_concurrent_orchestrations`` replays at a time, each in a worker thread); activities run
concurrently up to ``max_concurrent_activities`` (sync ones in a thread pool, async ones on the
loop).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from local.host.aio import wait_event
from local.host.durable import api
from local.host.durable.errors import (
    InstanceAlreadyRunning,
    InstanceGone,
    InstanceNotFound,
    InstanceNotTerminal,
    OrchestratorNotFound,
)
from local.host.durable.history import EventType, event, fmt, parse, public, utcnow
from local.host.durable.registry import DurableRegistry
from local.host.durable.replay import Decision, run_episode
from local.host.durable.store import TERMINAL, Instance, Message, Outgoing, Store, Work
from local.host.workers import WorkerPool, error_details, error_type

log = logging.getLogger("local.host.durable")

RUNNING_STATES = ("Pending", "Running", "ContinuedAsNew", "Suspended")


def payload_text(value: Any) -> str:
    """A Python value as the JSON text the SDK would produce (``df_dumps``)."""
    from azure.functions._durable_functions import df_dumps

    return str(df_dumps(value))


class DurableEngine:
    """Durable Functions for one app, persisted in one SQLite file (the task hub)."""

    def __init__(
        self,
        db_path: str | Path,
        registry: DurableRegistry,
        *,
        max_concurrent_activities: int = 8,
        max_concurrent_orchestrations: int = 8,
        hub_name: str = "cts",
        workers: WorkerPool | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.registry = registry
        self.workers = workers  # FUNCTIONS_WORKER_PROCESS_COUNT > 1: activities run there too
        self.max_concurrent_activities = max(1, max_concurrent_activities)
        self.max_concurrent_orchestrations = max(1, max_concurrent_orchestrations)
        self.hub_name = hub_name
        self.base_url: str | None = None  # set by client_binding_json; used for activity clients
        self._store: Store | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._orch_queue: asyncio.Queue[str] = asyncio.Queue()
        self._work_queue: asyncio.Queue[Work] = asyncio.Queue()
        self._queued: set[str] = set()
        self._busy: set[str] = set()
        self._again: set[str] = set()
        self._running_work: set[int] = set()
        self._timer_changed = asyncio.Event()
        self._status_changed = asyncio.Event()
        self._activity_pool: ThreadPoolExecutor | None = None
        self._replay_pool: ThreadPoolExecutor | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the task hub and resume everything in flight (work, timers, messages)."""
        if self._store is not None:
            return
        self._store = Store(self.db_path)
        self._orch_queue = asyncio.Queue()
        self._work_queue = asyncio.Queue()
        self._timer_changed = asyncio.Event()
        self._status_changed = asyncio.Event()
        self._activity_pool = ThreadPoolExecutor(
            self.max_concurrent_activities, thread_name_prefix="activity"
        )
        self._replay_pool = ThreadPoolExecutor(
            self.max_concurrent_orchestrations, thread_name_prefix="orchestrator"
        )
        for _ in range(self.max_concurrent_orchestrations):
            self._tasks.append(
                asyncio.create_task(self._orchestration_worker(), name="durable-orchestrations")
            )
        for _ in range(self.max_concurrent_activities):
            self._tasks.append(asyncio.create_task(self._activity_worker(), name="durable-activities"))
        self._tasks.append(asyncio.create_task(self._timer_loop(), name="durable-timers"))
        for work in self._store.all_work():  # interrupted activities run again: at least once
            self._dispatch(work)
        for instance_id in self._store.due_instances(time.time()):
            self._wake(instance_id)
        log.info("durable engine started (%s)", self.db_path, extra={"event": "durable_started"})

    async def stop(self) -> None:
        """Stop at once; whatever was in flight resumes from the database on the next start."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for pool in (self._activity_pool, self._replay_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._activity_pool = self._replay_pool = None
        self._queued.clear()
        self._busy.clear()
        self._again.clear()
        self._running_work.clear()
        if self._store is not None:
            self._store.close()
            self._store = None

    async def __aenter__(self) -> DurableEngine:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the durable engine is not started (await engine.start())")
        return self._store

    # -- client operations --------------------------------------------------------------------

    async def start_new(self, name: str, instance_id: str | None = None, input: Any = None) -> str:
        """Start orchestrator ``name`` with a Python value as input (serialized like the SDK client)."""
        token = None if input is None else json.dumps(payload_text(input))
        return self.start_new_raw(name, instance_id, token)

    def start_new_raw(self, name: str, instance_id: str | None, input_token: str | None) -> str:
        """Start with the input as the JSON the client posted (the SDK client posts its
        ``df_dumps`` text as a JSON string, and the extension keeps that token). Singleton semantics:

        an instance id whose instance is Pending/Running is refused (`InstanceAlreadyRunning`);
        a Completed/Failed/Terminated one is replaced by a new execution with a fresh history —
        the extension's default (``overridableExistingInstanceStates: NonRunningStates``).
        """
        if self.registry.orchestrator(name) is None:
            known = ", ".join(f"'{n}'" for n in sorted(self.registry.orchestrators)) or "none"
            raise OrchestratorNotFound(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. "
                f"Additional info: The following are the known orchestrator functions: {known}."
            )
        instance_id = instance_id or uuid.uuid4().hex
        with self.store.transaction() as db:
            existing = self.store.instance(instance_id)
            if existing is not None and existing.status in RUNNING_STATES:
                raise InstanceAlreadyRunning(instance_id, existing.status)
            if existing is not None:
                self.store.delete_instance(db, instance_id)
            self._create(db, instance_id, name, input_token, parent=None)
        self._wake(instance_id)
        self._changed()
        return instance_id

    def _create(
        self,
        db: Any,
        instance_id: str,
        name: str,
        input_token: str | None,
        parent: tuple[str, str, int] | None,
    ) -> None:
        now = utcnow()
        execution_id = uuid.uuid4().hex
        self.store.put_instance(
            db,
            Instance(
                instance_id,
                name,
                execution_id,
                "Pending",
                input_token,
                None,
                None,
                fmt(now),
                fmt(now),
                *(parent or (None, None, None)),
            ),
        )
        started = event(
            EventType.EXECUTION_STARTED,
            now,
            Name=name,
            Version="",
            Input=input_token,
            OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
            ParentInstance={
                "OrchestrationInstance": {"InstanceId": parent[0], "ExecutionId": parent[1]},
                "TaskScheduleId": parent[2],
            }
            if parent
            else None,
        )
        self.store.post(db, [Outgoing(instance_id, execution_id, started)])

    async def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        """Send an external event (a Python value) to a Pending/Running instance."""
        self.raise_event_raw(instance_id, name, payload_text(data))

    def raise_event_raw(self, instance_id: str, name: str, data_text: str | None) -> None:
        inst = self.store.instance(instance_id)
        if inst is None:
            raise InstanceNotFound(instance_id)
        if inst.is_terminal:
            raise InstanceGone(instance_id, inst.status)
        with self.store.transaction() as db:
            self.store.post(
                db,
                [
                    Outgoing(
                        instance_id, None, event(EventType.EVENT_RAISED, utcnow(), Name=name, Input=data_text)
                    )
                ],
            )
        self._wake(instance_id)

    async def terminate(self, instance_id: str, reason: str | None = None) -> None:
        """Terminate a Pending/Running instance (takes effect at its next episode, within ms)."""
        inst = self.store.instance(instance_id)
        if inst is None:
            raise InstanceNotFound(instance_id)
        if inst.is_terminal:
            raise InstanceGone(instance_id, inst.status)
        with self.store.transaction() as db:
            self.store.post(
                db,
                [Outgoing(instance_id, None, event(EventType.EXECUTION_TERMINATED, utcnow(), Input=reason))],
            )
        self._wake(instance_id)

    async def purge(self, instance_id: str) -> int:
        """Delete a terminal instance and its history; 0 if there is none (like the extension)."""
        inst = self.store.instance(instance_id)
        if inst is None:
            return 0
        if not inst.is_terminal:
            raise InstanceNotTerminal(instance_id, inst.status)
        with self.store.transaction() as db:
            self.store.delete_instance(db, instance_id)
        self._changed()
        return 1

    async def purge_by(
        self,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        runtime_status: list[Any] | None = None,
    ) -> int:
        """Delete the terminal instances created in the window with the given statuses."""
        statuses = [getattr(s, "value", s) for s in runtime_status or []] or list(TERMINAL)
        found = self.store.instances(
            statuses=[s for s in statuses if s in TERMINAL],
            created_from=fmt(created_from) if created_from else None,
            created_to=fmt(created_to or utcnow()),
        )
        with self.store.transaction() as db:
            for inst in found:
                self.store.delete_instance(db, inst.instance_id)
        self._changed()
        return len(found)

    async def get_status(
        self,
        instance_id: str,
        show_history: bool = False,
        show_input: bool = True,
        show_history_output: bool = False,
    ) -> dict[str, Any] | None:
        """The status JSON the extension returns for ``GET instances/{id}``, or None."""
        return self.status_of(
            instance_id,
            show_history=show_history,
            show_input=show_input,
            show_history_output=show_history_output,
        )

    def status_of(
        self,
        instance_id: str,
        *,
        show_history: bool = False,
        show_input: bool = True,
        show_history_output: bool = False,
    ) -> dict[str, Any] | None:
        inst = self.store.instance(instance_id)
        if inst is None:
            return None
        status = _status_json(inst, show_input)
        if show_history:
            status["historyEvents"] = public(self.store.history(instance_id), with_output=show_history_output)
        return status

    async def list_instances(
        self,
        runtime_status: list[Any] | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        instance_id_prefix: str | None = None,
        show_input: bool = True,
    ) -> list[dict[str, Any]]:
        return self.list_status(
            [getattr(s, "value", s) for s in runtime_status or []],
            fmt(created_from) if created_from else None,
            fmt(created_to) if created_to else None,
            instance_id_prefix,
            show_input,
        )

    def list_status(
        self,
        statuses: list[str],
        created_from: str | None,
        created_to: str | None,
        prefix: str | None,
        show_input: bool,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        found = self.store.instances(
            statuses=statuses, created_from=created_from, created_to=created_to, prefix=prefix, limit=limit
        )
        return [_status_json(i, show_input) for i in found]

    async def wait_for_completion(
        self,
        instance_id: str,
        timeout: float = 30.0,  # noqa: ASYNC109 - part of the engine's API
    ) -> dict[str, Any]:
        """Wait until the instance is Completed/Failed/Terminated; its status. TimeoutError if not."""
        deadline = time.monotonic() + timeout
        while True:
            changed = self._status_changed
            status = self.status_of(instance_id)
            if status is not None and status["runtimeStatus"] in TERMINAL:
                return status
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"instance '{instance_id}' did not complete within {timeout} s "
                    f"(status: {status['runtimeStatus'] if status else 'not found'})"
                )
            await wait_event(changed, min(remaining, 0.5))

    # -- management API -------------------------------------------------------------------------

    def client_binding_json(self, base_url: str) -> str:
        """The durableClient input binding value the host passes to client functions."""
        self.base_url = base_url.rstrip("/")
        return api.client_binding_json(self.base_url, self.hub_name)

    def asgi_app(self) -> Any:
        """The Starlette app for ``/runtime/webhooks/durabletask`` (the SDK client's endpoints)."""
        return api.management_app(self)

    # -- dispatch --------------------------------------------------------------------------------

    def _changed(self) -> None:
        self._status_changed.set()
        self._status_changed = asyncio.Event()

    def _wake(self, instance_id: str) -> None:
        if instance_id in self._busy:
            self._again.add(instance_id)
        elif instance_id not in self._queued:
            self._queued.add(instance_id)
            self._orch_queue.put_nowait(instance_id)

    def _dispatch(self, work: Work) -> None:
        if work.id not in self._running_work:
            self._running_work.add(work.id)
            self._work_queue.put_nowait(work)

    async def _timer_loop(self) -> None:
        while True:
            now = time.time()
            for instance_id in self.store.due_instances(now):
                self._wake(instance_id)
            nxt = self.store.next_due(now)
            delay = 1.0 if nxt is None else min(1.0, max(0.0, nxt - time.time()))
            self._timer_changed.clear()
            await wait_event(self._timer_changed, delay)

    async def _orchestration_worker(self) -> None:
        while True:
            instance_id = await self._orch_queue.get()
            self._queued.discard(instance_id)
            self._busy.add(instance_id)
            try:
                await self._episode(instance_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("durable episode of '%s' failed; it will be retried", instance_id)
                await asyncio.sleep(0.5)
                self._again.add(instance_id)
            finally:
                self._busy.discard(instance_id)
                if instance_id in self._again:
                    self._again.discard(instance_id)
                    self._wake(instance_id)

    async def _activity_worker(self) -> None:
        while True:
            work = await self._work_queue.get()
            try:
                await self._run_activity(work)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("durable activity '%s' could not be recorded", work.name)
            finally:
                self._running_work.discard(work.id)

    async def _run_activity(self, work: Work) -> None:
        activity = self.registry.activity(work.name)
        completed_at = utcnow()
        if activity is None:
            outcome = event(
                EventType.TASK_FAILED,
                completed_at,
                TaskScheduledId=work.task_id,
                Reason=f"The function '{work.name}' doesn't exist, is disabled, "
                "or is not an activity function.",
                Details="",
            )
        else:
            try:
                result = await self._invoke_activity(activity, work)
                outcome = event(
                    EventType.TASK_COMPLETED, utcnow(), TaskScheduledId=work.task_id, Result=result
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outcome = event(
                    EventType.TASK_FAILED,
                    utcnow(),
                    TaskScheduledId=work.task_id,
                    Reason=f"Activity function '{work.name}' failed: {error_type(exc)}: {exc}",
                    Details=error_details(exc),
                )
        with self.store.transaction() as db:
            if not self.store.finish_work(db, work.id):
                return  # the instance finished, restarted or was purged meanwhile
            self.store.post(db, [Outgoing(work.instance_id, work.execution_id, outcome)])
        self._wake(work.instance_id)

    async def _invoke_activity(self, activity: Any, work: Work) -> str:
        """Run the activity here or in a worker process (`WorkerPool.slot`: the fewest of this
        activity in flight)."""
        assert self._activity_pool is not None
        if self.workers is None:
            return await self._invoke_here(activity, work)
        async with self.workers.slot(work.name) as worker:  # held while it runs, here or there
            if worker is None:
                return await self._invoke_here(activity, work)
            client = self._client_json() if activity.client_arg else None
            return await worker.activity(work.name, work.input, client)

    async def _invoke_here(self, activity: Any, work: Work) -> str:
        assert self._activity_pool is not None
        return str(
            await activity.invoke(work.input, executor=self._activity_pool, client_json=self._client_json)
        )

    def _client_json(self) -> str:
        if self.base_url is None:
            raise RuntimeError("an activity asked for a durable client before the host set its base URL")
        return self.client_binding_json(self.base_url)

    # -- episodes --------------------------------------------------------------------------------

    async def _episode(self, instance_id: str) -> None:
        store = self.store
        inst = store.instance(instance_id)
        messages = store.visible_messages(instance_id, time.time())
        if not messages:
            return
        if inst is None or inst.is_terminal:  # late completions, events, timers: nobody waits
            with store.transaction() as db:
                store.consume(db, [m.id for m in messages])
            return
        current = [m for m in messages if m.execution_id in (None, inst.execution_id)]
        stale = [m for m in messages if m.execution_id not in (None, inst.execution_id)]
        terminate = next((m for m in current if m.event["EventType"] == EventType.EXECUTION_TERMINATED), None)
        if terminate is not None:
            self._terminate(inst, terminate)
            return
        history = store.history(instance_id)
        started = [m for m in current if m.event["EventType"] == EventType.EXECUTION_STARTED]
        if not history and not started:
            return  # external events before the start message: they wait for it
        current = started + [m for m in current if m.event["EventType"] != EventType.EXECUTION_STARTED]
        now = utcnow()
        episode = [event(EventType.ORCHESTRATOR_STARTED, now)] + [
            dict(m.event, IsPlayed=False) for m in current
        ]
        replayed = [dict(e, IsPlayed=True) for e in history] + episode
        orchestrator = self.registry.orchestrator(inst.name)
        if orchestrator is None:
            decision = Decision(
                "failed", error=f"orchestrator function '{inst.name}' is not registered in this app"
            )
        else:
            loop = asyncio.get_running_loop()
            decision = await loop.run_in_executor(
                self._replay_pool,
                run_episode,
                orchestrator,
                instance_id,
                replayed,
                None if inst.input is None else json.loads(inst.input),
                inst.parent_instance_id,
                now,
            )
        self._commit(
            inst, episode, decision, consumed=[m.id for m in current + stale], now=now, history=history
        )

    def _commit(
        self,
        inst: Instance,
        episode: list[dict[str, Any]],
        decision: Decision,
        *,
        consumed: list[int],
        now: datetime,
        history: list[dict[str, Any]],
    ) -> None:
        store, iid = self.store, inst.instance_id
        custom = None if decision.custom_status is None else json.dumps(decision.custom_status)
        wake: set[str] = set()
        new_work: list[Work] = []
        with store.transaction() as db:
            store.consume(db, consumed)
            if decision.outcome == "running":
                posts: list[Outgoing] = []
                for ev in decision.new_events:
                    self._schedule(db, inst, ev, posts, new_work, wake)
                store.post(db, posts)
                store.cancel_timers(db, iid, inst.execution_id, decision.cancelled_timers)
                done = event(EventType.ORCHESTRATOR_COMPLETED, utcnow())
                store.append_history(db, iid, [*episode, *decision.new_events, done])
                store.update_instance(
                    db, iid, status="Running", custom_status=custom, updated_at=fmt(utcnow())
                )
            elif decision.outcome == "continued":
                carried = _unconsumed_events(history + episode, decision.consumed_events)
                store.clear_pending(db, iid, keep_unbound=True)
                db.execute("DELETE FROM history WHERE instance_id = ?", (iid,))
                execution_id = uuid.uuid4().hex
                token = None if decision.continue_input is None else json.dumps(decision.continue_input)
                started = event(
                    EventType.EXECUTION_STARTED,
                    utcnow(),
                    Name=inst.name,
                    Version="",
                    Input=token,
                    OrchestrationInstance={"InstanceId": iid, "ExecutionId": execution_id},
                )
                store.post(db, [Outgoing(iid, execution_id, started)])
                store.post(db, [Outgoing(iid, execution_id, dict(e, IsPlayed=False)) for e in carried])
                store.update_instance(
                    db,
                    iid,
                    execution_id=execution_id,
                    input=token,
                    status="Running",
                    output=None,
                    custom_status=custom,
                    updated_at=fmt(utcnow()),
                )
                wake.add(iid)
            else:
                failed = decision.outcome == "failed"
                result = (
                    json.dumps(f"Orchestrator function '{inst.name}' failed: {decision.error}")
                    if failed
                    else json.dumps(decision.output)
                )
                finished = event(
                    EventType.EXECUTION_COMPLETED,
                    utcnow(),
                    OrchestrationStatus="Failed" if failed else "Completed",
                    Result=result,
                )
                store.append_history(
                    db, iid, [*episode, finished, event(EventType.ORCHESTRATOR_COMPLETED, utcnow())]
                )
                store.clear_pending(db, iid)
                store.update_instance(
                    db,
                    iid,
                    status="Failed" if failed else "Completed",
                    output=result,
                    custom_status=custom,
                    updated_at=fmt(utcnow()),
                )
                self._notify_parent(db, inst, failed=failed, result=result, wake=wake)
                if failed:
                    log.warning("orchestration '%s' (%s) failed: %s", iid, inst.name, decision.error)
        for work in new_work:
            self._dispatch(work)
        for target in wake:
            self._wake(target)
        self._timer_changed.set()
        self._changed()

    def _schedule(
        self,
        db: Any,
        inst: Instance,
        ev: dict[str, Any],
        posts: list[Outgoing],
        new_work: list[Work],
        wake: set[str],
    ) -> None:
        iid, execution_id, task_id = inst.instance_id, inst.execution_id, ev["EventId"]
        kind = ev["EventType"]
        if kind == EventType.TASK_SCHEDULED:
            work_id = self.store.add_work(db, iid, execution_id, task_id, ev["Name"], ev.get("Input"))
            new_work.append(Work(work_id, iid, execution_id, task_id, ev["Name"], ev.get("Input")))
        elif kind == EventType.TIMER_CREATED:
            fired = event(EventType.TIMER_FIRED, ev["FireAt"], TimerId=task_id, FireAt=ev["FireAt"])
            posts.append(Outgoing(iid, execution_id, fired, visible_at=parse(ev["FireAt"]).timestamp()))
        elif kind == EventType.SUB_ORCHESTRATION_INSTANCE_CREATED:
            child_id = ev.get("InstanceId") or f"{iid}:{task_id}"
            ev["InstanceId"] = child_id
            problem = None
            child = self.store.instance(child_id)
            if self.registry.orchestrator(ev["Name"]) is None:
                problem = (
                    f"The function '{ev['Name']}' doesn't exist, is disabled, "
                    "or is not an orchestrator function."
                )
            elif child is not None and child.status in RUNNING_STATES:
                problem = f"An Orchestration instance with the status {child.status} already exists."
            if problem is not None:
                failed = event(
                    EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
                    utcnow(),
                    TaskScheduledId=task_id,
                    Reason=problem,
                    Details="",
                )
                posts.append(Outgoing(iid, execution_id, failed))
                wake.add(iid)
                return
            if child is not None:
                self.store.delete_instance(db, child_id)
            child_input = ev.get("Input")
            token = None if child_input is None else json.dumps(child_input)
            self._create(db, child_id, ev["Name"], token, parent=(iid, execution_id, task_id))
            wake.add(child_id)

    def _notify_parent(self, db: Any, inst: Instance, *, failed: bool, result: str, wake: set[str]) -> None:
        if not inst.parent_instance_id:
            return
        if failed:
            message = event(
                EventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
                utcnow(),
                TaskScheduledId=inst.parent_task_id,
                Reason=json.loads(result),
                Details="",
            )
        else:
            message = event(
                EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED,
                utcnow(),
                TaskScheduledId=inst.parent_task_id,
                Result=result,
            )
        self.store.post(db, [Outgoing(inst.parent_instance_id, inst.parent_execution_id, message)])
        wake.add(inst.parent_instance_id)

    def _terminate(self, inst: Instance, message: Message) -> None:
        reason = message.event.get("Input")
        output = json.dumps(reason)
        wake: set[str] = set()
        with self.store.transaction() as db:
            self.store.clear_pending(db, inst.instance_id)
            self.store.append_history(
                db, inst.instance_id, [event(EventType.EXECUTION_TERMINATED, utcnow(), Input=reason)]
            )
            self.store.update_instance(
                db, inst.instance_id, status="Terminated", output=output, updated_at=fmt(utcnow())
            )
            self._notify_parent(
                db,
                inst,
                failed=True,
                result=json.dumps(f"Orchestrator function '{inst.name}' was terminated: {reason}"),
                wake=wake,
            )
        for target in wake:
            self._wake(target)
        self._changed()


def _unconsumed_events(events: list[dict[str, Any]], consumed: dict[str, int]) -> list[dict[str, Any]]:
    """External events this execution received but did not take: carried to the next one."""
    left = dict(consumed)
    carried = []
    for ev in events:
        if ev["EventType"] != EventType.EVENT_RAISED:
            continue
        name = str(ev.get("Name"))
        if left.get(name, 0) > 0:
            left[name] -= 1
        else:
            carried.append(ev)
    return carried


def _status_json(inst: Instance, show_input: bool) -> dict[str, Any]:
    """``StatusResponsePayload`` (HttpApiHandler.ConvertFrom): times as ``yyyy-MM-ddTHH:mm:ssZ``."""
    return {
        "name": inst.name,
        "instanceId": inst.instance_id,
        "runtimeStatus": inst.status,
        "input": _json_or_none(inst.input) if show_input else None,
        "customStatus": _json_or_none(inst.custom_status),
        "output": _json_or_none(inst.output),
        "createdTime": inst.created_at[:19] + "Z",
        "lastUpdatedTime": inst.updated_at[:19] + "Z",
    }


def _json_or_none(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
