"""The scenario report (spec/local-and-cli.md, "Report"), read back through the services' APIs.

- `teams`: Microsoft Graph (the sandbox) through the app's Graph gateway (msgraph-sdk over
  HTTP): every team of the tenant, its members, channels and plan. `store` comes from the
  Commerce mapping rows (Commerce OData).
- `commerce_tasks`: Commerce OData (`CommerceClient.store_tasks`).
- `problems`: the app's state store sync records — the one exception: problems are the app's
  findings, no service holds them.
- `dead_letters`: the broker's dead-letter sub-queues.
- `counters`: the Graph sandbox's request counters (taken *before* the report's own reads), the
  app's intake counters (state store), the durable management API, the Commerce sandbox.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.state import teams as team_records
from shared.sync import records as sync_records

if TYPE_CHECKING:
    from local.stack.core import Stack


async def _pages(client: Any, url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        page, _ = await client.call("GET", next_url)
        out += list(page.get("value", []))
        next_url = page.get("@odata.nextLink")
    return out


def _day(value: datetime | None) -> str | None:
    return value.date().isoformat() if value is not None else None


async def read_teams(
    stack: Stack, mapped: dict[str, str], plan_title: str | None = None
) -> list[dict[str, Any]]:
    """Every team in the tenant, as Graph shows it; `mapped` is team id -> store (Commerce)."""
    from shared.graph import Gateway, NotFound
    from shared.settings import GraphSettings

    gateway = Gateway(
        GraphSettings(base_url=stack.graph.base_url, auth="static_token", static_token=stack.graph.token)
    )
    try:
        client = gateway.client()
        upn_of = {u["id"]: u.get("userPrincipalName") for u in await _pages(client, "users?$top=999")}
        groups = await _pages(
            client, "groups?$filter=resourceProvisioningOptions/Any(x:x%20eq%20'Team')&$top=999"
        )
        teams: list[dict[str, Any]] = []
        for group in groups:
            team_id = str(group["id"])
            try:
                team = await gateway.get_team(team_id)
            except NotFound:
                team = None
            if team is None:
                continue  # a group whose team is still being created
            members = await gateway.list_members(team_id)
            owners = sorted(
                str(upn_of.get(m.user_id) or m.upn or m.user_id) for m in members if m.role == "owner"
            )
            others = sorted(
                str(upn_of.get(m.user_id) or m.upn or m.user_id) for m in members if m.role != "owner"
            )
            channels = sorted(c.name for c in await gateway.list_channels(team_id))
            teams.append({
                "store": mapped.get(team_id),
                "team_id": team_id,
                "display_name": team.display_name,
                "archived": team.archived,
                "owners": owners,
                "members": others,
                "channels": channels,
                "plan": await _read_plan(gateway, team_id, plan_title, upn_of),
            })  # fmt: skip
    finally:
        await gateway.aclose()
    return sorted(
        teams, key=lambda t: (t["store"] is None, t["store"] or "", t["display_name"], t["team_id"])
    )


async def _read_plan(
    gateway: Any, team_id: str, title: str | None, upn_of: dict[str, Any]
) -> dict[str, Any] | None:
    plans = await gateway.list_plans(team_id)
    if not plans:
        return None
    plan = next((p for p in plans if title and p.title == title), plans[0])
    buckets = await gateway.list_buckets(plan.plan_id)
    bucket_name = {b.bucket_id: b.name for b in buckets}
    tasks = await gateway.list_tasks(plan.plan_id)
    return {
        "title": plan.title,
        "buckets": [b.name for b in buckets],
        "tasks": sorted(
            (
                {
                    "title": t.title,
                    "bucket": bucket_name.get(t.bucket_id or ""),
                    "percent_complete": t.percent_complete,
                    "due": _day(t.due),
                    "assignees": sorted(str(upn_of.get(a) or a) for a in t.assignee_ids),
                }
                for t in tasks
            ),
            key=lambda t: (t["bucket"] or "", t["title"]),
        ),
    }


def _dead_letter(message: Any) -> dict[str, Any]:
    event_id = None
    try:
        body = json.loads(bytes(message.body).decode("utf-8-sig"))
        if isinstance(body, dict):
            event_id = body.get("EventId") or body.get("RequestId")
    except (UnicodeDecodeError, ValueError):
        pass
    from shared.ops.dlq import app_reason

    return {
        "reason": app_reason(message) or message.dead_letter_reason,  # as `cts dlq list` shows it
        "dead_letter_reason": message.dead_letter_reason,
        "description": message.dead_letter_error_description,
        "event_id": event_id,
        "delivery_count": message.delivery_count,
    }


def _app_mappings(stack: Stack) -> dict[str, str]:
    """team id -> store from the app's own mapping table (only where Commerce has no row)."""
    from pathlib import Path

    if not Path(stack.settings["CTS_STATE__SQLITE_PATH"]).exists():
        return {}
    records = stack.loop.run(team_records.list_teams(stack.state()))
    return {r.team_id: r.key.split(":", 1)[1] for r in records if r.key.startswith("store:")}


