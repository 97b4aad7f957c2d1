"""`cts explain` and `cts trace`: why a team is as it is, and what one event caused.

cts explain store:0042             desired people (with the Commerce rows behind each), the
                                   actual team, the plan with reasons, held safety rails,
                                   unresolved identities, the last pass
cts explain store:0042 000123      the same, narrowed to one person, plus every team that
                                   person is desired in or was removed from, and why
cts trace EVENT_ID                 the tree of spans one Commerce event caused: the trigger,
                                   the orchestration, passes, Graph calls with status and time
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from cts.root import CtsRoot, root
from cts.target import CtsError, JsonOption, TargetKind, echo_json, fail


def _get(ctx: typer.Context, path: str) -> Any:
    clients = root(ctx)
    try:
        r = clients.call("GET", path, ok=(200, 400, 404))
    except CtsError as exc:
        fail(str(exc), exc.code)
    except Exception as exc:  # no host: one line
        fail(f"no connection: {exc}", 1)
    if r.status_code != 200:
        fail(r.json().get("error", r.text), 2 if r.status_code == 400 else 1)
    return r.json()


def explain(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="A team key (store:0042) or a store number (0042).")],
    person: Annotated[
        str | None, typer.Argument(help="A personnel number (000123): where this person is and why.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Why a team is as it is (and, with PERSON, why that person is or is not in it)."""
    team = _get(ctx, f"/api/ops/explain/{quote(key, safe=':')}")
    data: dict[str, Any] = {"team": team}
    if person is not None:
        data["person"] = _get(
            ctx, f"/api/ops/explain/person:{quote(person)}?team={quote(team['key'], safe=':')}"
        )
    if json_out:
        echo_json(data)
        return
    _print_team(team, person)
    if person is not None:
        _print_person(data["person"])


def _print_team(t: dict[str, Any], person: str | None) -> None:
    typer.echo(f"team {t['key']}")
    d = t["desired"]
    if d is None:
        typer.echo("  desired: no team (see problems)")
    else:
        typer.echo(f"  desired: {d['display_name']}{' (archived)' if d['archived'] else ''}")
        for p in d["people"]:
            if person is not None and p["personnel_number"] != person:
                continue
            rows = ", ".join(
                f"{r['store']} {r['role']}{'' if r['active'] else ' (inactive)'}" for r in p["commerce_rows"]
            )
            who = p["personnel_number"] or p["user_id"]
            typer.echo(f"    {p['role']:<6} {who}: {p['why']}  [Commerce: {rows or '-'}]")
    a = t["actual"]
    typer.echo(
        "  actual: none"
        if a is None
        else f"  actual: {a['display_name']} ({a['team_id']}) "
        f"{len(a['owners'])} owners, {len(a['members'])} members{' archived' if a['archived'] else ''}"
    )
    for title, ops in (("plan", t["plan"]), ("held by a safety rail", t["held"])):
        typer.echo(f"  {title}: {'nothing' if not ops else ''}")
        for op in ops:
            typer.echo(f"    {op['op']}: {op['reason']}")
    for pr in t["problems"]:
        typer.echo(f"  problem: {pr['kind']}: {pr.get('detail', '')}")
    last = t["last_pass"]
    typer.echo("  last pass: none" if last is None else f"  last pass: {last['outcome']} at {last['at']}")


def _print_person(p: dict[str, Any]) -> None:
    typer.echo(f"\nperson {p['personnel_number']}")
    for t in p["teams"]:
        where = ", ".join(t["desired_as"]) or "not desired"
        typer.echo(f"  {t['key']}: {where}; in the team now: {'yes' if t['in_team_now'] else 'no'}")
        for why in t["why"] + t["removed_because"]:
            typer.echo(f"    why: {why}")
        for op in t["plan"] + t["held"]:
            typer.echo(f"    {op['op']}: {op['reason']}")
        for pr in t["problems"]:
            typer.echo(f"    problem: {pr['kind']}: {pr.get('detail', '')}")
    for r in p["removed_from"]:
        typer.echo(f"  removed from {r['key']}: {r['why']}")


# -- trace ---------------------------------------------------------------------------------------
KQL = """union dependencies, requests
| where timestamp > ago({days}d)
| where operation_Id in ((union requests, dependencies
    | where timestamp > ago({days}d) and tostring(customDimensions["cts.event_id"]) == "{event}"
    | distinct operation_Id))
| project timestamp, name, id, operation_ParentId, operation_Id, duration, success,
    resultCode, customDimensions
| order by timestamp asc"""


