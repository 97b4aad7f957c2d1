"""Registers a spine feature's Durable functions: its orchestrator and the two activities.

`register(bp, feature, run=...)` adds, under the names the `Feature` gives:
- the orchestrator (`feature.orchestrator`): `shared.spine.orchestrate` -- pass, finish,
  `continue_as_new` when requests arrived meanwhile;
- the pass activity (`feature.pass_activity`): `shared.spine.run_pass` around `run(key, instance_id)`;
- the finish activity (`feature.finish_activity`): `RequestQueue.finish` -> "run one more?".
Thin on purpose: the rules are in shared/spine, the pass in the feature's package.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import azure.durable_functions as df

from functions.root import root
from shared import telemetry
from shared.spine import Feature, PassResult, RequestQueue, orchestrate, run_pass
from shared.spine.run import activity_result

log = logging.getLogger("cts.spine")

FeaturePass = Callable[[str, str | None], Awaitable[PassResult]]


def register(bp: df.Blueprint, feature: Feature, *, run: FeaturePass) -> None:
    """`run(key, instance_id)` is the feature's pass. The request counters and leases are in the
    composition root's state store (functions/root.py)."""
    retry = df.RetryOptions(
        first_retry_interval_in_milliseconds=feature.first_retry_ms,
        max_number_of_attempts=feature.max_attempts,
    )

    def orchestrator(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
        return (yield from orchestrate(feature, context, retry))

    async def pass_activity(payload: dict[str, Any]) -> dict[str, Any]:
        key = str(payload["key"])
        instance_id = payload.get("instance_id")
        queue = RequestQueue(root().state, feature)
        # The activity continues the trace its payload carries (shared/telemetry/context.py).
        ids = {telemetry.key_name(feature.name): key, "instance_id": instance_id}
        with telemetry.span(f"activity {feature.pass_activity}", parent=payload, **ids) as span:
            result = await run_pass(queue, key, lambda k: run(k, instance_id), owner=instance_id)
            out = activity_result(result)
            summary = result.summary()
            telemetry.annotate(span, outcome=result.outcome, **summary)
            telemetry.count("cts.passes", kind=feature.name, outcome=result.outcome)
            planned = summary.get("operations")
            if isinstance(planned, int):  # a team pass: its plan is the drift it found
                telemetry.count("cts.drift.found", planned, kind=feature.name)
                telemetry.count(
                    "cts.drift.fixed", planned if result.outcome == "changed" else 0, kind=feature.name
                )
            telemetry.log_event(
                log,
                f"{feature.name} pass",
                **ids,
                outcome=result.outcome,
                **summary,
            )
        return out

    async def finish_activity(payload: dict[str, Any]) -> bool:
        return await RequestQueue(root().state, feature).finish(str(payload["key"]), int(payload["covered"]))

    # Durable names a function after its Python name (the v2 model's default function name).
    for fn, name in (
        (orchestrator, feature.orchestrator),
        (pass_activity, feature.pass_activity),
        (finish_activity, feature.finish_activity),
    ):
        fn.__name__ = fn.__qualname__ = name
    bp.orchestration_trigger(context_name="context")(orchestrator)
    bp.activity_trigger(input_name="payload")(pass_activity)
    bp.activity_trigger(input_name="payload")(finish_activity)
