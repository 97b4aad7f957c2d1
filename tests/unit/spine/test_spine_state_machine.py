"""The spine's rule, in one place: nothing lost, at most one extra pass.

A Hypothesis state machine drives the spine's own code -- `request`, `sweep`, `run_pass`, the
`orchestrate` generator and `RequestQueue.finish` over a real `StateStore` (SQLite) -- through
interleavings of events, passes, requests racing a pass or a completion, refused starts, crashes
(a requester dying between counting and starting, a pass or finish activity failing the instance),
a second pass holding the lease, and sweeps with the clock moving. Only Durable's instance table
is modelled (`DurableModel`: one instance per id, a start refused while it runs, Failed/Completed
with a time), standing in for the `OrchestrationClient` adapter, not for a service.

Each "change" to a key bumps a world version *before* its request is counted (an event follows the
change it reports). A pass reads the version when it reads the world. Checked:
- a finished pass that marks request n done has read a version at least as new as request n's;
- a pass that covers nothing new is one a requester or the sweeper started racing another pass,
  never a `continue_as_new` (so a burst costs at most one extra pass);
- the sweeper never restarts a Failed/Terminated key inside its back-off;
- when things settle (no crashes, the clock past the back-off, sweeps), every key's last pass has
  read its latest version and no request is left uncovered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from shared.spine import BUSY, Feature, PassResult, RequestQueue, orchestrate, request, run_pass, sweep
from shared.spine.requests import ACTIVE_STATUSES
from shared.spine.run import activity_result
from shared.state import StateStore
from shared.state.sqlite import SqliteBackend

BACKOFF = 300.0
KEYS = ("k1", "k2")
PROBE = Feature(
    name="probe",
    partition="probe",
    orchestrator="probe_pass_orchestrator",
    instance_prefix="probe",
    lease_ttl=timedelta(minutes=10),
    busy_attempts=3,
)


class Crash(Exception):
    pass


@dataclass
class Context:
    """The orchestration context `orchestrate` sees: each call returns what was scheduled."""

    instance_id: str
    input: Any
    current_utc_datetime: datetime
    continued: Any = None
    status: Any = None

    def get_input(self) -> Any:
        return self.input

    def call_activity(self, name: str, input_: Any = None) -> Any:
        return ("activity", name, input_)

    def call_activity_with_retry(self, name: str, retry_options: Any, input_: Any = None) -> Any:
        return ("activity", name, input_)

    def create_timer(self, fire_at: datetime) -> Any:
        return ("timer", fire_at)

    def set_custom_status(self, status: Any) -> None:
        self.status = status

    def continue_as_new(self, input_: Any) -> None:
        self.continued = input_


@dataclass
class Instance:
    key: str
    status: str
    origin: str  # request | sweeper | continue
    context: Context
    gen: Generator[Any, Any, Any]
    task: Any
    updated: datetime
    done_before: int = 0


@dataclass
class DurableModel:
    """Durable's instance table, as the spine's `OrchestrationClient` sees it."""

    now: datetime
    instances: dict[str, Instance] = field(default_factory=dict)
    refuse: int = 0  # the next n starts are refused (a Durable hiccup)
    starts: list[tuple[str, str]] = field(default_factory=list)

    async def runtime_status(self, instance_id: str) -> str | None:
        found = self.instances.get(instance_id)
        return None if found is None else found.status

    async def start_new(self, orchestrator: str, instance_id: str, input: Any) -> None:
        assert orchestrator == PROBE.orchestrator
        if self.refuse:
            self.refuse -= 1
            raise RuntimeError("503 from the task hub")
        found = self.instances.get(instance_id)
        if found is not None and found.status in ACTIVE_STATUSES:
            raise RuntimeError(f"an instance with id {instance_id} is already running")
        origin = "sweeper" if input["reason"] == "sweeper" else "request"
        self.instances[instance_id] = self._begin(input["key"], instance_id, input, origin)
        self.starts.append((input["key"], origin))

    async def last_updated(self, instance_id: str) -> datetime | None:
        found = self.instances.get(instance_id)
        return None if found is None else found.updated

    def _begin(self, key: str, instance_id: str, input: Any, origin: str) -> Instance:
        context = Context(instance_id, input, self.now)
        gen = orchestrate(PROBE, context, retry=None)
        return Instance(key, "Running", origin, context, gen, next(gen), self.now)


class SpineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.store = StateStore(SqliteBackend(":memory:"))
        self.queue = RequestQueue(self.store, PROBE)
        self.durable = DurableModel(now=datetime(2026, 1, 1, tzinfo=UTC))
        self.world = dict.fromkeys(KEYS, 0)  # version of each key's data
        self.version_of_request: dict[str, dict[int, int]] = {k: {0: 0} for k in KEYS}
        self.last_read = dict.fromkeys(KEYS, 0)  # what the last finished pass read
        self.reading: dict[str, int] = {}  # instance id -> version its pass read
        self.lease_held: set[str] = set()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    # -- the world and the requests ---------------------------------------------------------
    async def _change_and_request(self, key: str) -> str:
        self.world[key] += 1
        number = await self.store.requests_counted(PROBE.partition, key) + 1
        self.version_of_request[key][number] = self.world[key]
        return await request(PROBE, key, self.durable, self.queue, reason="change")

    @rule(key=st.sampled_from(KEYS), refused=st.integers(0, 4))
    def change(self, key: str, refused: int) -> None:
        """A change to the key, and its request (starts may be refused: never raises)."""
        self.durable.refuse = refused
        assert self.run(self._change_and_request(key)) in ("started", "pending")
        self.durable.refuse = 0

    @rule(key=st.sampled_from(KEYS))
    def change_and_crash_before_starting(self, key: str) -> None:
        """The requester counts the request and dies before it starts anything."""
        self.world[key] += 1
        number = self.run(self.queue.request(key))
        self.version_of_request[key][number] = self.world[key]

    @rule(key=st.sampled_from(KEYS))
    def other_pass_takes_or_drops_the_lease(self, key: str) -> None:
        """A pass outside the orchestration (the nightly reconciliation) holds the key."""
        if key in self.lease_held:
            self.run(self.store.release_lease(key, "reconcile"))
            self.lease_held.discard(key)
        elif self.run(self.store.acquire_lease(key, "reconcile", PROBE.lease_ttl or timedelta(0))):
            self.lease_held.add(key)

    @rule(seconds=st.sampled_from([0.0, 10.0, BACKOFF + 1]))
    def sweep(self, seconds: float) -> None:
        self.durable.now += timedelta(seconds=seconds)
        before = {iid: (i.status, i.updated) for iid, i in self.durable.instances.items()}
        started = self.run(
            sweep(PROBE, self.durable, self.queue, failed_retry_after_seconds=BACKOFF, now=self.durable.now)
        )
        for key in started:
            status, updated = before.get(PROBE.instance_id(key), (None, self.durable.now))
            assert status not in ACTIVE_STATUSES
            if status in ("Failed", "Terminated"):
                assert (self.durable.now - updated).total_seconds() >= BACKOFF, "restarted inside back-off"

    # -- the orchestration, one scheduled task at a time -----------------------------------
    def _running(self) -> list[str]:
        return sorted(iid for iid, i in self.durable.instances.items() if i.status == "Running")

    @precondition(lambda self: bool(self._running()))
    @rule(
        data=st.data(),
        during=st.integers(0, 2),
        after_read=st.integers(0, 2),
        crash=st.booleans(),
    )
    def step(self, data: st.DataObject, during: int, after_read: int, crash: bool) -> None:
        """The next scheduled task of a running orchestration; requests may race its pass."""
        iid = data.draw(st.sampled_from(self._running()))
        self.run(self._step(self.durable.instances[iid], during, after_read, crash))

    async def _step(self, inst: Instance, during: int, after_read: int, crash: bool) -> None:
        kind, *args = inst.task
        try:
            if kind == "timer":
                answer: Any = None
            elif args[0] == PROBE.pass_activity:
                answer = await self._pass(inst, during, after_read, crash)
            else:
                assert args[0] == PROBE.finish_activity
                if crash:
                    raise Crash("finish activity failed for good")
                answer = await self._finish(inst, int(args[1]["covered"]))
        except Crash:
            inst.status, inst.updated = "Failed", self.durable.now
            self.reading.pop(inst.context.instance_id, None)
            return
        try:
            inst.task = inst.gen.send(answer)
        except StopIteration:
            inst.updated = self.durable.now
            if inst.context.continued is not None:
                fresh = self.durable._begin(
                    inst.key, inst.context.instance_id, inst.context.continued, "continue"
                )
                self.durable.instances[inst.context.instance_id] = fresh
            else:
                inst.status = "Completed"

    async def _pass(self, inst: Instance, during: int, after_read: int, crash: bool) -> dict[str, Any]:
        key = inst.key

        async def feature_pass(k: str) -> PassResult:
            for _ in range(during):  # requests made after the pass began, before it reads
                await self._change_and_request(k)
            self.reading[inst.context.instance_id] = self.world[k]
            for _ in range(after_read):  # requests after it read: the next pass's
                await self._change_and_request(k)
            if crash:
                raise Crash("pass activity failed for good")
            return PassResult(key=k, outcome="changed")

        inst.done_before = await self._done(key)
        result = await run_pass(self.queue, key, feature_pass, owner=inst.context.instance_id)
        if result.outcome == BUSY:  # it counted a request for the holder: no change behind it
            assert key in self.lease_held
            counted = await self.store.requests_counted(PROBE.partition, key)
            self.version_of_request[key][counted] = self.world[key]
        return activity_result(result)

    async def _finish(self, inst: Instance, covered: int) -> bool:
        key = inst.key
        more = await self.queue.finish(key, covered)
        read = self.reading.pop(inst.context.instance_id, None)
        if read is None:  # the pass was busy: it covered nothing and read nothing
            assert covered == 0
            return more
        assert read >= self.version_of_request[key][covered], "a request marked done its pass did not see"
        self.last_read[key] = max(self.last_read[key], read)
        if covered <= inst.done_before:
            assert inst.origin != "continue", "continue_as_new ran a pass with nothing new to cover"
        return more

    async def _done(self, key: str) -> int:
        found = await self.store.backend.get("requests", PROBE.partition, key)
        return 0 if found is None else int(found.data["done"])

    # -- checks ----------------------------------------------------------------------------
    @invariant()
    def uncovered_requests_are_running_or_swept(self) -> None:
        """A key with uncovered requests is running, or in the list the sweeper reads."""
        pending = set(self.run(self.queue.pending()))
        for key in KEYS:
            counted = self.run(self.store.requests_counted(PROBE.partition, key))
            if counted > self.run(self._done(key)):
                assert key in pending

    def teardown(self) -> None:
        try:
            for key in list(self.lease_held):
                self.run(self.store.release_lease(key, "reconcile"))
            self.lease_held.clear()
            for _ in range(200):
                running = self._running()
                if running:
                    self.run(self._step(self.durable.instances[running[0]], 0, 0, False))
                    continue
                if not self.run(self.queue.pending()):
                    break
                self.sweep(BACKOFF + 1)
            assert self._running() == [] and self.run(self.queue.pending()) == []
            for key in KEYS:
                if self.world[key]:
                    assert self.last_read[key] == self.world[key], f"{key}: a change was never passed over"
        finally:
            self.run(self.store.close())
            self.loop.close()


TestSpineNothingLostAtMostOneExtraPass = SpineMachine.TestCase
TestSpineNothingLostAtMostOneExtraPass.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# -- the same rules, as single scenarios a reader can follow ------------------------------------
async def test_a_burst_during_a_pass_costs_exactly_one_more_pass() -> None:
    store = StateStore(SqliteBackend(":memory:"))
    queue, durable = RequestQueue(store, PROBE), DurableModel(now=datetime(2026, 1, 1, tzinfo=UTC))
    try:
        assert await request(PROBE, "k1", durable, queue, reason="event 1") == "started"
        inst = durable.instances[PROBE.instance_id("k1")]
        passes = 0

        async def feature_pass(key: str) -> PassResult:
            nonlocal passes
            passes += 1
            if passes == 1:  # five events arrive while the first pass runs
                for i in range(5):
                    assert await request(PROBE, key, durable, queue, reason=f"event {i + 2}") == "pending"
            return PassResult(key=key, outcome="changed")

        while inst.status == "Running":
            _, *args = inst.task
            if args[0] == PROBE.pass_activity:
                answer: Any = activity_result(await run_pass(queue, "k1", feature_pass, owner="o"))
            else:
                answer = await queue.finish("k1", int(args[1]["covered"]))
            try:
                inst.task = inst.gen.send(answer)
            except StopIteration:
                if inst.context.continued is None:
                    inst.status = "Completed"
                else:
                    inst = durable._begin("k1", inst.context.instance_id, inst.context.continued, "continue")
        assert passes == 2 and await queue.pending() == []
        assert inst.context.status == {"key": "k1", "outcome": "changed"}
    finally:
        await store.close()


async def test_a_start_refused_every_time_is_left_counted_for_the_sweeper() -> None:
    store = StateStore(SqliteBackend(":memory:"))
    queue, durable = RequestQueue(store, PROBE), DurableModel(now=datetime(2026, 1, 1, tzinfo=UTC), refuse=3)
    try:
        assert await request(PROBE, "k1", durable, queue, reason="event") == "pending"
        assert durable.starts == [] and await queue.pending() == ["k1"]
        assert await sweep(PROBE, durable, queue, failed_retry_after_seconds=BACKOFF) == ["k1"]
        assert durable.starts == [("k1", "sweeper")]
    finally:
        await store.close()


async def test_a_failed_key_is_swept_again_only_after_the_back_off() -> None:
    store = StateStore(SqliteBackend(":memory:"))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    queue, durable = RequestQueue(store, PROBE), DurableModel(now=start)
    try:
        await request(PROBE, "k1", durable, queue, reason="event")
        durable.instances[PROBE.instance_id("k1")].status = "Failed"
        soon, later = start + timedelta(seconds=BACKOFF - 1), start + timedelta(seconds=BACKOFF)
        assert await sweep(PROBE, durable, queue, failed_retry_after_seconds=BACKOFF, now=soon) == []
        assert await sweep(PROBE, durable, queue, failed_retry_after_seconds=BACKOFF, now=later) == ["k1"]
    finally:
        await store.close()


async def test_a_held_lease_answers_busy_and_asks_the_holder_for_one_more_pass() -> None:
    store = StateStore(SqliteBackend(":memory:"))
    queue = RequestQueue(store, PROBE)
    try:
        assert await store.acquire_lease("k1", "reconcile", timedelta(minutes=1))

        async def never(key: str) -> PassResult:
            raise AssertionError("the pass must not run while another holds the key")

        result = await run_pass(queue, "k1", never, owner="orchestration")
        assert result.outcome == BUSY and result.covered == 0 and await queue.pending() == ["k1"]
    finally:
        await store.close()
