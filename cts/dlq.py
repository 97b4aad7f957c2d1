"""`cts dlq list|show|replay|purge`: dead letters through the bus protocol (docs/ops.md).

Replay and purge are dry runs unless `--yes`; each message acted on gets an audit record in the
state store (`dlq` audit trail). The rules are shared/bus/replay.py's: a copy with a new message
id to the same subscription only, sent before the dead letter is completed, refused past the
replay ceiling.
"""

from __future__ import annotations

import getpass
import socket
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cts.root import CtsRoot, root
from cts.target import JsonOption, echo_json, fail, run

app = typer.Typer(
    help="Dead letters: list, show, replay to the same subscription, purge (dry run unless --yes).",
    no_args_is_help=True,
)

Entity = Annotated[
    list[str] | None,
    typer.Option(
        "--entity",
        "-e",
        help="Queue or topic/subscription (repeatable; default: the app's entities: cts-quarantine, "
        "the Commerce events subscription, graph-notifications).",
    ),
]
Reason = Annotated[
    list[str] | None,
    typer.Option(
        "--reason",
        "-r",
        help="Reason, exact (repeatable): the app's rejection code (not_json, missing_key, ...) or "
        "what Service Bus recorded (MaxDeliveryCountExceeded, TTLExpiredException, ...).",
    ),
]
EventType = Annotated[
    list[str] | None,
    typer.Option("--event-type", help="Business event id, e.g. RetailStoreChanged (repeatable)."),
]
Store = Annotated[
    list[str] | None, typer.Option("--store", "-s", help="Store number the event is about (repeatable).")
]
Since = Annotated[
    str | None,
    typer.Option(help="Enqueued at or after: ISO time (2025-05-01T10:00Z), date, or age (30m, 2h, 7d)."),
]
Until = Annotated[str | None, typer.Option(help="Enqueued before: ISO time, date, or age.")]
Seq = Annotated[list[int] | None, typer.Option("--seq", help="Only this sequence number (repeatable).")]
Limit = Annotated[int | None, typer.Option(min=1, help="At most this many messages.")]
Yes = Annotated[
    bool, typer.Option("--yes", "-y", help="Act; without it this is a dry run that changes nothing.")
]
All = Annotated[
    bool,
    typer.Option("--all", help="Every dead letter: with --yes a filter, --limit or --all is required."),
]


def _console() -> Console:
    return Console(width=max(Console().width, 140))


def _selection(**kwargs: Any) -> Any:
    from shared.ops.dlq import BadFilter, build_filter

    try:
        return build_filter(**kwargs)
    except BadFilter as exc:
        fail(str(exc), 2)


async def _entities(bus: Any, entity: list[str] | None, clients: CtsRoot) -> list[Any]:
    from shared.ops.dlq import app_entities, existing_entities, parse_entities

    explicit = parse_entities(entity)
    return await existing_entities(bus, explicit or app_entities(clients.settings()), explicit=bool(explicit))


def _actor() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"


def _short(text: Any, width: int = 60) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= width else s[: width - 1] + "…"


@app.command("list")
def dlq_list(
    ctx: typer.Context,
    entity: Entity = None,
    reason: Reason = None,
    event_type: EventType = None,
    store: Store = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = None,
    json_out: JsonOption = False,
) -> None:
    """Dead letters with reason, description, delivery count, enqueued time, event type and store."""
    from shared.ops.dlq import list_all, view

    clients = root(ctx)
    selection = _selection(
        reasons=reason, event_types=event_type, stores=store, since=since, until=until, limit=limit
    )

    async def work() -> list[dict[str, Any]]:
        async with clients.bus() as bus:
            return [view(m) for m in await list_all(bus, await _entities(bus, entity, clients), selection)]

    rows = run(work)
    if json_out:
        echo_json(rows)
        return
    if not rows:
        typer.echo("no dead letters match")
        return
    table = Table(show_lines=False)
    for col in (
        "entity",
        "seq",
        "enqueued (UTC)",
        "reason",
        "description",
        "deliv.",
        "replays",
        "event",
        "store",
    ):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r["entity"], str(r["sequence_number"]), r["enqueued_time"][:19].replace("T", " "),
            r["reason"] or "",
            _short(r["description"]), str(r["delivery_count"]), str(r["replay_count"]), r["event_type"] or "",
            r["store"] or "",
        )  # fmt: skip
    _console().print(table)
    typer.echo(f"{len(rows)} dead letter(s)")


@app.command("show")
def dlq_show(
    ctx: typer.Context,
    seq: Annotated[int, typer.Argument(help="The dead letter's sequence number (see `cts dlq list`).")],
    entity: Entity = None,
    json_out: JsonOption = False,
) -> None:
    """One dead letter: body, properties, dead-letter reason and description."""
    from shared.ops.dlq import find, view

    clients = root(ctx)

    async def work() -> dict[str, Any]:
        async with clients.bus() as bus:
            return view(await find(bus, await _entities(bus, entity, clients), seq), body=True)

    data = run(work)
    if json_out:
        echo_json(data)
        return
    for name in ("entity", "sequence_number", "message_id", "reason", "dead_letter_reason", "description",
                 "dead_letter_source", "delivery_count", "enqueued_time", "event_type", "store",
                 "replay_count", "original_message_id", "session_id", "content_type", "subject",
                 "correlation_id"):  # fmt: skip
        if data.get(name) not in (None, ""):
            typer.echo(f"{name + ':':22}{data[name]}")
    typer.echo("application properties:")
    for k, v in sorted(data["application_properties"].items()):
        typer.echo(f"  {k} = {v}")
    typer.echo("body:")
    typer.echo(_pretty(data["body"]))


