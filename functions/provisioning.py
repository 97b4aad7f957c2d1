"""Provisioning orchestrations and their activities, timers and ops endpoints. Thin: the
work is in shared/sync (a pass) and shared/state; the team's own orchestration is the spine's
(functions/spine.py); orchestrators do no I/O (Durable replays them).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.Task import TaskState

from functions import spine
from functions.durable_client import DurableClientAdapter
from functions.root import root
from shared import telemetry
from shared.spine import PassResult
from shared.spine.features import TEAMS
from shared.sync import records as sync_records

AGAIN = "again"  # = shared.sync.reconcile.AGAIN (literal: the orchestrator imports no I/O module)

bp = df.Blueprint()
log = logging.getLogger("cts.provisioning")

PASS_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=5)


# -- the team's sync on the spine: `sync_team` orchestrator, `sync_team_pass`, `sync_finish_pass` --
async def _team_pass(key: str, instance_id: str | None) -> PassResult:
    from shared.sync.reconcile import team_pass

    return await team_pass(root(), key, instance_id=instance_id)


spine.register(bp, TEAMS, run=_team_pass)


def _trace(data: dict[str, Any]) -> dict[str, str]:
    """The trace context an orchestration's input carries (traceparent, baggage), handed on to
    its activities (shared/telemetry/context.py)."""
    return telemetry.carrier_of(data)


# -- orchestrators (deterministic: no I/O, no clock but the context's) ---------------------------
# Fan-out batches per orchestration generation (bounded history). A batch is one activity
# (`reconcile_batch`), so a generation of 4 is about a dozen history events whatever the batch
# size: the Python worker replays the whole history at every episode (the SDK builds a
# HistoryEvent, parsing its timestamp, per event), and with an activity per team that replay was
# ~10 % of the host's CPU in a 1,000-store first provisioning.
RECONCILE_CHUNK = 4
# A scope with `"schedule": "window"` (every scope reconcile_begin writes now) keeps its
# `parallel_batches` in flight all the time: a batch that ends is followed at once by the next,
# instead of rounds that each wait for their slowest batch (and so their slowest pass: in Azure,
# a team whose creation Graph finishes late held three other batches' slots idle). A generation
# then holds WINDOW_ROUNDS x parallel batches, so the window drains once per that many.
WINDOW = "window"
WINDOW_ROUNDS = 4


@bp.orchestration_trigger(context_name="context")
def reconcile_all(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """`reconcile_all_steps` (a plain generator, so a test can run it with its own activities)."""
    return (yield from reconcile_all_steps(context))


def reconcile_all_steps(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Every team (or the given keys), in bounded fan-out batches; writes a drift report.

    The history stays bounded whatever the org's size: after `RECONCILE_CHUNK` batches (or the
    batches in flight at once, if more) the orchestration continues as new with where it got to
    (keys, offset, counts), so one generation holds that many batch activities (and the re-runs
    of passes that raised in them, at most batch_size each) (docs/sync.md)."""
    data = context.get_input() or {}
    dry_run = bool(data.get("dry_run", False))
    trace = _trace(data)
    scope = data.get("scope")
    if scope is None:
        scope = yield context.call_activity(
            "reconcile_begin",
            {"keys": data.get("keys"), "dry_run": dry_run, "report_id": data.get("report_id"),
             "full": bool(data.get("full", False)), **trace},
        )  # fmt: skip
    keys: list[str] = scope["keys"]
    counts: dict[str, int] = dict(data.get("counts") or {})
    done = int(data.get("offset") or 0)
    size = scope["batch_size"]
    # Batches in flight at once (CTS_RECONCILE__PARALLEL_BATCHES): activities go to any worker
    # process and any instance, so two batches use two. A scope written before the setting
    # existed (a generation in flight across an upgrade) runs them one at a time, as it did:
    # the same actions in the same order, so its history replays.
    parallel = max(1, int(scope.get("parallel_batches", 1)))
    window = scope.get("schedule") == WINDOW
    per_generation = WINDOW_ROUNDS * parallel if window else max(RECONCILE_CHUNK, parallel)
    starts = list(range(done, min(len(keys), done + per_generation * size), size))
    common = {"dry_run": dry_run, "report_id": scope["report_id"], **trace}
    if window:

        def ended(results: list[dict[str, Any]]) -> None:
            nonlocal done
            for r in results:
                counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
            done += len(results)
            context.set_custom_status(
                {"report_id": scope["report_id"], "done": done, "total": len(keys), "outcomes": counts}
            )

        yield from _window_steps(context, [keys[s : s + size] for s in starts], parallel, common, ended)
        starts = []  # the rounds below are for scopes written before the window
    # Rounds (a scope from before the window, in flight across an upgrade: the same actions in
    # the same order, so its history replays).
    for first in range(0, len(starts), parallel):
        batches = [keys[start : start + size] for start in starts[first : first + parallel]]
        # One activity runs the batch's passes together (their Commerce slices read in bulk);
        # a pass that raised there runs again on its own, with retries.
        calls = [
            context.call_activity_with_retry(
                "reconcile_batch", PASS_RETRY, {"keys": batch, "instance_id": context.instance_id, **common}
            )
            for batch in batches
        ]
        if len(calls) == 1:
            results = yield calls[0]
        else:
            each = yield context.task_all(calls)
            results = [r for batch_results in each for r in batch_results]
        again = [r["key"] for r in results if r["outcome"] == AGAIN]
        if again:
            retried = yield context.task_all(
                [
                    context.call_activity_with_retry(
                        "reconcile_team",
                        PASS_RETRY,
                        {"key": key, "instance_id": f"{context.instance_id}:{key}", **common},
                    )
                    for key in again
                ]
            )
            results = [r for r in results if r["outcome"] != AGAIN] + list(retried)
        for r in results:
            counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        done += sum(len(batch) for batch in batches)
        context.set_custom_status(
            {"report_id": scope["report_id"], "done": done, "total": len(keys), "outcomes": counts}
        )
    if done < len(keys):
        context.continue_as_new({"dry_run": dry_run, "scope": scope, "offset": done, "counts": counts})
        return None
    summary = yield context.call_activity(
        "reconcile_finish",
        {
            "report_id": scope["report_id"],
            "dry_run": dry_run,
            "started": scope["started"],
            "teams": len(keys),
            "outcomes": counts,
            **{k: scope[k] for k in ("mode", "why", "unchanged", "reasons") if k in scope},
        },
    )
    return summary


