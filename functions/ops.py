"""Operations: the ops page and ops functions for dead letters and Graph subscriptions. Thin:
the work is in shared/ops (docs/ops.md).

- `GET  /api/ops` (no key: a shell without data, strict CSP; the operator types the ops key into
  it and it is sent as `x-functions-key`, never in a URL): the ops page (shared/ops/page.py).
- `GET  /api/ops/view` (function key): the page's view; `?format=json` gives its model.
- `GET  /api/ops/dlq` (function key): dead letters; filters `entity` (the app's own entities
  only), `reason`, `event_type`, `store` (comma-separated), `since`, `until`, `seq`, `limit`.
- `POST /api/ops/dlq/replay` (function key): replay to the same subscription; the same filters;
  a dry run unless `dry_run=false`, and a real run needs a filter, `limit` or `all=true`; one
  audit record per message (with the body's SHA-256).
- `GET  /api/ops/subscriptions`, `POST /api/ops/subscriptions/{renew|recreate}` (function key).
- `state_housekeeping` (timer, CTS_STATE__HOUSEKEEPING_SCHEDULE): deletes expired echo notes and
  old event dedupe records (shared/state/housekeeping.py).

The bus comes from settings (shared/ops/connection.py): `CTS_BUS__LOCAL_BROKER` and the factory
`CTS_BUS__LOCAL_BROKER_FACTORY` names on the local host, the `ServiceBusConnection` setting in Azure.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from functions.root import root
from shared import telemetry
from shared.sync import records as sync_records

bp = df.Blueprint()
log = logging.getLogger("cts.ops")

IN_FLIGHT = ("Running", "Pending", "ContinuedAsNew")


def _json(data: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(data, default=str), status_code=status, mimetype="application/json")


def _error(message: str, status: int) -> func.HttpResponse:
    return _json({"error": message}, status)


@asynccontextmanager
async def _bus() -> AsyncIterator[Any]:
    """The dead-letter bus the settings name (the local broker locally)."""
    from shared.ops.connection import open_bus, resolve_bus

    # The local broker's factory is named by a setting (CTS_BUS__LOCAL_BROKER_FACTORY): this
    # module never imports local/.
    bus = open_bus(resolve_bus(os.environ), os.environ)
    try:
        yield bus
    finally:
        await bus.close()


def _list(req: func.HttpRequest, name: str) -> list[str] | None:
    raw = req.params.get(name)
    return [v.strip() for v in raw.split(",") if v.strip()] if raw else None


def _filter(req: func.HttpRequest) -> Any:
    from shared.ops.dlq import BadFilter
    from shared.ops.params import ParamProblem, parse_dead_letter_selection

    selection = parse_dead_letter_selection(dict(req.params))
    if isinstance(selection, ParamProblem):
        raise BadFilter(selection.detail)
    return selection


async def _entities(req: func.HttpRequest, bus: Any) -> list[Any]:
    from shared.ops.dlq import app_entities, existing_entities, parse_entities
    from shared.settings import get_settings

    own = app_entities(get_settings())
    explicit = parse_entities(_list(req, "entity"), allowed=own)  # only the app's own entities
    return await existing_entities(bus, explicit or own, explicit=bool(explicit))


async def _dlq(req: func.HttpRequest, work: Any) -> func.HttpResponse:
    """Run `work(bus, entities, selection)` with the errors an operator can act on as 4xx/503."""
    from shared.ops.connection import NoConnection
    from shared.ops.dlq import BadFilter, NoSuchEntity

    try:
        selection = _filter(req)
        async with _bus() as bus:
            return _json(await work(bus, await _entities(req, bus), selection))
    except BadFilter as exc:
        return _error(str(exc), 400)
    except NoSuchEntity as exc:
        return _error(str(exc), 404)
    except NoConnection as exc:
        return _error(str(exc), 503)


@bp.route(route="ops/dlq", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def ops_dlq_list(req: func.HttpRequest) -> func.HttpResponse:
    """Dead letters of the app's entities (or `entity=`), filtered."""
    from shared.ops.dlq import list_all, view

    async def work(bus: Any, entities: list[Any], selection: Any) -> Any:
        return [
            view(m, body=req.params.get("body") == "true") for m in await list_all(bus, entities, selection)
        ]

    return await _dlq(req, work)