def _problems(stack: Stack) -> list[dict[str, Any]]:
    from pathlib import Path

    if not Path(stack.settings["CTS_STATE__SQLITE_PATH"]).exists():
        return []
    out = []
    for record in stack.loop.run(sync_records.list_syncs(stack.state())):
        for p in record.problems:
            item: dict[str, Any] = {}
            if p.store is not None:
                item["store"] = p.store
            if p.personnel_number is not None:
                item["personnel_number"] = p.personnel_number
            if "store" not in item and "personnel_number" not in item and p.team_key:
                item["store"] = p.team_key.split(":", 1)[-1] if p.team_key.startswith("store:") else None
            item["kind"] = str(p.kind.value if hasattr(p.kind, "value") else p.kind)
            item["detail"] = p.detail
            out.append(item)
    return sorted(
        out, key=lambda p: (str(p.get("store") or ""), str(p.get("personnel_number") or ""), p["kind"])
    )


def _counters(stack: Stack, graph: dict[str, Any]) -> dict[str, Any]:
    from pathlib import Path

    app: dict[str, int] = {}
    if Path(stack.settings["CTS_STATE__SQLITE_PATH"]).exists():
        app = dict(stack.loop.run(stack.state().counters()))
    instances = stack.orchestrations()
    by_name: dict[str, int] = {}
    for i in instances:
        by_name[str(i.get("name"))] = by_name.get(str(i.get("name")), 0) + 1
    requests: dict[str, dict[str, int]] = graph.get("requests", {})
    retryable = sum(
        n for statuses in requests.values() for s, n in statuses.items() if s == "429" or s.startswith("5")
    )
    return {
        "events_published": stack.commerce.events_published() if stack.commerce is not None else None,
        "events_received": app.get("events_received", 0),
        "duplicates_skipped": app.get("duplicates_skipped", 0),
        "stale_skipped": app.get("stale_skipped", 0),
        "orchestrations_started": app.get("orchestrations_started", len(instances)),
        "orchestrations": {"instances": len(instances), "by_name": by_name},
        "graph_requests": requests,
        "graph_requests_total": sum(n for statuses in requests.values() for n in statuses.values()),
        "throttled": graph.get("throttled", 0),
        # Every 429/5xx Graph answered was retried by the gateway (or surfaced as a problem).
        "retries": {"graph": retryable, "app": {k: v for k, v in app.items() if "retr" in k}},
        "dead_letters": None,  # filled below
        "app": app,
    }


def build_report(
    stack: Stack, *, timings: dict[str, Any], run: dict[str, Any] | None = None
) -> dict[str, Any]:
    graph_counters = stack.graph.counters()  # before our own reads count
    stack.graph.clear_faults()  # read the final state, not an injected fault
    from shared.settings import Settings

    plan_title = Settings().provisioning.plan_title
    mapped: dict[str, str] = {}
    if stack.commerce is not None:
        mapped = {str(m["team_id"]): str(m["store"]) for m in stack.commerce.mappings() if m.get("store")}
    for team_id, store in _app_mappings(stack).items():
        mapped.setdefault(team_id, store)  # teams the app created but has not (yet) mapped in Commerce
    teams = stack.loop.run(read_teams(stack, mapped, plan_title))
    dead = [_dead_letter(m) for m in stack.bus.dead_letters()]
    counters = _counters(stack, graph_counters)
    counters["dead_letters"] = len(dead)
    report: dict[str, Any] = {
        "teams": teams,
        "commerce_tasks": stack.commerce.store_tasks() if stack.commerce is not None else [],
        "problems": _problems(stack),
        "dead_letters": dead,
        "counters": counters,
        "timings": timings,
    }
    if run is not None:
        report["run"] = run
    return report


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A few human lines for the console."""
    teams = report["teams"]
    mapped = [t for t in teams if t["store"]]
    lines = [f"Teams in the tenant: {len(teams)} ({len(mapped)} mapped to stores)"]
    for t in teams[:40]:
        flag = " [archived]" if t["archived"] else ""
        tasks = len(t["plan"]["tasks"]) if t["plan"] else 0
        lines.append(f"  {t['store'] or '-':>6}  {t['display_name']}{flag}: {len(t['owners'])} owners, "
                     f"{len(t['members'])} members, {len(t['channels'])} channels, "
                     f"{tasks} tasks")  # fmt: skip
    if len(teams) > 40:
        lines.append(f"  … and {len(teams) - 40} more")
    lines.append(f"Problems: {len(report['problems'])}")
    for p in report["problems"][:20]:
        who = p.get("store") or p.get("personnel_number") or "-"
        lines.append(f"  {who}: {p['kind']} — {p['detail']}")
    lines.append(f"Dead letters: {len(report['dead_letters'])}")
    for d in report["dead_letters"][:10]:
        lines.append(f"  {d['reason']}: {(d['description'] or '')[:100]} (deliveries {d['delivery_count']})")
    c = report["counters"]
    lines.append(f"Events received {c['events_received']}, duplicates skipped {c['duplicates_skipped']}, "
                 f"orchestrations {c['orchestrations_started']}, Graph requests {c['graph_requests_total']}, "
                 f"throttled {c['throttled']}")  # fmt: skip
    return lines
