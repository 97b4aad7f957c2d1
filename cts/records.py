"""`cts records ...`: record-connected channels through the app's ops functions
(`/api/ops/records/...`): last pass per account, one account's connections with problems, and the
reconciliation of every connection (a dry run unless --apply)."""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console
from rich.table import Table

from cts.root import root
from cts.target import JsonOption, echo_json, fail, guard

app = typer.Typer(
    help="Record-connected channels: connections, problems, reconciliation.", no_args_is_help=True
)


@app.command("status")
def status(ctx: typer.Context, json_out: JsonOption = False) -> None:
    """The last records pass of every account: outcome, operations, problems."""
    clients = root(ctx)
    data = guard(lambda: clients.call("GET", "/api/ops/records/status").json())
    if json_out:
        echo_json(data)
        return
    table = Table(title="Records passes")
    for col in ("account", "outcome", "ops", "problems"):
        table.add_column(col, overflow="fold")
    for key, r in sorted(data.items()):
        table.add_row(
            key,
            r.get("outcome", "-"),
            str(len(r.get("operations") or [])),
            "; ".join(r.get("problems") or []),
        )
    Console(width=140).print(table)


@app.command("connections")
def connections(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="The account id (GUID), or account:<GUID>.")],
    json_out: JsonOption = False,
) -> None:
    """An account's connections per record and per channel, with problems (record gone, channel
    gone, no tab, no/broken location, private channel, guests)."""
    clients = root(ctx)
    data = guard(
        lambda: clients.call(
            "GET", f"/api/ops/records/connections/{quote(account, safe=':')}", ok=(200,)
        ).json()
    )
    if json_out:
        echo_json(data)
        return
    console = Console(width=140)
    table = Table(title=f"Records of {data['key']}")
    for col in ("record", "name", "channels", "problems"):
        table.add_column(col, overflow="fold")
    for r in data["records"]:
        problems = sorted({p for c in r["connections"] for p in c["problems"]} | set(r["problems"]))
        table.add_row(
            r["record"],
            r["name"],
            ", ".join(c["channel"] for c in r["connections"]) or "-",
            "; ".join(problems),
        )
    console.print(table)
    table = Table(title="Channels")
    for col in ("team", "channel", "records", "guests", "problems"):
        table.add_column(col, overflow="fold")
    for c in data["channels"]:
        table.add_row(
            c["team_id"], c["channel"], str(len(c["records"])), str(c["guests"]), "; ".join(c["problems"])
        )
    console.print(table)


@app.command("reconcile")
def reconcile(
    ctx: typer.Context,
    account: Annotated[
        list[str] | None, typer.Option("--account", "-a", help="Only this account (repeatable).")
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Change Teams and Dataverse (default: a dry run).")
    ] = False,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for the report at most.")] = 600.0,
    json_out: JsonOption = False,
) -> None:
    """Reconcile every connection (or some accounts). A dry run by default: prints what would
    change; --apply makes the changes."""
    clients = root(ctx)
    params = {"dry_run": "false" if apply else "true"}
    if account:
        params["account"] = ",".join(a.removeprefix("account:") for a in account)
    started = guard(
        lambda: clients.call("POST", "/api/ops/records/reconcile", params=params, ok=(202,)).json()
    )
    report_id = started["report_id"]
    deadline = time.monotonic() + timeout
    while True:
        r = guard(lambda: clients.call("GET", f"/api/ops/records/report/{report_id}", ok=(200, 404)))
        if r.status_code == 200:
            report = r.json()
            break
        if time.monotonic() > deadline:
            fail(f"no report after {timeout:.0f} s: look later with `cts records report {report_id}`", 1)
        time.sleep(0.5)
    if json_out:
        echo_json(report)
        return
    print_report(report)


@app.command("report")
def report(
    ctx: typer.Context,
    report_id: Annotated[str | None, typer.Argument(help="A report id (default: the latest).")] = None,
    json_out: JsonOption = False,
) -> None:
    """A records drift report: accounts whose connections changed (or would), with problems."""
    clients = root(ctx)
    path = "/api/ops/records/report" + (f"/{quote(report_id)}" if report_id else "")
    r = guard(lambda: clients.call("GET", path, ok=(200, 404)))
    if r.status_code == 404:
        fail("no such records report", 1)
    if json_out:
        echo_json(r.json())
    else:
        print_report(r.json())


def print_report(report: dict[str, Any]) -> None:
    mode = "dry run: would change" if report.get("dry_run") else "changed"
    head = f"records report {report['id']} ({mode}); {report.get('accounts')} account(s)"
    typer.echo(f"{head}: {report.get('outcomes')}")
    for key, entry in sorted((report.get("drift") or {}).items()):
        typer.echo(f"- {key}: {entry['outcome']}")
        for op in entry.get("operations") or []:
            where = " ".join(
                x for x in (op.get("record"), op.get("channel") and f"in '{op['channel']}'") if x
            )
            typer.echo(f"    {op['op']} {where}: {op['reason']}")
        for p in entry.get("problems") or []:
            typer.echo(f"    problem: {p}")
