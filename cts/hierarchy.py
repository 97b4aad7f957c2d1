"""`cts hierarchy export|status`: the Teams targeting hierarchy generated from Commerce's retail
reporting hierarchy and the app's team mapping (docs/hierarchy.md).

There is no Microsoft Graph API for the targeting hierarchy: the file is applied with Teams
PowerShell, `Set-TeamTargetingHierarchy -FilePath <file>` (one hierarchy per tenant; each upload
replaces the previous one), and checked with `Get-TeamTargetingHierarchyStatus`.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, Any

import typer

from cts.root import root
from cts.target import JsonOption, echo_json, guard

app = typer.Typer(
    help="The Teams targeting hierarchy (Tasks publishing) from Commerce.", no_args_is_help=True
)

APPLY = (
    "Apply it with Teams PowerShell (Teams service admin):\n"
    "  Connect-MicrosoftTeams\n"
    '  Set-TeamTargetingHierarchy -FilePath "{path}"\n'
    "  Get-TeamTargetingHierarchyStatus   # Starting, Validating, Successful or Failed"
)


@app.command("export")
def hierarchy_export(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the CSV here (else stdout).")] = None,
    json_out: JsonOption = False,
) -> None:
    """Write the hierarchy CSV (TargetName,ParentName,TeamId) and record it as exported, so
    `cts hierarchy status` can tell when a store or region change makes it stale."""
    clients = root(ctx)
    data: dict[str, Any] = guard(lambda: clients.call("GET", "/api/ops/hierarchy").json())
    if out is not None:
        out.write_text(data["csv"], encoding="utf-8", newline="")
    params = {"fingerprint": data["fingerprint"], "by": getpass.getuser()}
    marked: dict[str, Any] = guard(lambda: clients.call("POST", "/api/ops/hierarchy", params=params).json())
    if json_out:
        echo_json({k: v for k, v in marked.items() if k != "csv" or out is None})
        return
    if out is None:
        typer.echo(data["csv"], nl=False)
        return
    typer.echo(f"wrote {out}: {data['nodes']} nodes, {data['stores']} store teams")
    for why in data["skipped"]:
        typer.echo(f"  left out: {why}")
    typer.echo(APPLY.format(path=out))


@app.command("status")
def hierarchy_status(ctx: typer.Context, json_out: JsonOption = False) -> None:
    """Whether the last exported hierarchy still matches Commerce and the team mapping (exit 1 when
    stale: re-export and apply it)."""
    clients = root(ctx)
    data: dict[str, Any] = guard(lambda: clients.call("GET", "/api/ops/hierarchy").json())
    if json_out:
        echo_json({k: v for k, v in data.items() if k != "csv"})
    elif data["last_export"] is None:
        typer.echo(
            f"never exported ({data['nodes']} nodes now): run `cts hierarchy export --out hierarchy.csv`"
        )
    else:
        last = data["last_export"]
        state = "STALE: a store, region or team changed since" if data["stale"] else "up to date"
        typer.echo(
            f"{state} (last export {last['at']} by {last['by']}, {last['nodes']} nodes; now {data['nodes']})"
        )
    if data["stale"]:
        raise typer.Exit(1)
