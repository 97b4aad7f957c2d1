"""Which Service Bus the ops tools talk to, decided from settings (see docs/ops.md, "Targets").

The rule, first match wins:
1. `CTS_BUS__LOCAL_BROKER` = path of the local embedded broker's SQLite file (the local host's
   `<data>/servicebus.sqlite`): the local broker. Opening it is the caller's job (`cts` and
   `functions/ops.py` import `local.host.broker`; `shared/` never imports `local/`).
2. The app setting named by `CTS_BUS__CONNECTION_SETTING` (default `ServiceBusConnection`) holding
   a connection string `Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…`.
3. `<that name>__fullyQualifiedNamespace` (the Functions identity-based connection), e.g.
   `contoso-cts.servicebus.windows.net`: `DefaultAzureCredential` (managed identity in Azure,
   `az login` on an operator's machine; needs the Service Bus Data Owner role for replay/purge).

The local sample connection string points at 127.0.0.1: it only names the local host's broker,
which the Service Bus SDK cannot reach, so it is refused with a line that says what to set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from shared.bus.servicebus import ServiceBus

LOCAL_BROKER_SETTING = "CTS_BUS__LOCAL_BROKER"
CONNECTION_SETTING_SETTING = "CTS_BUS__CONNECTION_SETTING"

_ENDPOINT = re.compile(r"Endpoint=sb://([^/;]+)", re.IGNORECASE)


class NoConnection(RuntimeError):
    """No usable Service Bus connection in the settings; the message says what to set."""


@dataclass(frozen=True)
class BusTarget:
    kind: Literal["local", "connection_string", "namespace"]
    value: str

    def describe(self) -> str:
        """Where the bus is, never with its key."""
        if self.kind == "local":
            return f"local broker {self.value}"
        if self.kind == "namespace":
            return f"Service Bus {self.value} (DefaultAzureCredential)"
        match = _ENDPOINT.search(self.value)
        return f"Service Bus {match.group(1) if match else '?'} (connection string)"


def resolve_bus(env: Mapping[str, str]) -> BusTarget:
    """The bus the settings in `env` name (module rule); `NoConnection` when none is usable."""
    local = env.get(LOCAL_BROKER_SETTING, "").strip()
    if local:
        return BusTarget("local", local)
    name = env.get(CONNECTION_SETTING_SETTING, "").strip() or "ServiceBusConnection"
    value = env.get(name, "").strip()
    if value:
        match = _ENDPOINT.search(value)
        if match is None:
            raise NoConnection(f"{name} is not a Service Bus connection string (Endpoint=sb://...)")
        if match.group(1).split(":")[0] in ("127.0.0.1", "localhost"):
            raise NoConnection(
                f"{name} points at the local host's broker; set {LOCAL_BROKER_SETTING} to its file "
                "(e.g. .local/stack/host/servicebus.sqlite)"
            )
        return BusTarget("connection_string", value)
    namespace = env.get(f"{name}__fullyQualifiedNamespace", "").strip()
    if namespace:
        return BusTarget("namespace", namespace)
    raise NoConnection(
        f"no Service Bus connection: set {name} (connection string), {name}__fullyQualifiedNamespace "
        f"(managed identity) or {LOCAL_BROKER_SETTING} (local broker file)"
    )


def open_service_bus(target: BusTarget) -> ServiceBus:
    """The azure-servicebus implementation of the bus protocol for a non-local target."""
    if target.kind == "connection_string":
        return ServiceBus.from_connection_string(target.value)
    if target.kind == "namespace":
        return ServiceBus.from_namespace(target.value)
    raise ValueError("the local broker is opened by local.host.broker.Broker, not by shared/")
