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
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import httpx
import typer

from shared.ops.connection import LOCAL_BROKER_SETTING, BusTarget, NoConnection, resolve_bus
from shared.settings import Settings, StateSettings

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

    # -- settings ------------------------------------------------------------------------------
    def settings(self) -> Settings:
        from pydantic import ValidationError

        try:
            return Settings()
        except ValidationError as exc:
            first = exc.errors()[0]
            name = "CTS_" + "__".join(str(p).upper() for p in first["loc"])
            raise CtsError(f"bad setting {name}: {first['msg']}") from None

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

    @asynccontextmanager
    async def bus(self) -> AsyncIterator[Any]:
        target = self.bus_target()
        if target.kind == "local":
            from local.host.broker import Broker

            bus: Any = Broker(target.value, poll_interval=0.2)
        else:
            from shared.ops.connection import open_service_bus

            bus = open_service_bus(target)
        try:
            yield bus
        finally:
            await bus.close()

    # -- the state store -----------------------------------------------------------------------
    def state_settings(self) -> StateSettings:
        if self.kind is TargetKind.LOCAL:
            return StateSettings(backend="sqlite", sqlite_path=str(self.data / "state.sqlite"))
        return self.settings().state

    def state(self) -> AbstractAsyncContextManager[Any]:
        """The state store (the audit trail goes there); checked before anything is opened."""
        settings = self.state_settings()
        if settings.backend == "sqlite" and not Path(settings.sqlite_path).is_file():
            raise NoConnection(f"no state store at {settings.sqlite_path} (has the app run here?)")
        return self._open_state(settings)

    @asynccontextmanager
    async def _open_state(self, settings: StateSettings) -> AsyncIterator[Any]:
        from shared.state import open_state

        store = open_state(settings)
        try:
            yield store
        finally:
            await store.close()

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

    def http(self, timeout: float = 30.0) -> httpx.Client:
        key = self.host_key()
        headers = {"x-functions-key": key} if key else {}
        return httpx.Client(base_url=self.host_url(), headers=headers, timeout=timeout)

    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any) -> httpx.Response:
        """One request to the app; any other status is a one-line `CtsError`."""
        try:
            with self.http() as client:
                response = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CtsError(
                f"cannot reach the app at {self.host_url()}: {exc or type(exc).__name__}"
            ) from None
        if response.status_code not in ok:
            raise CtsError(_http_error(response))
        return response


def _http_error(response: httpx.Response) -> str:
    where = f"{response.request.method} {response.request.url.path}"
    if response.status_code == 401:
        return f"{where}: 401 unauthorized (pass --key or set {KEY_SETTING})"
    try:
        detail = response.json().get("error")
    except ValueError:
        detail = None
    return f"{where}: HTTP {response.status_code}" + (f": {detail}" if detail else "")


def target_options(
    ctx: typer.Context,
    target: Annotated[
        TargetKind,
        typer.Option(
            envvar="CTS_TARGET",
            help="local: a local stack's data folder; azure: settings from the environment.",
        ),
    ] = TargetKind.LOCAL,
    data: Annotated[
        Path,
        typer.Option(envvar="CTS_LOCAL_DATA", help="The local stack's data folder (--target local)."),
    ] = Path(".local/stack"),
    host: Annotated[
        str | None,
        typer.Option(
            help=f"Function App / local host URL (default: ${HOST_URL_SETTING}, locally {LOCAL_HOST_URL})."
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(help=f"Function or admin key (default: ${KEY_SETTING}, locally the host's master key)."),
    ] = None,
) -> None:
    """Operate the Commerce ↔ Teams sync: dead letters, status, reconciliation, subscriptions."""
    ctx.obj = Target(kind=target, data=data, host=host, key=key)


def current(ctx: typer.Context) -> Target:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Target) else Target()


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
