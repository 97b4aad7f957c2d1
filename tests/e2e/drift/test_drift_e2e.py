"""Drift end to end: local host running the drift blueprint + Graph sandbox, no Graph stubs.

The timer creates the subscriptions (the sandbox's handshake goes through the host's webhook);
a member removed by hand → notification → queue → processor → `sync_team` started; a forged
clientState is dropped; the app's own change is an echo; reauthorizationRequired renews.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.domain.plan import Plan, RemoveMember
from shared.domain.teams import MemberRole, TeamKey
from shared.drift import subscription_records
from shared.drift.echoes import note_plan_changes
from shared.graph import Gateway, PollPolicy
from shared.settings import GraphSettings, get_settings
from shared.spine import RequestQueue
from shared.spine.features import TEAMS
from shared.state import StateStore, TeamRecord
from shared.state import teams as team_records
from shared.state.sqlite import SqliteBackend

APP = str(Path(__file__).with_name("drift_app.py"))
KEY = "drift-test-function-key"
SECRET = "drift-test-client-state-0123456789"
STORE = TeamKey.store("0042")

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class World:
    def __init__(self, graph: Any, host: Any, tmp: Path, team_id: str, users: dict[str, str]) -> None:
        self.graph, self.host, self.tmp, self.team_id, self.users = graph, host, tmp, team_id, users
        self.url = f"{host.base_url}/api/graph/notifications"

    def syncs(self) -> list[dict[str, Any]]:
        path = self.tmp / "syncs.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def state_call(self, fn: Callable[[StateStore], Any]) -> Any:
        async def run() -> Any:
            state = StateStore(SqliteBackend(self.tmp / "state.sqlite"))
            try:
                return await fn(state)
            finally:
                await state.close()

        return asyncio.run(run())

    def counters(self) -> dict[str, int]:
        return dict(self.state_call(lambda s: s.counters()))

    def subscriptions(self) -> list[dict[str, Any]]:
        resp = httpx.get(f"{self.graph.base_url}/subscriptions", headers=self.graph.auth_headers)
        return list(resp.json()["value"])


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    from local.graph.testing import running_graph_sandbox
    from local.host import running_host

    with running_graph_sandbox(tmp_path / "graph.sqlite", scale=0.05, throttle=False) as graph:
        people = graph.seed_users(
            [{"userPrincipalName": f"{n}@contoso.com", "displayName": n} for n in ("owner", "ann", "bob")]
        )
        users = {u["displayName"]: u["id"] for u in people}
        team_id = asyncio.run(_make_team(graph, users))
        data = tmp_path / "host"
        data.mkdir()
        (data / "host-keys.json").write_text(
            json.dumps({"masterKey": "master-" + KEY, "functionKeys": {"default": KEY}, "functions": {}})
        )
        asyncio.run(_map(tmp_path / "state.sqlite", team_id))
        port = _free_port()
        base = f"http://127.0.0.1:{port}/api/graph"
        settings = {
            "ServiceBusConnection": "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=local;SharedAccessKey=local",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",  # the host needs it for non-HTTP triggers
            "CTS_WEBHOOK__NOTIFICATION_URL": f"{base}/notifications?code={KEY}",
            "CTS_WEBHOOK__LIFECYCLE_NOTIFICATION_URL": f"{base}/lifecycle?code={KEY}",
            "CTS_WEBHOOK__CLIENT_STATE": SECRET,
            "CTS_WEBHOOK__SUBSCRIPTION_SCHEDULE": "0 0 0 1 1 *",
            "CTS_GRAPH__BASE_URL": graph.base_url,
            "CTS_GRAPH__AUTH": "static_token",
            "CTS_GRAPH__STATIC_TOKEN": graph.token,
            "CTS_STATE__BACKEND": "sqlite",
            "CTS_STATE__SQLITE_PATH": str(tmp_path / "state.sqlite"),
            "DRIFT_TEST_RECORD": str(tmp_path / "syncs.jsonl"),
        }
        get_settings.cache_clear()
        with running_host(APP, data, port, settings, use_local_settings=False, grace_period=2) as host:
            w = World(graph, host, tmp_path, team_id, users)
            wait_for(lambda: len(w.subscriptions()) == 2, what="the timer to create both subscriptions")
            yield w
        get_settings.cache_clear()


async def _make_team(graph: Any, users: dict[str, str]) -> str:
    gateway = Gateway(
        GraphSettings(base_url=graph.base_url, auth="static_token", static_token=graph.token),
        poll=PollPolicy(
            first_delay=0.05, interval=0.05, timeout=20, replication_delay=0.1, replication_attempts=5
        ),
    )
    try:
        team_id = await gateway.create_team(display_name="Store 0042", owner_id=users["owner"])
        await gateway.add_members(
            team_id, [(users["ann"], MemberRole.MEMBER), (users["bob"], MemberRole.MEMBER)]
        )
        return team_id
    finally:
        await gateway.aclose()


async def _map(path: Path, team_id: str) -> None:
    state = StateStore(SqliteBackend(path))
    await team_records.put_team(state, TeamRecord(key=str(STORE), team_id=team_id))
    await state.close()


def test_the_timer_creates_both_subscriptions_through_the_handshake(world: World) -> None:
    subs = world.subscriptions()
    assert sorted(s["resource"] for s in subs) == ["/teams/getAllChannels", "/teams/getAllMembers"]
    assert all(
        s["notificationUrl"].endswith(f"?code={KEY}")
        and s["lifecycleNotificationUrl"].endswith(f"/lifecycle?code={KEY}")
        for s in subs
    )
    recorded = world.state_call(lambda s: subscription_records.list_subscriptions(s))
    assert {r.subscription_id for r in recorded} == {s["id"] for s in subs}
    assert all(r.client_state is None for r in recorded)


def test_a_member_removed_by_hand_requests_the_stores_sync(world: World) -> None:
    world.graph.act("remove-member", teamId=world.team_id, userId=world.users["ann"])
    started = wait_for(world.syncs, what="sync_team to start")
    assert started[0]["key"] == "store:0042" and started[0]["instance_id"] == "sync-store-0042"
    assert started[0]["reason"].startswith("teams drift: member ") and started[0]["reason"].endswith(
        " deleted"
    )
    wait_for(lambda: world.counters().get("drift.sync-started") == 1, what="the processor's count")


def test_forged_client_state_is_dropped_and_echoes_are_skipped(world: World) -> None:
    forged = {
        "value": [
            {
                "subscriptionId": "x",
                "clientState": "forged",
                "changeType": "deleted",
                "resource": f"teams('{world.team_id}')/members('bQ==')",
            }
        ]
    }
    resp = httpx.post(f"{world.url}?code={KEY}", json=forged)
    assert resp.status_code == 202
    assert httpx.post(f"{world.url}?code={KEY}", content=b"{bad").status_code == 400
    assert httpx.post(world.url, json=forged).status_code == 401  # no function key

    plan = Plan(
        operations=(
            RemoveMember(key=STORE, reason="left", team_id=world.team_id, user_id=world.users["bob"]),
        )
    )
    world.state_call(lambda s: note_plan_changes(s, plan))
    world.graph.act("remove-member", teamId=world.team_id, userId=world.users["bob"])
    wait_for(lambda: world.counters().get("drift.echo") == 1, what="the echo to be recognised")
    time.sleep(0.3)
    assert world.syncs() == [] and world.state_call(lambda s: RequestQueue(s, TEAMS).seen(str(STORE))) == 0


def test_reauthorization_required_renews_the_subscription(world: World) -> None:
    sub = next(s for s in world.subscriptions() if s["resource"] == "/teams/getAllMembers")
    world.graph.reset_counters()
    world.graph.lifecycle(sub["id"], "reauthorizationRequired")

    def patched() -> int:
        return int(sum(world.graph.counters()["requests"].get("PATCH /subscriptions/{id}", {}).values()))

    wait_for(lambda: patched() == 1, what="the renewal")
    wait_for(lambda: world.counters().get("drift.renewed") == 1, what="the renewal count")
    assert [s["id"] for s in world.subscriptions() if s["resource"] == "/teams/getAllMembers"] == [sub["id"]]
