"""Where `cts` operates: the local stack or the deployed app (`--target`), and the small things
every command shares (one-line errors, JSON output, running a coroutine).

    --target local  (default)  a local stack's data folder (--data, default .local/stack, what
                               `make run` uses): broker <data>/host/servicebus.sqlite, state
                               <data>/state.sqlite, the host at http://127.0.0.1:7071 with the
                               master key from <data>/host/host-keys.json.
    --target azure             the settings in the environment, named as the app names them:
                               CTS_BUS__LOCAL_BROKER, or ServiceBusConnection (connection string)
                               or ServiceBusConnection__fullyQualifiedNamespace (managed identity /
                               az login); CTS_STATE__*; the Function App at CTS_OPS__HOST_URL with
                               the key CTS_OPS__KEY (or --host / --key).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from shared.ops.connection import LOCAL_BROKER_SETTING, BusTarget, NoConnection, resolve_bus

T = TypeVar("T")

LOCAL_HOST_URL = "http://127.0.0.1:7071"
HOST_URL_SETTING = "CTS_OPS__HOST_URL"
KEY_SETTING = "CTS_OPS__KEY"

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


class TargetKind(StrEnum):
    LOCAL = "local"
    AZURE = "azure"


class CtsError(Exception):
    """An error for the operator: printed as one line, exit code `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@dataclass
class Target:
    kind: TargetKind = TargetKind.LOCAL
    data: Path = Path(".local/stack")
    host: str | None = None
    key: str | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def _local_file(self, *candidates: str) -> Path | None:
        return next((self.data / c for c in candidates if (self.data / c).is_file()), None)

    # -- the bus -------------------------------------------------------------------------------
    def bus_target(self) -> BusTarget:
        if self.kind is TargetKind.LOCAL:
            found = self._local_file("host/servicebus.sqlite", "servicebus.sqlite")
            if found is None:
                raise NoConnection(
                    f"no local broker in {self.data} (start the stack with `make run`, "
                    "or use --data DIR, or --target azure)"
                )
            return BusTarget("local", str(found))
        target = resolve_bus(self.env)
        if target.kind == "local" and not Path(target.value).is_file():
            raise NoConnection(f"{LOCAL_BROKER_SETTING}: no broker file {target.value}")
        return target

    # -- the Function App / local host ---------------------------------------------------------
    def host_url(self) -> str:
        url = self.host or self.env.get(HOST_URL_SETTING, "")
        if not url and self.kind is TargetKind.LOCAL:
            url = LOCAL_HOST_URL
        if not url:
            raise NoConnection(f"no Function App URL: pass --host or set {HOST_URL_SETTING}")
        return url.rstrip("/")

    def host_key(self) -> str | None:
        key = self.key or self.env.get(KEY_SETTING)
        if key:
            return key
        if self.kind is TargetKind.LOCAL:
            keys = self._local_file("host/host-keys.json", "host-keys.json")
            if keys is not None:
                return str(json.loads(keys.read_text(encoding="utf-8"))["masterKey"])
        return None


def guard(work: Callable[[], T]) -> T:
    """Run a call to the app; a CtsError or a connection failure becomes one line and an exit."""
    try:
        return work()
    except CtsError as exc:
        fail(str(exc), exc.code)
    except Exception as exc:  # no connection and the like: one line
        fail(f"no connection: {exc}", 1)


def run(work: Callable[[], Coroutine[Any, Any, T]] | Awaitable[T]) -> T:
    """Run a coroutine; every error an operator can meet becomes one line and a non-zero exit."""
    from shared.ops.dlq import BadFilter, NoSuchEntity, NoSuchMessage

    logging.getLogger("azure").setLevel(logging.ERROR)
    try:
        coro = work() if callable(work) else work
        return asyncio.run(coro)  # type: ignore[arg-type]
    except BadFilter as exc:
        fail(str(exc), 2)
    except (NoSuchMessage, NoSuchEntity) as exc:
        fail(str(exc).strip("'\""), 1)
    except NoConnection as exc:
        fail(f"no connection: {exc}", 1)
    except CtsError as exc:
        fail(str(exc), exc.code)
    except Exception as exc:  # the SDK's own errors (auth, network): still one line
        text = str(exc).splitlines()[0] if str(exc) else ""
        fail(f"{type(exc).__name__}: {text}", 1)
