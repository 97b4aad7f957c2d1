"""The spine: one runner for "one pass per key" -- teams, task pairs, and whatever comes next.

A feature (teams: one sync pass per team; tasks: one mirror pass per task x store pair) is a
level-based *pass* over one key: read both sides, decide, act, record. The spine runs that pass
so that, for every key, exactly one pass runs at a time and no request is ever lost:

1. `request(feature, key, client, queue, reason=...)` counts the request in the state store
   (`RequestQueue.request`), *then* starts the key's orchestration (deterministic instance id,
   `feature.instance_id(key)`) or finds it running. Refused starts are retried and then left to
   the sweeper: the request is already counted, so it cannot be lost.
2. The orchestration (`orchestrate`, registered once per feature by `functions/spine.py`) calls
   the pass activity (`run_pass`): it takes the key's lease when the feature asks for one (a held
   lease answers outcome `busy`, after counting a request so the holder runs once more; the
   orchestration waits and retries), records which request number it covers (read *before* the
   pass reads anything), runs the feature's pass, and returns a `PassResult`.
3. The finish activity (`RequestQueue.finish`) marks the covered requests done and answers
   "run one more?": True when requests arrived during the pass -- then `continue_as_new`,
   exactly one more pass however many arrived. A burst collapses into at most two passes.
4. `sweep(feature, client, queue, failed_retry_after_seconds=...)` (a timer) starts every key
   with uncovered requests and no orchestration running: a request that raced a completion, a
   start that was refused, a crash. A key whose orchestration Failed or was Terminated is
   retried only once the back-off has passed since it stopped.

The rule "nothing lost, at most one extra pass" is checked in one place:
tests/unit/spine/test_spine_state_machine.py (a Hypothesis state machine over requests, passes,
crashes and races).

Registering a feature (the whole of it)::

    # what the feature is called (pure data, no I/O): in shared/spine/features.py when other
    # packages request its passes (teams, task pairs), else in its own package (records:
    # shared/records/requests.py)
    CHANNELS = Feature(name="channels", partition="channels", orchestrator="sync_channel",
                       instance_prefix="channel")

    # its pass: any async callable key -> PassResult (subclass it for the feature's fields)
    @dataclass(frozen=True, kw_only=True)
    class ChannelPassResult(PassResult):
        writes: int = 0
        def summary(self) -> dict[str, Any]: return {"writes": self.writes}

    # functions/<feature>.py: one call registers orchestrator + pass + finish activities; the
    # pass gets its clients from the composition root (functions/root.py)
    spine.register(bp, CHANNELS, run=lambda key, instance_id: channel_pass(key, root(), ...))

    # anywhere a key must be brought up to date (event, webhook, poll, operator)
    await request(CHANNELS, key, client, RequestQueue(state, CHANNELS), reason="record changed")

    # and in a timer of the feature's blueprint
    await sweep(CHANNELS, client, RequestQueue(state, CHANNELS), failed_retry_after_seconds=300)

Persistence: the request counters and leases live in the configured `StateStore` (SQLite or
Azure Tables), partition `feature.partition` of the `requests` table; the spine talks to it
through the `RequestStore` protocol and never imports shared.state.
"""

from __future__ import annotations

from shared.spine.feature import BUSY, Feature, PassResult
from shared.spine.orchestrator import OrchestrationContext, orchestrate
from shared.spine.queue import RequestQueue, RequestStore
from shared.spine.requests import ACTIVE_STATUSES, OrchestrationClient, request, request_many, sweep
from shared.spine.run import run_pass

__all__ = [
    "ACTIVE_STATUSES",
    "BUSY",
    "Feature",
    "OrchestrationClient",
    "OrchestrationContext",
    "PassResult",
    "RequestQueue",
    "RequestStore",
    "orchestrate",
    "request",
    "request_many",
    "run_pass",
    "sweep",
]
