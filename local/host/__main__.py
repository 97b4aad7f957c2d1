"""``python -m local.host``: run a function app locally, like ``func start`` (no Core Tools, no Docker)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from datetime import timedelta
from pathlib import Path

from local.host.host import LocalHost
from local.host.loader import AppLoadError
from local.host.logs import configure_logging

log = logging.getLogger("local.host")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.host",
        description="Run an Azure Functions Python (v2 model) app locally: HTTP, timer, Service Bus "
        "and Durable Functions triggers, with an embedded broker and durable engine.",
    )
    parser.add_argument(
        "--app",
        default="function_app",
        help="module name or path to the .py file defining `app` (default: function_app)",
    )
    parser.add_argument("--port", type=int, default=7071, help="HTTP port (default: 7071; 0 = any free port)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--data",
        default=".local",
        help="data folder: keys, timer status, broker and durable history (default: .local)",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an app setting (overrides local.settings.json and the environment); repeatable",
    )
    parser.add_argument(
        "--settings-file",
        metavar="FILE",
        help="app settings from a JSON object of NAME: VALUE strings (keeps secrets off the command "
        "line, which any local user can read in ps); --setting wins over it",
    )
    parser.add_argument("--no-local-settings", action="store_true", help="do not read local.settings.json")
    parser.add_argument(
        "--grace",
        type=float,
        default=30.0,
        help="seconds in-flight invocations get to finish at shutdown (default: 30)",
    )
    parser.add_argument(
        "--bus-lock-seconds",
        type=float,
        default=60.0,
        help="peek-lock duration of the trigger entities (default: 60, as Service Bus)",
    )
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="log line format")
    parser.add_argument("--log-level", default="INFO", help="log level (default: INFO)")
    return parser.parse_args(argv)


def _settings(pairs: list[str], file: str | None = None) -> dict[str, str]:
    settings = _settings_file(Path(file)) if file else {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--setting expects NAME=VALUE, got {pair!r}")
        settings[name] = value
    return settings


def _settings_file(path: Path) -> dict[str, str]:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SystemExit(f"--settings-file: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise SystemExit(f"--settings-file: {path} is not JSON: {exc}") from None
    if not isinstance(values, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in values.items()
    ):
        raise SystemExit(f"--settings-file: {path} must hold one JSON object of NAME: VALUE strings")
    return values


async def serve(args: argparse.Namespace) -> int:
    host = LocalHost(
        args.app,
        args.data,
        args.port,
        _settings(args.setting, args.settings_file),
        bind=args.bind,
        grace_period=args.grace,
        bus_lock_duration=timedelta(seconds=args.bus_lock_seconds),
        use_local_settings=not args.no_local_settings,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():  # second Ctrl-C: do not wait for the grace period
            log.warning("Second %s: exiting now", sig.name)
            raise SystemExit(130)
        log.info("Received %s: shutting down", sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await host.start()
    except AppLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        await host.stop()
        return 2
    print(host.banner(), flush=True)
    print(f"\nListening on {host.base_url} — press Ctrl-C to stop.", flush=True)
    await stop.wait()
    await host.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_format, args.log_level.upper())
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