@bp.route(route="ops/dlq/replay", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def ops_dlq_replay(req: func.HttpRequest) -> func.HttpResponse:
    """Replay the selected dead letters to their own subscription; a dry run unless dry_run=false."""
    from shared.ops.dlq import replay, summary_view
    from shared.settings import get_settings

    dry_run = (req.params.get("dry_run") or "true").lower() not in ("false", "0", "no")

    async def work(bus: Any, entities: list[Any], selection: Any) -> Any:
        summary = await replay(
            bus,
            root().state,
            entities,
            selection,
            max_replays=get_settings().bus.max_replays,
            dry_run=dry_run,
            actor="http:ops/dlq/replay",
        )
        telemetry.log_event(
            log,
            "dead letters replayed",
            dry_run=dry_run,
            done=summary.done,
            refused=summary.refused,
            failed=summary.failed,
        )
        return summary_view(summary)

    return await _dlq(req, work)


@bp.route(route="ops", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def ops_page(req: func.HttpRequest) -> func.HttpResponse:
    """The operators' page: a shell with no data (anonymous, so no key ever rides in its URL);
    its script asks for the ops key and loads `ops/view` with it (docs/security.md)."""
    from shared.ops.page import SHELL_HEADERS, shell

    return func.HttpResponse(shell(), mimetype="text/html", charset="utf-8", headers=SHELL_HEADERS)


@bp.route(route="ops/view", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def ops_view(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The page's view: stores, last drift, dead letters (with Replay), orchestrations."""
    from shared.ops.dlq import app_entities, existing_entities, list_all, view
    from shared.ops.page import page_model, render
    from shared.settings import get_settings
    from shared.sync.status import team_status

    notes: list[str] = []
    teams = await team_status(root().state)
    report = await sync_records.get_report(root().state)
    dead: list[dict[str, Any]] = []
    try:
        async with _bus() as bus:
            from shared.bus.replay import DeadLetterFilter

            entities = await existing_entities(bus, app_entities(get_settings()), explicit=False)
            dead = [view(m) for m in await list_all(bus, entities, DeadLetterFilter(limit=200))]
    except Exception as exc:  # the page still shows the rest
        notes.append(f"dead letters unavailable: {exc}")
    orchestrations: list[dict[str, Any]] = []
    try:
        statuses = [df.OrchestrationRuntimeStatus(s) for s in IN_FLIGHT]
        for o in await client.get_status_by(runtime_status=statuses):
            orchestrations.append(
                {
                    "instance_id": o.instance_id,
                    "name": o.name,
                    "runtime_status": getattr(o.runtime_status, "value", o.runtime_status),
                    "created_time": o.created_time,
                    "last_updated_time": o.last_updated_time,
                    "custom_status": o.custom_status,
                }
            )
    except Exception as exc:
        notes.append(f"orchestrations unavailable: {exc}")
    records = None
    if get_settings().records.enabled:
        from shared.records.records_pass import STATUS

        records = await root().state.list_values(STATUS)
    task_lists = None
    try:
        from shared.mirror.report import every_list_report

        c = root()
        reports = every_list_report(commerce=c.commerce.client, state=c.state, settings=c.settings)
        # Commerce retrying for minutes must not hold the whole page.
        task_lists = [r.model_dump(mode="json") for r in await asyncio.wait_for(reports, timeout=15)]
    except Exception as exc:  # the page still shows the rest
        notes.append(f"task completion unavailable: {exc or type(exc).__name__}")
    model = page_model(
        teams=teams,
        report=report,
        dead_letters=dead,
        orchestrations=orchestrations,
        notes=notes,
        records=records,
        task_lists=task_lists,
    )
    if req.params.get("format") == "json":
        return _json(model)
    return func.HttpResponse(
        render(model),
        mimetype="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},  # a fragment
    )


@bp.route(route="ops/subscriptions", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def ops_subscriptions(req: func.HttpRequest) -> func.HttpResponse:
    """Graph subscriptions with their expiry and the keeper's next action."""
    from shared.ops.subscriptions import subscription_rows

    c = root()
    from shared.drift.subscriptions import todo_resources

    existing = await c.gateway.list_subscriptions()
    return _json(
        subscription_rows(existing, c.settings.webhook, extra_resources=await todo_resources(c.state))
    )


@bp.route(route="ops/subscriptions/{action}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def ops_subscriptions_action(req: func.HttpRequest) -> func.HttpResponse:
    """`renew` now, or `recreate` (a dry run unless dry_run=false); `id=` limits to some."""
    from shared.drift.subscriptions import SubscriptionsNotConfigured
    from shared.ops import subscriptions

    c = root()
    ids = _list(req, "id") or []
    action = req.route_params.get("action")
    try:
        if action == "renew":
            return _json(await subscriptions.renew(c.gateway, c.state, c.settings.webhook, ids))
        if action == "recreate":
            dry_run = (req.params.get("dry_run") or "true").lower() not in ("false", "0", "no")
            return _json(
                await subscriptions.recreate(c.gateway, c.state, c.settings.webhook, ids, dry_run=dry_run)
            )
    except LookupError as exc:
        return _error(str(exc), 404)
    except SubscriptionsNotConfigured as exc:
        return _error(str(exc), 409)
    return _error(f"unknown action {action!r}: use renew or recreate", 404)


@bp.timer_trigger(arg_name="timer", schedule="%CTS_STATE__HOUSEKEEPING_SCHEDULE%", run_on_startup=False)
async def state_housekeeping(timer: func.TimerRequest) -> None:
    from datetime import timedelta

    from shared.state.housekeeping import housekeep

    c = root()
    done = await housekeep(
        c.state,
        echo_retention=timedelta(hours=c.settings.state.echo_retention_hours),
        event_retention=timedelta(days=c.settings.state.event_retention_days),
    )
    telemetry.log_event(log, "state housekeeping done", echoes=done.echoes, events=done.events)