def _local_spans(data: Path) -> list[dict[str, Any]]:
    path = next(
        (
            p
            for p in (data / "host" / "telemetry" / "spans.jsonl", data / "telemetry" / "spans.jsonl")
            if p.is_file()
        ),
        None,
    )
    if path is None:
        raise CtsError(
            f"no spans in {data} (host/telemetry/spans.jsonl): is the stack running with tracing on?"
        )
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def event_spans(spans: list[dict[str, Any]], event_id: str) -> list[dict[str, Any]]:
    """Every span in the traces of this event (its deliveries, replays linked to them)."""
    traces = {s["trace_id"] for s in spans if s["attributes"].get("cts.event_id") == event_id}
    linked = {s["trace_id"] for s in spans if any(link["trace_id"] in traces for link in s.get("links", []))}
    wanted = traces | linked
    return sorted((s for s in spans if s["trace_id"] in wanted), key=lambda s: s["start"])


def tree(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:
        children.setdefault(s["parent_id"] if s["parent_id"] in ids else None, []).append(s)

    def node(s: dict[str, Any]) -> dict[str, Any]:
        a = s["attributes"]
        return {
            "name": s["name"],
            "trace_id": s["trace_id"],
            "span_id": s["span_id"],
            "duration_ms": s["duration_ms"],
            "status": a.get("http.response.status_code", a.get("http.status_code")) or s["status"],
            "ids": {k: v for k, v in a.items() if k.startswith("cts.") or k.startswith("graph.")},
            "links": s.get("links", []),
            "children": [node(c) for c in children.get(s["span_id"], [])],
        }

    return [node(s) for s in children.get(None, [])]


def _azure_spans(clients: CtsRoot, event_id: str, days: int) -> list[dict[str, Any]]:
    """The event's spans from Application Insights: a resource-centric query on the component
    (classic table names: requests, dependencies) through azure-monitor-query. Not run here: no
    machine of this project reaches Azure."""
    from datetime import timedelta

    client, resource = clients.app_insights()
    query = KQL.format(days=days, event=event_id.replace('"', ""))
    result = client.query_resource(resource, query, timespan=timedelta(days=days))
    rows: list[dict[str, Any]] = []
    for table in getattr(result, "tables", []):
        for r in table.rows:
            row = dict(zip(table.columns, r, strict=False))
            dims = row.get("customDimensions") or {}
            if isinstance(dims, str):
                dims = json.loads(dims or "{}")
            rows.append(
                {
                    "name": row.get("name"),
                    "trace_id": row.get("operation_Id"),
                    "span_id": row.get("id"),
                    "parent_id": row.get("operation_ParentId"),
                    "start": str(row.get("timestamp")),
                    "duration_ms": float(row.get("duration") or 0),
                    "status": "OK" if row.get("success") in (True, "True", None) else "ERROR",
                    "attributes": {**dims, "http.response.status_code": row.get("resultCode")},
                    "links": [],
                }
            )
    return rows


def trace(
    ctx: typer.Context,
    event_id: Annotated[str, typer.Argument(help="A Commerce event id (the BusinessEventId).")],
    days: Annotated[int, typer.Option(help="--target azure: how many days back to look.")] = 2,
    json_out: JsonOption = False,
) -> None:
    """What one Commerce event caused: the tree of its spans (local: the host's spans.jsonl;
    azure: App Insights through Azure Monitor Query)."""
    clients = root(ctx)
    where = clients.target
    try:
        if where.kind is TargetKind.AZURE:
            spans = _azure_spans(clients, event_id, days)
        else:
            spans = _local_spans(where.data)
    except CtsError as exc:
        fail(str(exc), exc.code)
    found = event_spans(spans, event_id)
    if not found:
        fail(f"no spans for event {event_id}", 1)
    roots = tree(found)
    if json_out:
        echo_json({"event_id": event_id, "traces": sorted({s["trace_id"] for s in found}), "spans": roots})
        return

    def show(n: dict[str, Any], depth: int) -> None:
        ids = " ".join(f"{k.split('.', 1)[1]}={v}" for k, v in n["ids"].items() if k != "cts.team_keys")
        link = f"  (links {', '.join(x['trace_id'] for x in n['links'])})" if n["links"] else ""
        typer.echo(f"{'  ' * depth}{n['name']}  [{n['status']}, {n['duration_ms']:.0f} ms] {ids}{link}")
        for c in n["children"]:
            show(c, depth + 1)

    for r in roots:
        typer.echo(f"trace {r['trace_id']}")
        show(r, 1)
