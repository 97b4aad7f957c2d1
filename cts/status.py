"""`cts status [STORE|INSTANCE]` and `cts reconcile`: through the app's ops functions
(`/api/ops/status`, `/api/ops/reconcile`, `/api/ops/report`) and the Durable Functions
management API (`/runtime/webhooks/durabletask`), so they read what the app itself sees.
"""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cts.root import CtsRoot, root
from cts.target import CtsError, JsonOption, echo_json, fail, guard

DURABLE = "/runtime/webhooks/durabletask"
IN_FLIGHT = "Running,Pending,ContinuedAsNew"


def _console() -> Console:
    return Console(width=max(Console().width, 140))


def _team_key(text: str) -> str | None:
    """`0042` → `store:0042`; `store:0042` / `communications` kept; None for anything else."""
    if text.isdigit():
        return f"store:{text}"
    if ":" in text or text == "communications":
        return text
    return None


def _instance(clients: CtsRoot, instance_id: str) -> dict[str, Any] | None:
    r = clients.call("GET", f"{DURABLE}/instances/{quote(instance_id, safe='')}", ok=(200, 202, 404))
    return None if r.status_code == 404 else dict(r.json())


def status(
    ctx: typer.Context,
    what: Annotated[
        str | None,
        typer.Argument(
            help="A store number (0042), a team key (store:0042) or an orchestration instance id."
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Every team's last sync and the orchestrations in flight; or one store / one instance."""
    clients = root(ctx)
    if what is None:
        data = guard(lambda: {
            "teams": clients.call("GET", "/api/ops/status").json(),
            "in_flight": clients.call("GET", f"{DURABLE}/instances",
                                     params={"runtimeStatus": IN_FLIGHT}).json(),
            "failed": clients.call("GET", f"{DURABLE}/instances", params={"runtimeStatus": "Failed"}).json(),
        })  # fmt: skip
        if json_out:
            echo_json(data)
        else:
            _print_overview(data)
        return
    key = _team_key(what)
    if key is not None:
        from shared.spine.features import TEAMS

        def one_team() -> dict[str, Any]:
            r = clients.call("GET", f"/api/ops/status/{quote(key, safe=':')}", ok=(200, 404))
            if r.status_code == 404:
                raise CtsError(f"no team or sync recorded for {key}")
            try:
                iid = TEAMS.instance_id(key)
            except ValueError:
                iid = None
            return {"team": r.json()[0], "orchestration": _instance(clients, iid) if iid else None}

        data = guard(one_team)
        if json_out:
            echo_json(data)
        else:
            _print_team(data["team"])
            if data["orchestration"]:
                typer.echo("")
                _print_instance(data["orchestration"])
        return
    found = guard(lambda: _instance(clients, what))
    if found is None:
        fail(f"no store or orchestration instance {what!r}", 1)
    if json_out:
        echo_json(found)
    else:
        _print_instance(found)


def _print_overview(data: dict[str, Any]) -> None:
    teams = data["teams"]
    table = Table(title="Teams")
    for col in ("team", "team id", "last sync (UTC)", "result", "ops", "problems"):
        table.add_column(col, overflow="fold")
    for t in teams:
        problems = t.get("problems") or []
        table.add_row(
            t["key"], t.get("team_id") or "-", (t.get("last_sync") or "never")[:19].replace("T", " "),
            t.get("outcome") or "-", str(t.get("operations") or 0),
            (f"{len(problems)}: {problems[0].get('kind')}" if problems else "") + (t.get("error") or ""),
        )  # fmt: skip
    _console().print(table)
    for title, rows in (
        ("Orchestrations in flight", data["in_flight"]),
        ("Failed orchestrations", data["failed"]),
    ):
        if rows:
            table = Table(title=title)
            for col in ("instance", "name", "status", "updated (UTC)", "custom status"):
                table.add_column(col, overflow="fold")
            for o in rows:
                table.add_row(o.get("instanceId", ""), o.get("name", ""), o.get("runtimeStatus", ""),
                              str(o.get("lastUpdatedTime", ""))[:19].replace("T", " "),
                              str(o.get("customStatus") or ""))  # fmt: skip
            _console().print(table)
    failed = sum(1 for t in teams if t.get("outcome") in ("failed", "blocked", "held"))
    typer.echo(
        f"{len(teams)} team(s), {failed} needing attention; "
        f"{len(data['in_flight'])} orchestration(s) in flight, "
        f"{len(data['failed'])} failed"
    )


def _print_team(t: dict[str, Any]) -> None:
    for name in (
        "key",
        "team_id",
        "adopted",
        "managed_members",
        "last_sync",
        "outcome",
        "operations",
        "error",
    ):
        if t.get(name) not in (None, ""):
            typer.echo(f"{name + ':':18}{t[name]}")
    for p in t.get("problems") or []:
        typer.echo(f"problem:          {p.get('kind')}: {p.get('detail')}")


def _print_instance(o: dict[str, Any]) -> None:
    for label, name in (("instance", "instanceId"), ("orchestration", "name"), ("status", "runtimeStatus"),
                        ("created", "createdTime"), ("updated", "lastUpdatedTime"),
                        ("custom status", "customStatus"), ("output", "output")):  # fmt: skip
        if o.get(name) not in (None, ""):
            typer.echo(f"{label + ':':18}{o[name]}")


# -- reconcile ------------------------------------------------------------------------------------
def reconcile(
    ctx: typer.Context,
    store: Annotated[
        list[str] | None, typer.Option("--store", "-s", help="Only this store (repeatable).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Compute the drift, change nothing in Teams.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for the end and print the drift report.")
    ] = True,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait at most.")] = 600.0,
    json_out: JsonOption = False,
) -> None:
    """Run the full reconciliation now (or for some stores); prints the drift found and what was
    (or, with --dry-run, would be) changed."""
    clients = root(ctx)
    params: dict[str, str] = {"dry_run": "true" if dry_run else "false"}
    if store:
        params["store"] = ",".join(store)
    else:
        params["all"] = "true"  # the command means every team; the endpoint wants it said
    started = guard(lambda: clients.call("POST", "/api/ops/reconcile", params=params, ok=(202,)).json())
    instance, report_id = started["id"], started["report_id"]
    if not wait:
        if json_out:
            echo_json(started)
        else:
            typer.echo(f"reconciliation started: instance {instance}, report {report_id}")
            typer.echo(f"follow it with: cts status {instance}")
        return
    final = guard(lambda: _wait(clients, instance, timeout, quiet=json_out))
    if final.get("runtimeStatus") != "Completed":
        fail(f"reconciliation {instance} ended {final.get('runtimeStatus')}: {final.get('output')}", 1)
    report = guard(lambda: clients.call("GET", f"/api/ops/report/{report_id}").json())
    if json_out:
        echo_json(report)
    else:
        print_report(report)


def _wait(clients: CtsRoot, instance: str, timeout: float, *, quiet: bool) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    progress = Progress(TextColumn("reconciling"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=Console(stderr=True), disable=quiet)  # fmt: skip
    with progress:
        task = progress.add_task("teams", total=None)
        while True:
            status = _instance(clients, instance) or {}
            custom = status.get("customStatus") or {}
            if isinstance(custom, dict) and custom.get("total"):
                progress.update(task, total=custom["total"], completed=custom.get("done", 0))
            if status.get("runtimeStatus") in ("Completed", "Failed", "Terminated", "Canceled"):
                if isinstance(custom, dict) and custom.get("total"):
                    progress.update(task, completed=custom["total"])
                return status
            if time.monotonic() > deadline:
                raise CtsError(f"still running after {timeout:.0f} s: follow it with `cts status {instance}`")
            time.sleep(0.5)


def print_report(report: dict[str, Any]) -> None:
    stores: dict[str, Any] = report.get("stores") or {}
    mode = "dry run: nothing was changed" if report.get("dry_run") else "applied"
    outcomes = ", ".join(f"{k} {v}" for k, v in (report.get("outcomes") or {}).items())
    typer.echo(f"report {report.get('id')} ({mode}): {report.get('teams')} team(s); {outcomes}")
    drifted = {k: v for k, v in stores.items() if v.get("operations") or v.get("problems") or v.get("held")}
    if not drifted:
        typer.echo("no drift: every team matches Commerce")
        return
    table = Table(title="Drift " + ("that would be corrected" if report.get("dry_run") else "corrected"))
    for col in ("team", "result", "changes", "held / problems"):
        table.add_column(col, overflow="fold")
    for key, entry in sorted(drifted.items()):
        ops = entry.get("operations") or []
        changes = "\n".join(_op_text(o) for o in ops[:10]) + (
            f"\n… {len(ops) - 10} more" if len(ops) > 10 else ""
        )
        issues = [f"held: {_op_text(h)}" for h in entry.get("held") or []]
        issues += [f"{p.get('kind')}: {p.get('detail')}" for p in entry.get("problems") or []]
        table.add_row(key, entry.get("outcome") or "", changes, "\n".join(issues))
    _console().print(table)


def _op_text(op: Any) -> str:
    if not isinstance(op, dict):
        return str(op)
    name = op.get("op", "change")
    detail = {k: v for k, v in op.items() if k != "op" and v not in (None, "", [], {})}
    brief = ", ".join(f"{k}={v}" for k, v in list(detail.items())[:3])
    return f"{name} {brief}".strip()
