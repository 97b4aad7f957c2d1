"""Task mirroring: the `mirror_task` orchestration (one instance per task x store, the spine's:
functions/spine.py), its activities, the Planner poll and task reconciliation timers, and the
ops view. Thin: the work is in
shared/mirror (I/O) and shared/tasks (the pure decision table). Register with
`app.register_functions(functions.tasks.bp)`.

App settings the bindings read: CTS_TASKS__POLL_SCHEDULE, CTS_TASKS__RECONCILE_SCHEDULE (NCRONTAB).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from functions import spine
from functions.durable_client import DurableClientAdapter
from functions.root import root
from shared import telemetry
from shared.spine import PassResult
from shared.spine.features import TASK_PAIRS

bp = df.Blueprint()
log = logging.getLogger("cts.tasks")


# -- the pair's mirror on the spine: `mirror_task` orchestrator, `mirror_task_pass`, `mirror_finish_pass`
async def _mirror_pass(key: str, instance_id: str | None) -> PassResult:
    from shared.mirror import mirror_pass

    s = root()
    return await mirror_pass(
        key,
        commerce=s.commerce.client,
        gateway=s.gateway,
        state=s.state,
        settings=s.settings,
    )


spine.register(bp, TASK_PAIRS, run=_mirror_pass)


# -- timers ----------------------------------------------------------------------------------------
async def _poll(client: df.DurableOrchestrationClient, *, force: bool) -> dict[str, Any]:
    from shared.mirror import commit_delta_links, poll_plans
    from shared.spine import RequestQueue, request_many, sweep

    s = root()
    adapter = DurableClientAdapter(client)
    queue = RequestQueue(s.state, TASK_PAIRS)
    result = await poll_plans(gateway=s.gateway, state=s.state, settings=s.settings, force=force)
    started = await request_many(TASK_PAIRS, result.to_mirror, adapter, queue, reason="planner poll")
    await commit_delta_links(s.state, result)  # only now: the changes it found are requested
    swept = await sweep(
        TASK_PAIRS, adapter, queue, failed_retry_after_seconds=s.settings.reconcile.failed_retry_after_seconds
    )
    out = {**result.to_json(), "started": started, "swept": swept}
    telemetry.observe("cts.tasks.poll.requests", result.requests, mode=result.mode)
    if result.to_mirror or swept:
        telemetry.log_event(log, "planner poll", **out)
    return out


@bp.timer_trigger(arg_name="timer", schedule="%CTS_TASKS__POLL_SCHEDULE%", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def task_poll(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Teams -> Commerce: ETag poll of the plans with open mirrored tasks; restarts lost mirrors."""
    await _poll(client, force=False)


@bp.timer_trigger(arg_name="timer", schedule="%CTS_TASKS__RECONCILE_SCHEDULE%", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def task_reconcile(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Commerce -> Teams safety net: a pass for every store task the status table has not seen."""
    await _reconcile_tasks(client)


async def _reconcile_tasks(client: df.DurableOrchestrationClient, *, dry_run: bool = False) -> dict[str, Any]:
    from shared.mirror import reconcile_keys
    from shared.spine import RequestQueue, request_many

    s = root()
    keys = await reconcile_keys(s.commerce.client, s.state)
    if dry_run:
        return {"pairs": len(keys), "started": 0, "dry_run": True, "keys": keys[:100]}
    queue = RequestQueue(s.state, TASK_PAIRS)
    started = await request_many(
        TASK_PAIRS, keys, DurableClientAdapter(client), queue, reason="task reconciliation"
    )
    telemetry.log_event(log, "task reconciliation", pairs=len(keys), started=started)
    return {"pairs": len(keys), "started": started}


# -- ops -----------------------------------------------------------------------------------------
def _json(data: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(data, default=str), status_code=status, mimetype="application/json")


@bp.route(route="ops/tasks", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def ops_tasks(req: func.HttpRequest) -> func.HttpResponse:
    """Every mirrored pair (or `?key=TL-7/1@0042`): its status row and last pass with problems."""
    from shared.mirror.pairs import get_mirror, get_pair, list_mirrors, list_pairs

    state = root().state
    key = req.params.get("key")
    pairs = {p.key: p for p in await list_pairs(state)} if key is None else {}
    mirrors = {m.key: m for m in await list_mirrors(state)} if key is None else {}
    if key is not None:
        pair, mirror = await get_pair(state, key), await get_mirror(state, key)
        if pair is None and mirror is None:
            return _json({"error": f"no mirrored task {key}"}, 404)
        pairs = {key: pair} if pair else {}
        mirrors = {key: mirror} if mirror else {}
    rows = []
    for k in sorted(set(pairs) | set(mirrors)):
        pair, mirror = pairs.get(k), mirrors.get(k)
        rows.append(
            {
                "key": k,
                "plan_id": pair.plan_id if pair else None,
                "planner_task_id": pair.planner.task_id if pair and pair.planner else None,
                "tombstone": pair.tombstone if pair else False,
                "last_decision": pair.last_decision if pair else None,
                "last_pass": mirror.model_dump(mode="json") if mirror else None,
            }
        )
    return _json(rows)


@bp.route(route="ops/tasks/reconcile", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def ops_tasks_reconcile(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """The task reconciliation now (what the nightly timer does): a mirror pass for every store
    task the status table has not seen in its current version. A dry run (the pairs it would
    pass) unless `dry_run=false`. Answers how many were started."""
    dry_run = (req.params.get("dry_run") or "true").lower() not in ("0", "false", "no")
    return _json(await _reconcile_tasks(client, dry_run=dry_run))


@bp.route(route="ops/tasks/poll", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def ops_tasks_poll(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Poll Planner now (ignores `tasks.poll_interval_seconds`); answers what the poll found."""
    return _json(await _poll(client, force=True))


@bp.route(route="ops/tasks/report/{task_list}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def ops_tasks_report(req: func.HttpRequest) -> func.HttpResponse:
    """The completion report of one task list (docs/tasks.md): per region and store, its store
    tasks done / open / overdue (in the store's time zone), not yet mirrored and with a problem.
    `?region=R` keeps one region. Bulk reads only (shared/mirror/report.py)."""
    from shared.domain.ids import commerce_id_problem
    from shared.mirror.report import task_list_report

    task_list = req.route_params.get("task_list") or ""
    region = (req.params.get("region") or "").strip() or None
    for name, value in (("task list", task_list), ("region", region)):
        if value is not None and (problem := commerce_id_problem(value)) is not None:
            return _json({"error": f"bad {name}: {problem}"}, 400)
    s = root()
    report = await task_list_report(
        task_list, commerce=s.commerce.client, state=s.state, settings=s.settings, region=region
    )
    if report is None:
        return _json({"error": f"no task list {task_list} in Commerce"}, 404)
    return _json(report.model_dump(mode="json"))
