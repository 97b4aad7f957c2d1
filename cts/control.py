"""`cts suspend`, `cts resume`, `cts suspended`: the kill switch (docs/control.md).

Through the app's `/api/ops/suspend` function, so the switch lives where every pass reads it (the
state store). While suspended, passes still read, plan and report (outcome `suspended`); nothing
is written to Teams, Planner or Commerce. `cts resume` lifts it and starts a reconciliation.
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer

from cts.root import root
from cts.target import JsonOption, echo_json, guard


def _show(data: dict[str, Any], json_out: bool) -> None:
    if json_out:
        echo_json(data)
        return
    typer.echo(f"writes {'SUSPENDED: ' + data['reason'] if data['suspended'] else 'enabled'}")
    if data.get("by_setting"):
        typer.echo(
            "(CTS_CONTROL__SUSPEND_ALL_WRITES is set: `cts resume` cannot lift it; change the setting)"
        )
    for name in ("excluded_stores", "excluded_regions"):
        if data.get(name):
            typer.echo(f"{name.replace('_', ' ')}: {', '.join(data[name])}")
    if data.get("reconcile_instance"):
        typer.echo(
            f"reconciliation started: instance {data['reconcile_instance']}, report {data['report_id']}"
        )


def suspend(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (shown on every suspended pass).")] = "",
    json_out: JsonOption = False,
) -> None:
    """Suspend every write to Teams, Planner and Commerce; passes keep planning and reporting."""
    clients = root(ctx)
    params = {"reason": reason, "by": getpass.getuser()}
    _show(guard(lambda: clients.call("POST", "/api/ops/suspend", params=params).json()), json_out)


def resume(ctx: typer.Context, json_out: JsonOption = False) -> None:
    """Lift the kill switch set by `cts suspend` and reconcile, so what was held converges."""
    clients = root(ctx)
    params = {"by": getpass.getuser()}
    _show(guard(lambda: clients.call("DELETE", "/api/ops/suspend", params=params).json()), json_out)


def suspended(ctx: typer.Context, json_out: JsonOption = False) -> None:
    """Show whether writes are suspended, by whom and why, and the opt-out lists."""
    clients = root(ctx)
    _show(guard(lambda: clients.call("GET", "/api/ops/suspend").json()), json_out)
