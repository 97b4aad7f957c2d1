"""`cts tasks ...`: task mirroring through the app's ops functions (`/api/ops/tasks/...`).

`cts tasks report <list-id>`: the list's completion report per region and store -- done, open,
overdue (in the store's time zone), not yet mirrored, with a problem (docs/tasks.md).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console
from rich.table import Table

from cts.root import root
from cts.target import CtsError, JsonOption, echo_json, guard

app = typer.Typer(help="Task mirroring: the completion report of a task list.", no_args_is_help=True)

_COLUMNS = ("tasks", "done", "open", "overdue", "canceled", "not_mirrored", "problems")


@app.command("report")
def report(
    ctx: typer.Context,
    task_list: Annotated[str, typer.Argument(help="The Commerce task list id (e.g. TL-7).")],
    region: Annotated[
        str | None, typer.Option("--region", "-r", help="Only the stores of this region (its id).")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Completion of a task list across stores: per region and store, its tasks done, open and
    overdue (due before today in the store's time zone), not yet mirrored to Planner, and those
    whose last mirror pass has a problem. Commerce's task statuses are the source of truth."""
    target = root(ctx)
    params = {"region": region} if region else None

    def fetch() -> Any:
        r = target.call("GET", f"/api/ops/tasks/report/{quote(task_list, safe='')}", params=params,
                        ok=(200, 404))  # fmt: skip
        if r.status_code == 404:
            raise CtsError(str(r.json().get("error") or f"no task list {task_list}"))
        return r.json()

    data = guard(fetch)
    if json_out:
        echo_json(data)
        return
    _print(data)


def _row(label: str, counts: dict[str, Any]) -> list[str]:
    return [label, *(str(counts.get(c, 0)) for c in _COLUMNS)]


def _print(data: dict[str, Any]) -> None:
    name = f" ({data['list_name']})" if data.get("list_name") else ""
    where = f", region {data['region']}" if data.get("region") else ""
    table = Table(title=f"Task list {data['task_list']}{name}{where}")
    for col in ("region / store", *(c.replace("_", " ") for c in _COLUMNS), "today (store)"):
        table.add_column(col, overflow="fold")
    for r in data.get("regions") or []:
        table.add_row(*_row(f"[bold]{r['region']}[/bold]", r["counts"]), "")
        for s in r["stores"]:
            zone = s["time_zone"] + (" (fallback)" if s.get("zone_fallback") else "")
            table.add_row(*_row(f"  {s['store']} {s.get('name') or ''}".rstrip(), s["counts"]),
                          f"{s['today']} {zone}")  # fmt: skip
    table.add_row(*_row("[bold]total[/bold]", data["totals"]), "")
    Console(width=max(Console().width, 140)).print(table)
    problems = [p for r in data.get("regions") or [] for s in r["stores"] for p in s.get("problems") or []]
    for p in problems[:20]:
        typer.echo(f"problem: {p}")
    if len(problems) > 20:
        typer.echo(f"… {len(problems) - 20} more problem(s): use --json")
    t = data["totals"]
    typer.echo(
        f"{t['tasks']} store task(s): {t['done']} done, {t['open']} open ({t['overdue']} overdue), "
        f"{t['canceled']} canceled; {t['not_mirrored']} not yet mirrored, {t['problems']} with a problem"
    )