def _window_steps(  # type: ignore[no-untyped-def]
    context: df.DurableOrchestrationContext,
    batches: list[list[str]],
    parallel: int,
    common: dict[str, Any],
    on_end: Callable[[list[dict[str, Any]]], None],
):
    """Run `batches` with `parallel` of them in flight until all are done; a pass a batch answered
    `again` runs alone (with retries) beside them. `on_end` gets each batch's results, its
    re-runs' included, as the batch ends. A batch or re-run that failed for good fails the
    orchestration, as in a round (task_all)."""
    queue = list(enumerate(batches))
    in_flight: list[tuple[Any, int, bool]] = []  # (task, batch number, whether it is the batch)
    kept: dict[int, list[dict[str, Any]]] = {}
    left: dict[int, int] = {}  # re-runs not ended yet, by batch number
    while queue or in_flight:
        while queue and sum(1 for *_, whole in in_flight if whole) < parallel:
            n, batch = queue.pop(0)
            task = context.call_activity_with_retry(
                "reconcile_batch", PASS_RETRY, {"keys": batch, "instance_id": context.instance_id, **common}
            )
            in_flight.append((task, n, True))
        finished = yield context.task_any([task for task, *_ in in_flight])
        if finished.state is TaskState.FAILED:
            error = finished.result
            raise error if isinstance(error, BaseException) else RuntimeError(str(error))
        at = next(i for i, (task, *_) in enumerate(in_flight) if task is finished)
        _, n, whole = in_flight.pop(at)
        if whole:
            results = list(finished.result)
            kept[n] = [r for r in results if r["outcome"] != AGAIN]
            again = [r["key"] for r in results if r["outcome"] == AGAIN]
            left[n] = len(again)
            for key in again:
                alone = {"key": key, "instance_id": f"{context.instance_id}:{key}", **common}
                task = context.call_activity_with_retry("reconcile_team", PASS_RETRY, alone)
                in_flight.append((task, n, False))
        else:
            kept[n].append(finished.result)
            left[n] -= 1
        if not left[n]:
            del left[n]
            on_end(kept.pop(n))


# -- activities (small, idempotent, retried) -------------------------------------------------
@bp.activity_trigger(input_name="payload")
async def reconcile_begin(payload: dict[str, Any]) -> dict[str, Any]:
    from shared.sync.reconcile import begin

    return await begin(
        root(),
        payload.get("keys"),
        report_id=payload.get("report_id"),
        full=bool(payload.get("full", False)),
        dry_run=bool(payload.get("dry_run", False)),
    )


@bp.activity_trigger(input_name="payload")
async def reconcile_batch(payload: dict[str, Any]) -> list[dict[str, Any]]:
    from shared.sync.reconcile import reconcile_batch as run

    with telemetry.span(
        "activity reconcile_batch",
        parent=payload,
        teams=len(payload["keys"]),
        instance_id=payload.get("instance_id"),
        report_id=payload["report_id"],
    ):
        return await run(
            root(),
            payload["keys"],
            report_id=payload["report_id"],
            dry_run=bool(payload["dry_run"]),
            instance_id=str(payload["instance_id"]),
        )


