"""Record-connected channels: the `sync_records` orchestration (one instance per account), the
Dataverse event trigger, the nightly reconciliation of every connection, its sweeper, and the ops
endpoints. Thin: the work is in shared/records. Register with
`app.register_functions(functions.records.bp)`.

App settings the bindings read: CTS_RECORDS__TOPIC, CTS_RECORDS__SUBSCRIPTION (Dataverse's Service
Bus endpoint), CTS_RECORDS__SCHEDULE (NCRONTAB), CTS_RECONCILE__SWEEP_SCHEDULE. Nothing runs unless
CTS_RECORDS__ENABLED=true (events are then acknowledged and counted, not acted on).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from functions import spine
from functions.commerce_events import reject
from functions.durable_client import DurableClientAdapter
from functions.root import root
from shared import telemetry
from shared.spine import PassResult
from shared.spine.features import RECORDS

bp = df.Blueprint()
log = logging.getLogger("cts.records")

PASS_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2_000, max_number_of_attempts=5)


def _enabled() -> bool:
    from shared.settings import get_settings

    return get_settings().records.enabled


# -- the account's records pass on the spine: `sync_records`, `records_pass`, `records_finish_pass` --
async def _records_pass(key: str, instance_id: str | None) -> PassResult:
    return await root().records.run_pass(key.removeprefix("account:"))


spine.register(bp, RECORDS, run=_records_pass)


# -- the reconciliation of every connection (deterministic) -------------------------------------
@bp.orchestration_trigger(context_name="context")
def reconcile_records(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """Every account (or the given ones) in bounded fan-out batches; writes a drift report."""
    data = context.get_input() or {}
    dry_run = bool(data.get("dry_run", False))
    scope = yield context.call_activity(
        "records_reconcile_begin", {"accounts": data.get("accounts"), "report_id": data.get("report_id")}
    )
    accounts: list[str] = scope["accounts"]
    counts: dict[str, int] = {}
    for start in range(0, len(accounts), scope["batch_size"]):
        batch = accounts[start : start + scope["batch_size"]]
        results = yield context.task_all(
            [
                context.call_activity_with_retry(
                    "records_reconcile_account",
                    PASS_RETRY,
                    {
                        "account": a,
                        "dry_run": dry_run,
                        "report_id": scope["report_id"],
                        "instance_id": f"{context.instance_id}:{a}",
                    },
                )
                for a in batch
            ]
        )
        for r in results:
            counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        context.set_custom_status(
            {"report_id": scope["report_id"], "done": start + len(batch), "total": len(accounts)}
        )
    summary = yield context.call_activity(
        "records_reconcile_finish",
        {
            "report_id": scope["report_id"],
            "dry_run": dry_run,
            "started": scope["started"],
            "accounts": len(accounts),
            "outcomes": counts,
        },
    )
    return summary


# -- activities ------------------------------------------------------------------------------------
@bp.activity_trigger(input_name="payload")
async def records_reconcile_begin(payload: dict[str, Any]) -> dict[str, Any]:
    from shared.records.reconcile import begin

    return await begin(root().records, payload.get("accounts"), report_id=payload.get("report_id"))


@bp.activity_trigger(input_name="payload")
async def records_reconcile_account(payload: dict[str, Any]) -> dict[str, Any]:
    from shared.records.reconcile import reconcile_account

    return await reconcile_account(
        root().records,
        payload["account"],
        report_id=payload["report_id"],
        dry_run=bool(payload["dry_run"]),
        instance_id=payload.get("instance_id"),
    )


@bp.activity_trigger(input_name="payload")
async def records_reconcile_finish(payload: dict[str, Any]) -> dict[str, Any]:
    from shared.records.reconcile import finish

    return await finish(root().records, payload)


# -- Dataverse events (same parser, quarantine and dedupe as Commerce events) ---------------
@bp.function_name("record_event")
@bp.service_bus_topic_trigger(
    arg_name="msg",
    topic_name="%CTS_RECORDS__TOPIC%",
    subscription_name="%CTS_RECORDS__SUBSCRIPTION%",
    connection="ServiceBusConnection",
)
@bp.durable_client_input(client_name="client")
async def record_event(msg: func.ServiceBusMessage, client: df.DurableOrchestrationClient) -> None:
    from shared.commerce.events import parse_message
    from shared.domain.events import CommerceHint, Rejection, TestMessage

    result = parse_message(
        msg.get_body(),
        content_type=msg.content_type,
        application_properties=dict(msg.application_properties or {}),
    )
    if isinstance(result, TestMessage):
        return
    if isinstance(result, Rejection):
        telemetry.log_event(
            log,
            "dataverse event rejected",
            level=logging.WARNING,
            message_id=msg.message_id,
            reason=result.reason,
        )
        from shared.bus.protocol import EntityRef
        from shared.settings import get_settings

        subscribed = get_settings().records
        source = EntityRef(subscribed.topic, subscribed.subscription)
        await reject(msg, dict(msg.application_properties or {}), result, source)
        return
    assert isinstance(result, CommerceHint)
    from shared.mirror import request_task_mirrors
    from shared.sync.intake import handle_hint

    s = root()
    records = None
    if s.settings.records.enabled:
        records = root().records.dataverse
    handled = await handle_hint(
        result,
        commerce=s.commerce,
        state=s.state,
        client=DurableClientAdapter(client),
        settings=s.settings,
        tasks=request_task_mirrors,
        records=records,
    )
    telemetry.log_event(
        log,
        "dataverse event",
        message_id=msg.message_id,
        event_type=result.event_type,
        outcome=handled.outcome,
        record_keys=list(handled.keys),
    )


# -- timers ----------------------------------------------------------------------------------------
@bp.timer_trigger(arg_name="timer", schedule="%CTS_RECORDS__SCHEDULE%", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def records_reconcile_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    if not _enabled():
        return
    instance = await client.start_new("reconcile_records", client_input={"dry_run": False})
    telemetry.log_event(log, "nightly records reconciliation started", instance_id=instance)


@bp.timer_trigger(arg_name="timer", schedule="%CTS_RECONCILE__SWEEP_SCHEDULE%", run_on_startup=True)
@bp.durable_client_input(client_name="client")
async def records_sweeper(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Restart the pass of any account left with requests no pass covered."""
    if not _enabled():
        return
    from shared.spine import RequestQueue, sweep

    s = root()
    started = await sweep(
        RECORDS,
        DurableClientAdapter(client),
        RequestQueue(s.state, RECORDS),
        failed_retry_after_seconds=s.settings.reconcile.failed_retry_after_seconds,
    )
    if started:
        telemetry.log_event(log, "sweeper restarted records passes", record_keys=started)


