"""Record-connected channels end to end: the Dataverse and Graph sandboxes, the local Functions host
(its own process, so it can be killed) running function_app.py with records enabled, Dataverse
events on the host's broker. Every outcome is read back through Graph and the Dataverse API.

Each test makes its own accounts, so tests pass alone and in any order on the shared world."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.dataverse.testing import DataverseSandboxHandle, running_dataverse_sandbox
from local.graph.testing import running_graph_sandbox
from local.stack.core import (
    HostProcess,
    LoopThread,
    SharedBus,
    _sample_settings,
    _write_host_keys,
    declare_app_entities,
    free_port,
)
from shared.domain.records import RecordRef
from tests.contract.records.records_world import (
    account,
    dataverse_for,
    files_on,
    gateway_for,
    new_account,
    opportunity,
    seed_people,
    tabs_in,
    template,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def wait_for(check: Callable[[], Any], timeout: float = 40.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class World:
    def __init__(
        self,
        graph: Any,
        dv: DataverseSandboxHandle,
        host: HostProcess,
        key: str,
        people: dict[str, str],
        adopted: str,
        bus: SharedBus,
    ) -> None:
        self.graph, self.dv, self.host, self.key, self.people, self.adopted = (
            graph,
            dv,
            host,
            key,
            people,
            adopted,
        )
        self.bus = bus
        self.loop = LoopThread("records-e2e")

    def run(self, coro_fn: Callable[..., Any], *args: Any) -> Any:
        async def go() -> Any:
            gw, dv = gateway_for(self.graph), dataverse_for(self.dv)
            try:
                return await coro_fn(*args, dv, gw)
            finally:
                await gw.aclose()
                await dv.aclose()

        return self.loop.run(go(), timeout=60)

    def files(self, record: RecordRef) -> set[str]:
        return set(self.run(files_on, record))

    def tabs(self, team_id: str, channel: str) -> list[str]:
        async def go(dv: Any, gw: Any) -> list[str]:
            return await tabs_in(gw, team_id, channel)

        return list(self.run(go))

    def team(self, name: str) -> Any:
        async def go(dv: Any, gw: Any) -> Any:
            same = [t for t in await gw.find_teams(display_name=name) if t.display_name == name]
            return await gw.get_team_state(same[0].team_id) if same else None

        return self.run(go)

    def channels(self, team_id: str) -> dict[str, str]:
        async def go(dv: Any, gw: Any) -> dict[str, str]:
            return {c.name: c.id for c in await gw.list_channels(team_id)}

        return dict(self.run(go))

    def call(self, method: str, route: str, **kw: Any) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.host.base_url}/api/{route}",
            headers={"x-functions-key": self.key},
            timeout=30,
            **kw,
        )

    def running(self, name: str) -> bool:
        r = httpx.get(
            f"{self.host.base_url}/runtime/webhooks/durabletask/instances",
            params={"runtimeStatus": "Running"},
            timeout=10,
        )
        return r.status_code == 200 and any(o.get("name") == name for o in r.json())

    def quiet(self) -> bool:
        r = httpx.get(
            f"{self.host.base_url}/runtime/webhooks/durabletask/instances",
            params={"runtimeStatus": "Running,Pending,ContinuedAsNew"},
            timeout=10,
        )
        return r.status_code == 200 and r.json() == []


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = Path(tmp_path_factory.mktemp("records-e2e"))
    loop = LoopThread("records-bus")
    bus = SharedBus(tmp / "host" / "servicebus.sqlite", loop)
    with (
        running_graph_sandbox(tmp / "graph.sqlite", scale=0.02, throttle=False) as graph,
        running_dataverse_sandbox(sender=bus, seed=11) as dv,
    ):
        people = seed_people(graph, dv)

        async def make_team() -> str:
            gw = gateway_for(graph)
            try:
                return await gw.create_team(
                    display_name="Sales West", owner_id=people["entra:ana@contoso.example"]
                )
            finally:
                await gw.aclose()

        adopted = loop.run(make_team())
        _, key, _ = _write_host_keys(tmp / "host")
        settings = _sample_settings() | {
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "ServiceBusConnection": "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=local;SharedAccessKey=local",
            "CTS_GRAPH__BASE_URL": graph.base_url,
            "CTS_GRAPH__AUTH": "static_token",
            "CTS_GRAPH__STATIC_TOKEN": graph.token,
            "CTS_COMMERCE__BASE_URL": "http://127.0.0.1:9",  # not used: no Commerce events here
            "CTS_COMMERCE__AUTH": "static_token",
            "CTS_COMMERCE__STATIC_TOKEN": "unused",
            "CTS_DATAVERSE__BASE_URL": dv.base_url,
            "CTS_DATAVERSE__AUTH": "static_token",
            "CTS_DATAVERSE__STATIC_TOKEN": dv.token,
            "CTS_RECORDS__ENABLED": "true",
            "CTS_RECORDS__TEMPLATE": template(adopted),
            "CTS_STATE__SQLITE_PATH": str(tmp / "state.sqlite"),
            "CTS_BUS__LOCAL_BROKER": str(tmp / "host" / "servicebus.sqlite"),
            "CTS_BUS__LOCAL_BROKER_FACTORY": "local.host.broker:open_ops_broker",
            "CTS_RECONCILE__SWEEP_SCHEDULE": "*/2 * * * * *",
            "CTS_RECORDS__SCHEDULE": "0 0 0 1 1 *",
            "CTS_RECONCILE__SCHEDULE": "0 0 0 1 1 *",
            "CTS_TASKS__POLL_SCHEDULE": "0 0 0 1 1 *",
            "CTS_TASKS__RECONCILE_SCHEDULE": "0 0 0 1 1 *",
            "CTS_WEBHOOK__SUBSCRIPTIONS_ENABLED": "false",
            "CTS_WEBHOOK__SUBSCRIPTION_SCHEDULE": "0 0 0 1 1 *",
        }
        loop.run(declare_app_entities(tmp / "host" / "servicebus.sqlite", 5.0))  # as Bicep does
        host = HostProcess(tmp / "host", free_port(), settings, grace=2.0, lock=5.0)
        host.start()
        try:
            yield World(graph, dv, host, key, people, adopted, bus)
        finally:
            host.stop()
            bus.close()
            loop.close()


def test_team_based_files_show_on_every_record_of_the_channel_and_on_no_other(world: World) -> None:
    acc, (o1, o2) = new_account(
        world.dv, world.people, "Contoso", opportunities=[("Renewal", 10), ("Upsell", 20)]
    )
    other, _ = new_account(world.dv, world.people, "Litware")
    want = sorted([f"account:{acc}", f"opportunity:{o1}", f"opportunity:{o2}"])
    wait_for(lambda: world.tabs(world.adopted, "Contoso") == want, what="the three record tabs in 'Contoso'")
    wait_for(lambda: world.tabs(world.adopted, "Litware") == [f"account:{other}"], what="Litware's tab")
    wait_for(world.quiet, what="the passes to finish")
    channels = world.channels(world.adopted)
    world.graph.act("upload-file", teamId=world.adopted, channelId=channels["Contoso"], name="plan.xlsx")
    world.graph.act(
        "upload-file", teamId=world.adopted, channelId=channels["General"], name="not-connected.txt"
    )
    for ref in (account(acc), opportunity(o1), opportunity(o2)):
        assert world.files(ref) == {"plan.xlsx"}
    assert world.files(account(other)) == set()
    page = world.call("GET", "ops/view", params={"format": "json"}).json()
    shown = {r["key"]: r for r in page["records"]}
    assert shown[f"account:{acc}"]["outcome"] in ("changed", "converged")


def test_account_based_closing_an_opportunity_disconnects_it_per_template(world: World) -> None:
    acc, (fleet, service) = new_account(
        world.dv, world.people, "Tailspin", revenue=5_000_000, opportunities=[("Fleet", 10), ("Service", 20)]
    )
    team = wait_for(lambda: world.team("Tailspin"), what="the account's team")
    wait_for(lambda: world.tabs(team.team_id, "Fleet") == [f"opportunity:{fleet}"], what="the Fleet tab")
    wait_for(world.quiet, what="the passes to finish")
    channels = world.channels(team.team_id)
    world.graph.act("upload-file", teamId=team.team_id, channelId=channels["Fleet"], name="fleet.pdf")
    assert world.files(opportunity(fleet)) == {"fleet.pdf"}
    assert world.files(opportunity(service)) == set() and world.files(account(acc)) == set()
    world.dv.change("win", "opportunity", fleet)
    wait_for(lambda: world.tabs(team.team_id, "Fleet") == [], what="the won opportunity's tab to go")
    wait_for(lambda: world.files(opportunity(fleet)) == set(), what="the won opportunity's location to go")
    assert "Fleet" in world.channels(team.team_id)  # the channel is left, not deleted


def test_project_based_team_gives_guests_files_but_no_record_tab_and_is_archived_when_won(
    world: World,
) -> None:
    acc, (big,) = new_account(
        world.dv, world.people, "Northwind", team=False, opportunities=[("Plant build", 900_000)]
    )
    team = wait_for(lambda: world.team("Plant build (Northwind)"), what="the opportunity's team")
    wait_for(lambda: world.tabs(team.team_id, "Proposal") == [f"opportunity:{big}"], what="the Proposal tab")
    wait_for(world.quiet, what="the passes to finish")
    assert world.tabs(team.team_id, "General") == sorted([f"account:{acc}", f"opportunity:{big}"])
    assert world.tabs(team.team_id, "Partners") == []
    team = world.team("Plant build (Northwind)")
    guest = world.people["entra:guest@partner.example"]
    assert guest in {m.user_id for m in team.members} and guest not in team.owners
    world.dv.change("win", "opportunity", big)
    wait_for(
        lambda: world.team("Plant build (Northwind)").archived, what="the won opportunity's team archived"
    )


def test_a_channel_deleted_in_teams_loses_its_locations_and_the_nightly_report_says_so(world: World) -> None:
    acc, (o1,) = new_account(world.dv, world.people, "Fabrikam", opportunities=[("Pilot", 10)])
    wait_for(lambda: len(world.tabs(world.adopted, "Fabrikam")) == 2, what="Fabrikam's tabs")
    wait_for(world.quiet, what="the passes to finish")
    world.graph.act(
        "delete-channel", teamId=world.adopted, channelId=world.channels(world.adopted)["Fabrikam"]
    )
    shown = world.call("GET", f"ops/records/connections/{acc}").json()
    assert shown["channels"] and all(
        "channel gone (deleted in Teams)" in c["problems"] for c in shown["channels"]
    )
    dry = world.call("POST", f"ops/records/reconcile?account={acc}&dry_run=true").json()["report_id"]
    preview = wait_for(lambda: _report(world, dry), what="the dry-run report")
    assert preview["dry_run"] and preview["drift"][f"account:{acc}"]["outcome"] == "would_change"
    assert asyncio.run(_count_locations(world, [account(acc), opportunity(o1)])) == 2  # nothing changed
    r = world.call("POST", f"ops/records/reconcile?account={acc}")
    assert r.status_code == 202, r.text
    report_id = r.json()["report_id"]

    done = wait_for(lambda: _report(world, report_id), what="the reconciliation report")
    entry = done["drift"][f"account:{acc}"]
    assert any("deleted in Teams" in p for p in entry["problems"])
    assert {op["op"] for op in entry["operations"]} >= {"DeleteLocation", "DeleteRow"}
    assert world.files(account(acc)) == set() and world.files(opportunity(o1)) == set()
    assert "Fabrikam" not in world.channels(world.adopted)  # a person's deletion is respected
    shown = world.call("GET", f"ops/records/connections/{acc}").json()
    assert all(r["problems"] == ["not connected"] for r in shown["records"]) and shown["channels"] == []


def test_a_poison_dataverse_event_is_dead_lettered_at_once_with_the_apps_reason(world: World) -> None:
    world.bus.send_raw(b'{"MessageName": "Create"}', "dataverse-events", message_id="dv-poison-1")

    def letters() -> list[Any]:
        return [
            m
            for m in world.bus.dead_letters()
            if m.application_properties.get("x-original-message-id") == "dv-poison-1"
        ]

    [dead] = wait_for(letters, what="the poison Dataverse event in a DLQ")
    assert dead.entity.path == "cts-quarantine" and dead.dead_letter_reason == "unknown_format"
    assert dead.application_properties["cts-source-entity"] == "dataverse-events/Subscriptions/teams-records"
    assert dead.application_properties["cts-source-delivery-count"] == 1
    assert world.bus.counts()["dataverse-events/Subscriptions/teams-records"]["dead_letter"] == 0


@pytest.mark.slow
def test_duplicated_reordered_events_throttling_and_a_host_kill_still_converge(world: World) -> None:
    world.dv.configure_events(duplicate_factor=3, shuffle_window=4, shuffle_flush_seconds=0.3)
    world.graph.set_faults(throttle_ratio=0.3, retry_after=0.05)
    world.dv.set_faults(throttle_ratio=0.3, retry_after=0.05)
    try:
        acc, opps = new_account(
            world.dv, world.people, "Adatum", opportunities=[("A1", 1), ("A2", 2), ("A3", 3)]
        )
        world.dv.change(
            "update", "opportunity", opps[0], name="A1 renamed"
        )  # a later change of the same record
        world.dv.flush_events()
        wait_for(lambda: world.running("sync_records"), timeout=20, what="a records pass in flight")
        world.host.kill()  # mid-run: a records orchestration is running
        world.host.start()
        want = sorted([f"account:{acc}", *(f"opportunity:{o}" for o in opps)])
        wait_for(
            lambda: world.tabs(world.adopted, "Adatum") == want,
            timeout=90,
            what="all four tabs after the crash",
        )
        wait_for(world.quiet, timeout=60, what="the passes to finish")
    finally:
        world.graph.clear_faults()
        world.dv.clear_faults()
        world.dv.configure_events(duplicate_factor=1, shuffle_window=1)
    channel = world.channels(world.adopted)["Adatum"]
    world.graph.act("upload-file", teamId=world.adopted, channelId=channel, name="adatum.docx")
    for ref in (account(acc), *(opportunity(o) for o in opps)):
        assert world.files(ref) == {"adatum.docx"}  # one location each: not two
    locations = asyncio.run(_count_locations(world, [account(acc), *(opportunity(o) for o in opps)]))
    assert locations == 4


def _report(world: World, report_id: str) -> Any:
    got = world.call("GET", f"ops/records/report/{report_id}")
    return got.json() if got.status_code == 200 else None


async def _count_locations(world: World, refs: list[RecordRef]) -> int:
    dv = dataverse_for(world.dv)
    try:
        return len(await dv.locations(refs))
    finally:
        await dv.aclose()


def _graph_writes(world: World) -> int:
    requests: dict[str, dict[str, int]] = world.graph.counters()["requests"]
    return sum(
        sum(n.values()) for r, n in requests.items() if not r.startswith("GET ") and r != "POST /$batch"
    )


def _records_outcome(world: World, acc: str) -> str | None:
    r = world.call("GET", f"ops/records/status/account:{acc}")
    return r.json().get("outcome") if r.status_code == 200 else None


def test_a_records_change_while_suspended_converges_when_writes_resume(world: World) -> None:
    wait_for(world.quiet, what="the passes to finish")
    suspended = world.call("POST", "ops/suspend", params={"reason": "records audit", "by": "e2e"})
    assert suspended.status_code == 200 and suspended.json()["suspended"] is True
    try:
        world.graph.reset_counters()
        acc, _ = new_account(world.dv, world.people, "Wingtip")
        wait_for(lambda: _records_outcome(world, acc) == "suspended", what="the records pass suspended")
        shown = world.call("GET", f"ops/records/status/account:{acc}").json()
        assert any("records audit" in p for p in shown["problems"]) and shown["operations"]
        assert _graph_writes(world) == 0  # planned and reported, nothing written to Teams
        assert "Wingtip" not in world.channels(world.adopted)
    finally:
        resumed = world.call("DELETE", "ops/suspend", params={"by": "e2e"})
    assert resumed.status_code == 200 and resumed.json()["suspended"] is False
    wait_for(lambda: world.tabs(world.adopted, "Wingtip") == [f"account:{acc}"], what="Wingtip's tab")
    assert resumed.json()["records_resumed"] >= 1  # the suspended account's pass, requested again
    wait_for(lambda: _records_outcome(world, acc) in ("changed", "converged"), what="the pass to converge")
    _end_reconciliation(world, resumed.json().get("reconcile_instance"))


def _end_reconciliation(world: World, instance: str | None) -> None:
    """The lift also starts the teams' reconciliation, which cannot reach Commerce in this world
    (no Commerce here): end it, so the other tests' `quiet` is not held up by its retries."""
    if instance:
        httpx.post(
            f"{world.host.base_url}/runtime/webhooks/durabletask/instances/{instance}/terminate",
            params={"reason": "no Commerce in the records world", "code": world.key},
            timeout=10,
        )
    wait_for(world.quiet, timeout=60, what="the passes to finish")
