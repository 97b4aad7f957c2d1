"""`cts subscriptions list|renew|recreate`: the Graph change-notification subscriptions for drift.

They run inside the app (`/api/ops/subscriptions`, functions/ops.py) through the Graph gateway
and `shared.drift.subscriptions`' keeper: the app holds the Graph credential and the webhook's
clientState, so the operator's shell needs only the app's URL and a function key.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cts.root import root
from cts.target import JsonOption, echo_json, guard

app = typer.Typer(
    help="Graph change-notification subscriptions: expiry, renew, recreate.", no_args_is_help=True
)

Ids = Annotated[list[str] | None, typer.Option("--id", help="Only this subscription id (repeatable).")]


@app.command("list")
def subscriptions_list(ctx: typer.Context, json_out: JsonOption = False) -> None:
    """Subscriptions Graph lists, minutes to expiry, and what the keeper will do next."""
    clients = root(ctx)
    rows = guard(lambda: clients.call("GET", "/api/ops/subscriptions").json())
    if json_out:
        echo_json(rows)
        return
    if not rows:
        typer.echo("no subscriptions (subscriptions disabled?)")
        return
    table = Table()
    for col in ("id", "resource", "expires (UTC)", "min left", "notification URL", "next action"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["subscription_id"] or "(missing)", r["resource"],
                      (r["expiration"] or "-")[:19].replace("T", " "),
                      "-" if r["minutes_left"] is None else str(r["minutes_left"]),
                      r["notification_url"] or "",
                      r["next_action"])  # fmt: skip
    Console(width=max(Console().width, 140)).print(table)


@app.command("renew")
def subscriptions_renew(ctx: typer.Context, ids: Ids = None, json_out: JsonOption = False) -> None:
    """Renew the app's subscriptions (or --id) to the longest lifetime now; one Graph removed is recreated."""
    clients = root(ctx)
    params = {"id": ",".join(ids)} if ids else {}
    data: dict[str, Any] = guard(
        lambda: clients.call("POST", "/api/ops/subscriptions/renew", params=params).json()
    )
    if json_out:
        echo_json(data)
        return
    for r in data["renewed"]:
        again = "" if r["now_id"] == r["subscription_id"] else f" (recreated as {r['now_id']})"
        typer.echo(f"renewed {r['subscription_id']} {r['resource']} until {r['expiration']}{again}")
    typer.echo(f"{len(data['renewed'])} renewed")


@app.command("recreate")
def subscriptions_recreate(
    ctx: typer.Context,
    ids: Ids = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Act; without it this is a dry run.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Delete the app's subscriptions (or --id) and create them again with the current URLs and
    clientState (after a URL or secret change). Dry run unless --yes."""
    clients = root(ctx)
    params = {"dry_run": "false" if yes else "true"}
    if ids:
        params["id"] = ",".join(ids)
    data: dict[str, Any] = guard(
        lambda: clients.call("POST", "/api/ops/subscriptions/recreate", params=params).json()
    )
    if json_out:
        echo_json(data)
    elif data.get("dry_run"):
        typer.echo(
            f"dry run: would delete {', '.join(data['would_delete']) or 'nothing'}, "
            "then create what is missing"
        )
        typer.echo("run again with --yes to recreate")
    else:
        typer.echo(
            f"deleted {', '.join(data['deleted']) or 'nothing'}; "
            f"created {', '.join(data['created']) or 'nothing'}"
        )
        if data.get("failed"):
            typer.echo(f"failed: {'; '.join(data['failed'])}", err=True)
            raise typer.Exit(1)