# -- ops endpoints (function key) ------------------------------------------------------------------
def _json(data: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(data, default=str), status_code=status, mimetype="application/json")


@bp.route(route="ops/records/reconcile", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def ops_records_reconcile(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Reconcile every connection now (`?account=<id>[,<id>]`, `?dry_run=true`)."""
    if not _enabled():
        return _json({"error": "record-connected channels are not enabled (CTS_RECORDS__ENABLED)"}, 409)
    from shared.dataverse.client import guid

    try:
        accounts = [
            guid(a.strip()) for a in (req.params.get("account") or "").split(",") if a.strip()
        ] or None
    except ValueError as exc:
        return _json({"error": f"bad account: {exc}"}, 400)
    dry_run = (req.params.get("dry_run") or "false").lower() in ("1", "true", "yes")
    report_id = "rr-" + uuid.uuid4().hex[:12]
    instance = await client.start_new(
        "reconcile_records",
        instance_id=f"reconcile-{report_id}",
        client_input={"dry_run": dry_run, "accounts": accounts, "report_id": report_id},
    )
    return _json({"id": instance, "report_id": report_id, "dry_run": dry_run, "accounts": accounts}, 202)


@bp.route(route="ops/records/report/{report_id?}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def ops_records_report(req: func.HttpRequest) -> func.HttpResponse:
    """A records drift report (the latest when no id is given)."""
    from shared.records.reconcile import get_report

    report = await get_report(root().records, req.route_params.get("report_id"))
    return _json(report) if report else _json({"error": "no such report"}, 404)


@bp.route(route="ops/records/status/{key?}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def ops_records_status(req: func.HttpRequest) -> func.HttpResponse:
    """The last pass of every account (or of `account:<id>`): outcome, operations, problems."""
    from shared.records.records_pass import STATUS

    state = root().state
    key = req.route_params.get("key")
    if key:
        from shared.dataverse.client import guid

        try:
            key = "account:" + guid(key.removeprefix("account:"))
        except ValueError:
            return _json({"error": "expected account:<GUID>"}, 400)
        found = await state.get_value(STATUS, key)
        return _json(found) if found else _json({"error": f"no records pass recorded for {key}"}, 404)
    return _json(await state.list_values(STATUS))


@bp.route(route="ops/records/connections/{account}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def ops_records_connections(req: func.HttpRequest) -> func.HttpResponse:
    """One account's connections per record and per channel, with problems (read-only)."""
    if not _enabled():
        return _json({"error": "record-connected channels are not enabled (CTS_RECORDS__ENABLED)"}, 409)
    from shared.dataverse.client import guid
    from shared.records.inspect import connections

    try:
        account = guid(str(req.route_params.get("account")).removeprefix("account:"))
    except ValueError as exc:
        return _json({"error": f"bad account: {exc}"}, 400)
    s = root().records
    data = await connections(
        account,
        dataverse=s.dataverse,
        gateway=s.base.gateway,  # type: ignore[arg-type]
        app_id=s.base.settings.records.teams_app_id,
    )
    return _json(data)
