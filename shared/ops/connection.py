"""Which Service Bus the ops tools talk to, decided from settings (see docs/ops.md, "Targets").

The rule, first match wins:
1. `CTS_BUS__LOCAL_BROKER` = path of the local embedded broker's SQLite file (the local host's
   `<data>/servicebus.sqlite`): the local broker. It is opened by the factory the setting
   `CTS_BUS__LOCAL_BROKER_FACTORY` names (`module:callable`, e.g.
   `local.host.broker:open_ops_broker`, written by the local stack): chosen by configuration at
   the edge, so neither `functions/` nor `shared/` imports `local/` (tests/unit/test_layout.py).
2. The app setting named by `CTS_BUS__CONNECTION_SETTING` (default `ServiceBusConnection`) holding
   a connection string `Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…`.
3. `<that name>__fullyQualifiedNamespace` (the Functions identity-based connection), e.g.
   `contoso-cts.servicebus.windows.net`: `DefaultAzureCredential` (managed identity in Azure,
   `az login` on an operator's machine; needs Data Receiver, and Data Sender for replay).

The local sample connection string points at 127.0.0.1: it only names the local host's broker,
which the Service Bus SDK cannot reach, so it is refused with a line that says what to set.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, cast

from shared.bus.protocol import DeadLetterBus
from shared.bus.servicebus import ServiceBus

LOCAL_BROKER_SETTING = "CTS_BUS__LOCAL_BROKER"
CONNECTION_SETTING_SETTING = "CTS_BUS__CONNECTION_SETTING"
LOCAL_FACTORY_SETTING = "CTS_BUS__LOCAL_BROKER_FACTORY"

_ENDPOINT = re.compile(r"Endpoint=sb://([^/;]+)", re.IGNORECASE)


class OpsBus(DeadLetterBus, Protocol):
    """The bus the ops tools open and close: Service Bus, or the local broker."""

    async def close(self) -> None: ...


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
    raise ValueError(f"the local broker is opened by the factory {LOCAL_FACTORY_SETTING} names")


def open_bus(target: BusTarget, env: Mapping[str, str]) -> OpsBus:
    """The bus for `target`: Service Bus, or the local broker from the factory the settings name
    (`CTS_BUS__LOCAL_BROKER_FACTORY=module:callable`, called with the broker's path)."""
    if target.kind != "local":
        return open_service_bus(target)
    spec = env.get(LOCAL_FACTORY_SETTING, "").strip()
    module, _, name = spec.partition(":")
    if not (module and name):
        raise NoConnection(
            f"{LOCAL_BROKER_SETTING} names a local broker, but {LOCAL_FACTORY_SETTING} "
            f"(module:callable that opens it, e.g. local.host.broker:open_ops_broker) is {spec!r}"
        )
    try:
        factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise NoConnection(f"{LOCAL_FACTORY_SETTING}={spec}: {exc}") from None
    return cast(OpsBus, cast(Callable[[str], object], factory)(target.value))