def _pretty(body: str) -> str:
    import json

    try:
        return json.dumps(json.loads(body), indent=2)
    except ValueError:
        return body


def _act(
    ctx: typer.Context,
    *,
    purge: bool,
    entity: list[str] | None,
    selection_args: dict[str, Any],
    yes: bool,
    max_replays: int | None,
    json_out: bool,
) -> None:
    from shared.ops import dlq

    clients = root(ctx)
    selection = _selection(**selection_args)
    verb = "purge" if purge else "replay"

    async def work() -> Any:
        async with clients.bus() as bus, clients.state() as state:
            entities = await _entities(bus, entity, clients)
            total = len(await dlq.list_all(bus, entities, selection))
            progress = Progress(
                TextColumn(f"{verb}{'' if yes else ' (dry run)'}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=Console(stderr=True), disable=json_out or total == 0,
            )  # fmt: skip
            with progress:
                task = progress.add_task(verb, total=total)

                def advance(_record: Any) -> None:
                    progress.advance(task)

                options: dict[str, Any] = dict(dry_run=not yes, actor=_actor(), on_record=advance)
                if purge:
                    return await dlq.purge(bus, state, entities, selection, **options)
                limit = max_replays if max_replays is not None else clients.settings().bus.max_replays
                return await dlq.replay(bus, state, entities, selection, max_replays=limit, **options)

    summary = run(work)
    data = dlq.summary_view(summary)
    if json_out:
        echo_json(data)
    else:
        _print_summary(data, verb)
    raise typer.Exit(1 if summary.failed else 0)


def _print_summary(data: dict[str, Any], verb: str) -> None:
    if data["messages"]:
        table = Table()
        for col in ("entity", "seq", "action", "reason", "replays", "new message id / detail"):
            table.add_column(col, overflow="fold")
        for m in data["messages"]:
            table.add_row(
                m["entity"], str(m["sequence_number"]), m["action"], m["reason"] or "",
                str(m["replay_count"]),
                m["detail"] or m["new_message_id"] or "",
            )  # fmt: skip
        _console().print(table)
    done = f"{data['done']} {'would be ' if data['dry_run'] else ''}{verb}{'d' if verb == 'purge' else 'ed'}"
    parts = [f"{data['selected']} selected", done]
    if data["refused"]:
        parts.append(f"{data['refused']} refused (replay ceiling: fix the cause, then purge)")
    if data["failed"]:
        parts.append(f"{data['failed']} failed (kept in the dead-letter queue)")
    typer.echo(", ".join(parts))
    if data["dry_run"] and data["done"]:
        typer.echo(f"dry run: nothing changed; run again with --yes to {verb}")


@app.command("replay")
def dlq_replay(
    ctx: typer.Context,
    entity: Entity = None,
    reason: Reason = None,
    event_type: EventType = None,
    store: Store = None,
    since: Since = None,
    until: Until = None,
    seq: Seq = None,
    limit: Limit = None,
    everything: All = False,
    max_replays: Annotated[
        int | None,
        typer.Option(min=1, help="Refuse messages replayed this often (default: CTS_BUS__MAX_REPLAYS)."),
    ] = None,
    yes: Yes = False,
    json_out: JsonOption = False,
) -> None:
    """Send a copy of each selected dead letter to its own subscription's handler (never the whole
    topic), with a new message id and the original id, reason and replay count in properties;
    complete the dead letter only after the copy is accepted. Fix the cause first."""
    _act(ctx, purge=False, entity=entity, yes=yes, max_replays=max_replays, json_out=json_out,
         selection_args=dict(reasons=reason, event_types=event_type, stores=store, since=since, until=until,
                             sequence_numbers=seq, limit=limit, everything=everything))  # fmt: skip


@app.command("purge")
def dlq_purge(
    ctx: typer.Context,
    entity: Entity = None,
    reason: Reason = None,
    event_type: EventType = None,
    store: Store = None,
    since: Since = None,
    until: Until = None,
    seq: Seq = None,
    limit: Limit = None,
    everything: All = False,
    yes: Yes = False,
    json_out: JsonOption = False,
) -> None:
    """Delete the selected dead letters for good, with an audit record per message."""
    _act(ctx, purge=True, entity=entity, yes=yes, max_replays=None, json_out=json_out,
         selection_args=dict(reasons=reason, event_types=event_type, stores=store, since=since, until=until,
                             sequence_numbers=seq, limit=limit, everything=everything))  # fmt: skip