@bp.activity_trigger(input_name="payload")
async def reconcile_team(payload: dict[str, Any]) -> dict[str, Any]:
    from shared.sync.reconcile import reconcile_team as run

    with telemetry.span(
        "activity reconcile_team",
        parent=payload,
        team_key=payload["key"],
        instance_id=payload.get("instance_id"),
        report_id=payload["report_id"],
    ):
        return await run(
            root(),
            payload["key"],
            report_id=payload["report_id"],
            dry_run=bool(payload["dry_run"]),
            instance_id=payload.get("instance_id"),
        )


@bp.activity_trigger(input_name="payload")
async def reconcile_finish(payload: dict[str, Any]) -> dict[str, Any]:
    from shared.sync.reconcile import finish

    summary = await finish(root(), payload)
    # infra/alerts.bicep (reconciliation late) looks for this line.
    telemetry.log_event(
        log,
        "reconciliation finished",
        report_id=payload.get("report_id"),
        dry_run=bool(payload.get("dry_run")),
        teams=payload.get("teams"),
        outcomes=payload.get("outcomes"),
    )
    return summary


# -- timers ----------------------------------------------------------------------------------
@bp.timer_trigger(arg_name="timer", schedule="%CTS_RECONCILE__SCHEDULE%", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def reconcile_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    instance = await client.start_new("reconcile_all", client_input={"dry_run": False, **telemetry.carry()})
    telemetry.log_event(log, "nightly reconciliation started", instance_id=instance, past_due=timer.past_due)


@bp.timer_trigger(arg_name="timer", schedule="%CTS_RECONCILE__SWEEP_SCHEDULE%", run_on_startup=True)
@bp.durable_client_input(client_name="client")
async def sync_sweeper(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Restart the sync of any team left with requests no pass covered (see shared/spine)."""
    from shared.spine import RequestQueue, sweep

    s = root()
    started = await sweep(
        TEAMS,
        DurableClientAdapter(client),
        RequestQueue(s.state, TEAMS),
        failed_retry_after_seconds=s.settings.reconcile.failed_retry_after_seconds,
    )
    if started:
        telemetry.log_event(log, "sweeper restarted syncs", team_keys=started)


# -- ops endpoints (function key) -------------------------------------------------------------
def _json(data: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(data, default=str), status_code=status, mimetype="application/json")


@bp.route(route="ops/reconcile", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def ops_reconcile(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start a reconciliation: `?store=0042` (or store=a,b), or `?all=true` for every team (the
    nightly choice: only the teams that changed; add `full=true` to read every team). A dry
    run unless `dry_run=false`; a real run needs `store=` or `all=true`. The answer names the
    instance and report but carries no Durable management URLs: those hold the durabletask
    system key (terminate/purge any instance) in `code=`."""
    from shared.domain.teams import TeamKey
    from shared.ops.params import ParamProblem, parse_reconcile

    asked = parse_reconcile(dict(req.params))
    if isinstance(asked, ParamProblem):
        return _json({"error": asked.detail, "reason": asked.reason}, 400)
    dry_run = asked.dry_run
    keys = [str(TeamKey.store(s)) for s in asked.stores] or None
    report_id = "r-" + uuid.uuid4().hex[:12]
    instance = await client.start_new(
        "reconcile_all",
        instance_id=f"reconcile-{report_id}",
        client_input={
            "dry_run": dry_run,
            "keys": keys,
            "report_id": report_id,
            "full": asked.full,
            **telemetry.carry(),
        },
    )
    body = {"id": instance, "report_id": report_id, "dry_run": dry_run, "keys": keys}
    return _json({**body, "report": f"ops/report/{report_id}", "status": "ops/status"}, 202)


@bp.route(route="ops/status/{key?}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def ops_status(req: func.HttpRequest) -> func.HttpResponse:
    """Last sync of every team (or of one key, e.g. `store:0042`), with its team and problems."""
    from shared.sync.status import team_status

    key = req.route_params.get("key")
    data = await team_status(root().state, key)
    if key and not data:
        return _json({"error": f"no team or sync recorded for {key}"}, 404)
    return _json(data)


@bp.route(route="ops/report/{report_id?}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def ops_report(req: func.HttpRequest) -> func.HttpResponse:
    """A drift report (the latest when no id is given)."""

    report = await sync_records.get_report(root().state, req.route_params.get("report_id"))
    return _json(report) if report else _json({"error": "no such report"}, 404)


@bp.route(route="ops/suspend", methods=["GET", "POST", "DELETE"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def ops_suspend(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The kill switch (docs/control.md): GET shows it, POST suspends every write (`?reason=`,
    `?by=`), DELETE lifts it and starts a reconciliation so what was held converges."""
    from shared.control import set_switch, write_gate

    s = root()
    if req.method == "POST":
        await set_switch(
            s.state,
            suspended=True,
            by=(req.params.get("by") or "ops")[:100],
            reason=(req.params.get("reason") or "")[:500],
        )
    elif req.method == "DELETE":
        await set_switch(s.state, suspended=False, by=(req.params.get("by") or "ops")[:100])
    gate = await write_gate(s.state, s.settings)
    body: dict[str, Any] = {
        "suspended": gate.suspended,
        "reason": gate.reason,
        "by_setting": s.settings.control.suspend_all_writes,
        "excluded_stores": sorted(gate.excluded_stores),
        "excluded_regions": sorted(gate.excluded_regions),
    }
    if req.method == "DELETE" and not gate.suspended:
        report_id = "r-" + uuid.uuid4().hex[:12]
        body["reconcile_instance"] = await client.start_new(
            "reconcile_all",
            instance_id=f"reconcile-{report_id}",
            # full: hand edits made in Teams while suspended changed nothing in Commerce, so the
            # nightly delta would skip them.
            client_input={"dry_run": False, "keys": None, "report_id": report_id, "full": True},
        )
        body["report_id"] = report_id
        # Task pairs and accounts whose last pass was suspended: their passes are covered (the
        # spine's request queue holds nothing for them), so a change seen while suspended would
        # otherwise wait for the next change or the nightly run (the task reconcile compares
        # Commerce only; the records one runs once a night).
        from shared.mirror.pairs import list_mirrors
        from shared.spine import RequestQueue, request_many
        from shared.spine.features import RECORDS, TASK_PAIRS

        held = {TASK_PAIRS: [m.key for m in await list_mirrors(s.state) if m.outcome == "suspended"]}
        if s.settings.records.enabled:
            from shared.records.records_pass import STATUS

            passes = await s.state.list_values(STATUS)
            held[RECORDS] = sorted(k for k, r in passes.items() if r.get("outcome") == "suspended")
        for feature, keys in held.items():
            name = "task_pairs_resumed" if feature is TASK_PAIRS else "records_resumed"
            body[name] = await request_many(
                feature, keys, DurableClientAdapter(client), RequestQueue(s.state, feature),
                reason="writes resumed",
            )  # fmt: skip
    return _json(body)


@bp.route(route="ops/hierarchy", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
async def ops_hierarchy(req: func.HttpRequest) -> func.HttpResponse:
    """The Teams targeting hierarchy CSV from Commerce + the team mapping (docs/hierarchy.md).
    GET: the CSV, its fingerprint and whether it is stale against the last export. POST
    `?fingerprint=` records that the file with that fingerprint was exported (`cts hierarchy export`)."""
    from shared.hierarchy.service import current_hierarchy, mark_exported

    s = root()
    data = await current_hierarchy(s.commerce.client, s.state, s.settings)  # type: ignore[attr-defined]
    if req.method == "POST":
        if req.params.get("fingerprint") != data["fingerprint"]:
            return _json({"error": "the hierarchy changed since it was read; export it again"}, 409)
        data["last_export"] = await mark_exported(
            s.state, data["fingerprint"], nodes=data["nodes"], by=(req.params.get("by") or "ops")[:100]
        )
        data["stale"] = False
    return _json(data)


@bp.route(route="ops/explain/{what}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def ops_explain(req: func.HttpRequest) -> func.HttpResponse:
    """Why a team is as it is (`store:0042`), or where a person is and why (`person:000123`).
    Reads like a pass, writes nothing (shared/sync/explain.py)."""
    from shared.domain.teams import TeamKey
    from shared.sync.explain import explain_person, explain_team

    what = req.route_params.get("what") or ""
    s = root()
    ports = {"commerce": s.commerce, "gateway": s.gateway, "state": s.state, "settings": s.settings}
    if what.startswith("person:"):
        person = what.removeprefix("person:").strip()
        if not person.isdigit() or len(person) > 20:
            return _json({"error": f"bad personnel number {person!r} (digits, e.g. person:000123)"}, 400)
        try:
            also = tuple(TeamKey.parse(k) for k in req.params.get("team", "").split(",") if k.strip())
        except ValueError as exc:
            return _json({"error": f"bad team key: {exc}"}, 400)
        return _json(await explain_person(person, also=also, **ports))
    try:
        key = TeamKey.parse(what if ":" in what else f"store:{what}")
    except ValueError as exc:
        return _json({"error": f"bad team key {what!r}: {exc}"}, 400)
    return _json(await explain_team(key, **ports))
