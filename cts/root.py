"""The composition root of `cts` (as functions/root.py is the app's): built once per invocation by
the `cts` callback from the global options (--target/--data/--host/--key) and the environment,
kept on the typer context, and handed to every command (`root(ctx)`). Every client a command uses
comes from here -- the app's HTTP API (`call`), the Service Bus or local broker (`bus`), the state
store (`state`), Application Insights (`app_insights`), the settings (read once) -- so no command
builds one itself and cts/ keeps no module-level client. `Target` (cts/target.py) says where;
this builds what talks to it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from cts.target import HOST_URL_SETTING, KEY_SETTING, LOCAL_HOST_URL, CtsError, Target, TargetKind
from shared.ops.connection import BusTarget, NoConnection
from shared.settings import Settings, StateSettings

APP_INSIGHTS_SETTING = "CTS_OPS__APP_INSIGHTS_ID"


def open_bus(target: BusTarget) -> Any:
    """The local broker file (`--target local`, or CTS_BUS__LOCAL_BROKER) or Service Bus."""
    if target.kind == "local":
        from local.host.broker import Broker

        return Broker(target.value, poll_interval=0.2)
    from shared.ops.connection import open_service_bus

    return open_service_bus(target)


def open_state_store(settings: StateSettings) -> Any:
    from shared.state import open_state

    return open_state(settings)


@dataclass
class CtsRoot:
    target: Target = field(default_factory=Target)
    bus_factory: Callable[[BusTarget], Any] = open_bus
    state_factory: Callable[[StateSettings], Any] = open_state_store
    _settings: Settings | None = field(default=None, repr=False)

    # -- settings ------------------------------------------------------------------------------
    def settings(self) -> Settings:
        """The app's settings from the environment, read once; a bad one is a one-line error."""
        if self._settings is None:
            from pydantic import ValidationError

            try:
                self._settings = Settings()
            except ValidationError as exc:
                first = exc.errors()[0]
                name = "CTS_" + "__".join(str(p).upper() for p in first["loc"])
                raise CtsError(f"bad setting {name}: {first['msg']}") from None
        return self._settings

    # -- the bus -------------------------------------------------------------------------------
    @asynccontextmanager
    async def bus(self) -> AsyncIterator[Any]:
        bus = self.bus_factory(self.target.bus_target())
        try:
            yield bus
        finally:
            await bus.close()

    # -- the state store -----------------------------------------------------------------------
    def state_settings(self) -> StateSettings:
        if self.target.kind is TargetKind.LOCAL:
            return StateSettings(backend="sqlite", sqlite_path=str(self.target.data / "state.sqlite"))
        return self.settings().state

    def state(self) -> AbstractAsyncContextManager[Any]:
        """The state store (the audit trail goes there); checked before anything is opened."""
        settings = self.state_settings()
        if settings.backend == "sqlite" and not Path(settings.sqlite_path).is_file():
            raise NoConnection(f"no state store at {settings.sqlite_path} (has the app run here?)")
        return self._open_state(settings)

    @asynccontextmanager
    async def _open_state(self, settings: StateSettings) -> AsyncIterator[Any]:
        store = self.state_factory(settings)
        try:
            yield store
        finally:
            await store.close()

    # -- the Function App / local host ---------------------------------------------------------
    def http(self, timeout: float = 30.0) -> httpx.Client:
        key = self.target.host_key()
        headers = {"x-functions-key": key} if key else {}
        return httpx.Client(base_url=self.target.host_url(), headers=headers, timeout=timeout)

    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any) -> httpx.Response:
        """One request to the app; any other status is a one-line `CtsError`."""
        try:
            with self.http() as client:
                response = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CtsError(
                f"cannot reach the app at {self.target.host_url()}: {exc or type(exc).__name__}"
            ) from None
        if response.status_code not in ok:
            raise CtsError(_http_error(response))
        return response

    # -- Application Insights (`cts trace --target azure`) ------------------------------------------
    def app_insights(self) -> tuple[Any, str]:
        """An azure-monitor-query LogsQueryClient (DefaultAzureCredential) and the component's
        resource id from CTS_OPS__APP_INSIGHTS_ID."""
        resource = self.target.env.get(APP_INSIGHTS_SETTING)
        if not resource:
            raise CtsError(
                f"--target azure needs {APP_INSIGHTS_SETTING} (the Application Insights resource id, "
                "/subscriptions/.../providers/Microsoft.Insights/components/appi-...)"
            )
        from azure.identity import DefaultAzureCredential
        from azure.monitor.query import LogsQueryClient

        return LogsQueryClient(DefaultAzureCredential()), resource


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
    ctx.obj = CtsRoot(Target(kind=target, data=data, host=host, key=key))


def root(ctx: typer.Context) -> CtsRoot:
    """The invocation's root (built by `target_options`; a default one when a command runs alone)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CtsRoot) else CtsRoot()
