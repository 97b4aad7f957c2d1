"""The `cts` command line. Every command has --help; human output by default, --json for scripts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="cts",
    help=(
        "Operate the Commerce ↔ Teams sync: dead letters, status, reconciliation, Graph subscriptions, "
        "settings, event intake checks."
    ),
    no_args_is_help=True,
    add_completion=False,
)
settings_app = typer.Typer(help="Inspect the app's settings.", no_args_is_help=True)
intake_app = typer.Typer(
    help="Check Commerce event messages the way the Service Bus trigger does.", no_args_is_help=True
)
app.add_typer(settings_app, name="settings")
app.add_typer(intake_app, name="intake")

# Operations (docs/ops.md): --target/--data/--host/--key for every command, then the commands.
from cts import control, dlq, explain, hierarchy, records, root, status, subscriptions  # noqa: E402
from cts import tasks as tasks_cli  # noqa: E402

app.callback()(root.target_options)
app.add_typer(dlq.app, name="dlq")
app.command("status")(status.status)
app.command("reconcile")(status.reconcile)
app.add_typer(subscriptions.app, name="subscriptions")
app.command("explain")(explain.explain)
app.command("trace")(explain.trace)
app.add_typer(records.app, name="records")
app.add_typer(hierarchy.app, name="hierarchy")
app.add_typer(tasks_cli.app, name="tasks")
app.command("suspend")(control.suspend)
app.command("resume")(control.resume)
app.command("suspended")(control.suspended)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@settings_app.command("sample")
def settings_sample(
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print a local.settings.json sample listing every setting the app reads."""
    from cts.settings_sample import sample

    text = json.dumps(sample(), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")


@settings_app.command("check")
def settings_check(json_out: JsonOption = False) -> None:
    """Load the settings from the environment and report what is invalid."""
    from pydantic import ValidationError

    from shared.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        for err in exc.errors():
            name = "CTS_" + "__".join(str(p).upper() for p in err["loc"])
            typer.echo(f"{name}: {err['msg']}", err=True)
        raise typer.Exit(1) from None
    if json_out:
        data = settings.model_dump(mode="json")
        for section in ("graph", "commerce", "webhook"):  # never print secrets
            for key in ("static_token", "client_state"):
                if data.get(section, {}).get(key):
                    data[section][key] = "***"
        _echo_json(data)
    else:
        typer.echo("settings are valid")


@intake_app.command("check")
def intake_check(
    files: Annotated[list[Path], typer.Argument(help="Message bodies (JSON files) to parse.")],
    json_out: JsonOption = False,
) -> None:
    """Parse message bodies as the trigger does; exit 1 if any would be dead-lettered."""
    from shared.commerce.events import parse_message
    from shared.domain.events import Rejection

    results = []
    rejected = False
    for path in files:
        try:
            body = path.read_bytes()
        except OSError as exc:
            _fail(f"cannot read {path}: {exc.strerror}")
        result = parse_message(body, content_type="application/json", application_properties={})
        rejected |= isinstance(result, Rejection)
        results.append({**result.model_dump(mode="json"), "file": str(path), "kind": type(result).__name__})
    if json_out:
        _echo_json(results)
    else:
        for r in results:
            if r["kind"] == "Rejection":
                typer.echo(f"{r['file']}: REJECTED {r['reason']}: {r['description']}")
            elif r["kind"] == "TestMessage":
                typer.echo(f"{r['file']}: endpoint test message (acknowledged)")
            else:
                typer.echo(f"{r['file']}: {r['scope']} {r['ids']} ({r['event_type']}, event {r['event_id']})")
    raise typer.Exit(1 if rejected else 0)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
