"""An ops stack for tests: the local host running tests/ops/ops_app.py (the ops blueprint, the
provisioning ops endpoints and a Commerce-events handler that fails until a flag file exists),
laid out like `make run`'s data folder, so `cts --data <folder>` finds everything by itself:

    <data>/host/servicebus.sqlite   the embedded broker   <data>/host/host-keys.json  keys
    <data>/state.sqlite             the state store
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cts.cli import app as cts_app
from local.host import LocalHost, running_host
from local.host.broker import Broker
from shared.bus.protocol import EntityRef, OutgoingMessage, ReceivedMessage
from shared.settings import StateSettings, get_settings
from shared.state import open_state
from shared.state import teams as team_records

APP = str(Path(__file__).with_name("ops_app.py"))
TOPIC, SUBSCRIPTION = "commerce-events", "teams-sync"
SYNC = EntityRef(TOPIC, SUBSCRIPTION)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def event(store: str, event_type: str = "RetailStoreChanged", **props: Any) -> dict[str, Any]:
    return {"body": {"BusinessEventId": event_type, "StoreNumber": store}, "props": props}


@dataclass
class OpsStack:
    data: Path
    host: LocalHost
    flag: Path
    handled_log: Path

    @property
    def broker_path(self) -> Path:
        return self.data / "host" / "servicebus.sqlite"

    def bus(self, work: Callable[[Broker], Any]) -> Any:
        """Run `work(broker)` on a broker of our own over the host's file."""

        async def run() -> Any:
            broker = Broker(self.broker_path, poll_interval=0.05)
            try:
                return await work(broker)
            finally:
                await broker.close()

        return asyncio.run(run())

    def dead_letters(self) -> list[ReceivedMessage]:
        return list(self.bus(lambda b: b.peek_dead_letters(SYNC)))

    def dead_letter(self, *events: dict[str, Any]) -> list[ReceivedMessage]:
        """Publish events while the handler fails; wait until all are dead-lettered (max delivery)."""
        assert not self.flag.exists(), "the cause is fixed: nothing would be dead-lettered"
        before = len(self.dead_letters())
        messages = [
            OutgoingMessage(
                body=json.dumps(e["body"]).encode(),
                message_id=e.get("id") or f"evt-{time.monotonic_ns()}-{i}",
                application_properties=e.get("props") or {},
            )
            for i, e in enumerate(events)
        ]
        self.bus(lambda b: b.send(TOPIC, messages))
        wait_for(lambda: len(self.dead_letters()) >= before + len(events), 20, "dead letters")
        return self.dead_letters()

    def fix(self) -> None:
        self.flag.touch()

    def handled(self) -> list[dict[str, Any]]:
        if not self.handled_log.exists():
            return []
        return [json.loads(line) for line in self.handled_log.read_text().splitlines()]

    def state(self, work: Callable[[Any], Any]) -> Any:
        async def run() -> Any:
            store = open_state(StateSettings(backend="sqlite", sqlite_path=str(self.data / "state.sqlite")))
            try:
                return await work(store)
            finally:
                await store.close()

        return asyncio.run(run())

    def audit(self) -> list[dict[str, Any]]:
        return list(self.state(lambda s: s.audit_trail("dlq")))

    def cts(self, *args: str, env: dict[str, str] | None = None) -> Any:
        """`cts --data <data> --host <host> ARGS` in this process."""
        runner = CliRunner()
        return runner.invoke(
            cts_app, ["--data", str(self.data), "--host", self.host.base_url, *args], env=env
        )


@pytest.fixture
def ops_stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[OpsStack]:
    """`indirect` parametrization adds or overrides settings (a dict)."""
    data = tmp_path / "stack"
    (data / "host").mkdir(parents=True)
    flag, handled = tmp_path / "fixed", tmp_path / "handled.log"
    settings = {
        "ServiceBusConnection": "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=local;SharedAccessKey=local",
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",  # the host needs it for non-HTTP triggers
        "CTS_BUS__LOCAL_BROKER": str(data / "host" / "servicebus.sqlite"),
        "CTS_BUS__LOCAL_BROKER_FACTORY": "local.host.broker:open_ops_broker",
        "CTS_BUS__TOPIC": TOPIC,
        "CTS_BUS__SUBSCRIPTION": SUBSCRIPTION,
        "CTS_STATE__BACKEND": "sqlite",
        "CTS_STATE__SQLITE_PATH": str(data / "state.sqlite"),
        "CTS_RECONCILE__SCHEDULE": "0 0 2 * * *",
        "CTS_RECONCILE__SWEEP_SCHEDULE": "0 0 3 * * *",
        "CTS_STATE__HOUSEKEEPING_SCHEDULE": "0 40 3 * * *",
        # nothing listens there: the ops functions never call Graph or Commerce in these tests
        "CTS_GRAPH__AUTH": "static_token",
        "CTS_GRAPH__STATIC_TOKEN": "t",
        "CTS_GRAPH__BASE_URL": "http://127.0.0.1:9/v1.0",
        "CTS_COMMERCE__AUTH": "static_token",
        "CTS_COMMERCE__STATIC_TOKEN": "t",
        "CTS_COMMERCE__BASE_URL": "http://127.0.0.1:9",
        "OPS_FIXED_FLAG": str(flag),
        "OPS_HANDLED_LOG": str(handled),
        **getattr(request, "param", {}),
    }
    get_settings.cache_clear()  # the app reads settings once per process; these hosts share one
    with running_host(
        APP, data / "host", 0, settings, grace_period=2, use_local_settings=False,
        bus_lock_duration=timedelta(seconds=30),
    ) as host:  # fmt: skip
        stack = OpsStack(data, host, flag, handled)
        stack.state(lambda s: team_records.list_teams(s))  # create the state store file
        yield stack
