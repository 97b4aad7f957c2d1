"""`cts suspend`, `cts resume`, `cts suspended`: the kill switch (docs/control.md).

Through the app's `/api/ops/suspend` function, so the switch lives where every pass reads it (the
state store). While suspended, passes still read, plan and report (outcome `suspended`); nothing
is written to Teams, Planner or Commerce. `cts resume` lifts it and starts a reconciliation.
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer

from cts.status import _guard
from cts.target import JsonOption, current, echo_json


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
    target = current(ctx)
    params = {"reason": reason, "by": getpass.getuser()}
    _show(_guard(lambda: target.call("POST", "/api/ops/suspend", params=params).json()), json_out)


def resume(ctx: typer.Context, json_out: JsonOption = False) -> None:
    """Lift the kill switch set by `cts suspend` and reconcile, so what was held converges."""
    target = current(ctx)
    params = {"by": getpass.getuser()}
    _show(_guard(lambda: target.call("DELETE", "/api/ops/suspend", params=params).json()), json_out)


def suspended(ctx: typer.Context, json_out: JsonOption = False) -> None:
    """Show whether writes are suspended, by whom and why, and the opt-out lists."""
    target = current(ctx)
    _show(_guard(lambda: target.call("GET", "/api/ops/suspend").json()), json_out)
