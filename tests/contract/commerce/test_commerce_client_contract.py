"""The production OData client against the Commerce sandbox, over HTTP."""

from __future__ import annotations

import json
from datetime import date

import pytest

from local.commerce.testing import CommerceSandboxHandle, RecordingSender
from shared.commerce.client import CommerceClient
from shared.commerce.errors import (
    BadRequest,
    CommerceUnavailable,
    NotFound,
    PreconditionFailed,
    Throttled,
    Unauthorized,
)
from shared.commerce.odata import MAX_OR_TERMS, eq, one_of
from shared.domain.commerce import EmploymentStatus, StoreRole, StoreStatus
from shared.domain.tasks import StoreTask, TaskOrigin, TaskStatus
from shared.settings import CommerceEntitySets, CommerceSettings
from shared.tasks.origin import FROM_TEAMS_LIST, teams_task_id


def client_for(handle: CommerceSandboxHandle, **settings: object) -> CommerceClient:
    async def no_sleep(_: float) -> None:
        return None

    config = CommerceSettings(
        base_url=handle.base_url, auth="static_token", static_token=handle.token, **settings
    )  # type: ignore[arg-type]
    return CommerceClient(config, sleep=no_sleep)


async def test_reads_follow_next_link_across_pages(big_sandbox: CommerceSandboxHandle) -> None:
    big_sandbox.reset_counters()
    async with client_for(big_sandbox) as commerce:
        workers = await commerce.workers()
    assert len(workers) == 2500
    assert len({w.personnel_number for w in workers}) == 2500
    assert big_sandbox.counters()["GET Workers 200"] == 3  # 1,000 + 1,000 + 500


async def test_top_and_select_are_honoured_across_pages(big_sandbox: CommerceSandboxHandle) -> None:
    async with client_for(big_sandbox) as commerce:
        rows = await commerce.query(commerce.sets.workers, select=["PersonnelNumber", "Name"], top=1500)
    assert len(rows) == 1500
    assert set(rows[0]) == {"@odata.etag", "PersonnelNumber", "Name"}


async def test_filters_select_exactly_the_matching_rows(sandbox: CommerceSandboxHandle) -> None:
    sandbox.change(
        "hire_worker",
        worker={"personnel_number": "007777", "name": "Siobhan O'Brien", "upn": "siobhan@contoso.example"},
        store="0004",
        role="worker",
    )
    async with client_for(sandbox) as commerce:
        sets = commerce.sets
        by_name = await commerce.query(sets.workers, eq("Name", "Siobhan O'Brien"))
        assert [r["PersonnelNumber"] for r in by_name] == ["007777"]
        assert len(await commerce.query(sets.workers, "contains(Name,'o''brien')")) == 1
        two = await commerce.query(sets.stores, one_of("StoreNumber", ["0001", "0003"]))
        assert sorted(r["StoreNumber"] for r in two) == ["0001", "0003"]
        not_west = await commerce.query(
            sets.hierarchy, "OperatingUnitType ne 'RetailChannel' and Name ne 'West'"
        )
        assert sorted(r["OperatingUnitNumber"] for r in not_west) == ["CENTRAL", "EAST"]
        enum_literal = await commerce.query(
            sets.assignments, "IsActive eq Microsoft.Dynamics.DataEntities.NoYes'No'"
        )
        assert enum_literal, "the sample org has a terminated worker still listed at a store"


async def test_cross_company_reads_every_legal_entity_and_only_then(sandbox: CommerceSandboxHandle) -> None:
    sandbox.change(
        "open_store",
        store={
            "number": "9001",
            "name": "Berlin Mitte",
            "region": "EAST",
            "legal_entity": "DEMF",
            "time_zone": "W. Europe Standard Time",
        },
    )
    async with client_for(sandbox, cross_company=True) as commerce:
        store = await commerce.store("9001")
        assert store.legal_entity == "DEMF"
        assert store.region == "EAST"
    async with client_for(sandbox, cross_company=False) as commerce:
        assert "9001" not in {s.number for s in await commerce.stores()}
        with pytest.raises(NotFound):
            await commerce.store("9001")


async def test_stale_if_match_is_refused_and_a_fresh_one_accepted(sandbox: CommerceSandboxHandle) -> None:
    async with client_for(sandbox) as commerce:
        (task,) = await commerce.store_tasks(task_list="TL-2", task="1", store="0001")
        started = await commerce.update_store_task(task, status=TaskStatus.IN_PROGRESS)
        assert started.etag != task.etag
        with pytest.raises(PreconditionFailed):
            await commerce.update_store_task(task, status=TaskStatus.COMPLETED, completed_by="000004")
        fresh = await commerce.store_task("TL-2", "1", "0001")
        done = await commerce.update_store_task(
            fresh, status=TaskStatus.COMPLETED, completed_by="000004", completed_at=fresh.modified_at
        )
    assert done.status is TaskStatus.COMPLETED and done.completed_by == "000004"
    written = [
        t for t in sandbox.task_statuses() if (t["task_list"], t["task"], t["store"]) == ("TL-2", "1", "0001")
    ]
    assert written[0]["status"] == "completed" and written[0]["completed_by"] == "000004"


async def test_errors_become_typed_exceptions(sandbox: CommerceSandboxHandle) -> None:
    async with client_for(sandbox, entity_sets=CommerceEntitySets(workers="NoSuchWorkers")) as commerce:
        with pytest.raises(NotFound):
            await commerce.workers()
        with pytest.raises(BadRequest, match="NoSuchField"):
            await commerce.query(commerce.sets.stores, "NoSuchField eq 'x'")
    bad_token = CommerceSettings(base_url=sandbox.base_url, auth="static_token", static_token="wrong")
    async with CommerceClient(bad_token) as commerce:
        with pytest.raises(Unauthorized):
            await commerce.stores()
    sandbox.set_faults(error_ratio=1.0, error_status=503)
    async with client_for(sandbox, max_retries=2) as commerce:
        with pytest.raises(CommerceUnavailable) as unavailable:
            await commerce.stores()
        assert unavailable.value.transient and commerce.retries == 2
    sandbox.set_faults(error_ratio=0.0, throttle_ratio=1.0, retry_after=7)
    async with client_for(sandbox, max_retries=1) as commerce:
        with pytest.raises(Throttled) as throttled:
            await commerce.stores()
    assert throttled.value.retry_after == 7


async def test_throttling_is_retried_until_the_read_succeeds(sandbox: CommerceSandboxHandle) -> None:
    sandbox.set_faults(throttle_ratio=0.4, retry_after=0)
    async with client_for(sandbox, max_retries=10) as commerce:
        org = await commerce.read_org()
        retries = commerce.retries
    assert len(org.stores) == 10 and len(org.workers) == 100
    assert retries > 0
    assert any(k.endswith(" 429") for k in sandbox.counters())


async def test_read_org_of_one_store_reads_only_its_slice(big_sandbox: CommerceSandboxHandle) -> None:
    big_sandbox.reset_counters()
    async with client_for(big_sandbox) as commerce:
        org = await commerce.read_org(store="0005")
    assert [s.number for s in org.stores] == ["0005"]
    assert org.assignments and {a.store for a in org.assignments} == {"0005"}
    assigned = {a.personnel_number for a in org.assignments}
    region = next(r for r in org.regions if r.id == org.stores[0].region)
    assert {w.personnel_number for w in org.workers} == assigned | set(region.managers)
    assert any(a.role is StoreRole.MANAGER for a in org.assignments)
    counters = big_sandbox.counters()
    # Filtered requests of at most MAX_OR_TERMS workers each, never the 2,500-row list.
    assert counters.get("GET Workers 200") == -(-len(org.workers) // MAX_OR_TERMS)
    assert sum(counters.values()) <= 12


async def test_slices_read_in_bulk_are_the_slices_read_one_at_a_time_for_far_fewer_requests(
    big_sandbox: CommerceSandboxHandle,
) -> None:
    """A reconciliation batch reads its stores' slices together: the same slice for every store
    (one that does not exist included) as `read_org(store=...)`, in a fraction of the requests."""
    stores = [f"{i:04d}" for i in range(1, 26)] + ["4040"]
    async with client_for(big_sandbox) as commerce:
        big_sandbox.reset_counters()
        one_at_a_time = {n: await commerce.read_org(store=n) for n in stores}
        singly = sum(big_sandbox.counters().values())
        big_sandbox.reset_counters()
        together = await commerce.store_slices(stores)
        bulk = sum(big_sandbox.counters().values())
    assert list(together) == stores
    for n in stores:
        assert together[n] == one_at_a_time[n], n
    assert together["4040"].stores == ()
    assert sum(len(o.workers) for o in together.values()) > 25  # real slices, not empty ones
    assert bulk * 5 <= singly, (bulk, singly)


async def test_slice_of_a_store_that_does_not_exist_is_empty(sandbox: CommerceSandboxHandle) -> None:
    async with client_for(sandbox) as commerce:
        org = await commerce.read_org(store="4040")
    assert org.stores == () and org.assignments == ()


async def test_domain_mapping_of_fo_quirks(sandbox: CommerceSandboxHandle) -> None:
    """dataAreaId comes back lower case and empty dates as 1900-01-01; the domain sees neither."""
    sandbox.change("close_store", store="0002")
    sandbox.change("terminate_worker", personnel_number="000010", termination_date="2026-02-01")
    async with client_for(sandbox) as commerce:
        raw = await commerce.query(commerce.sets.stores, eq("StoreNumber", "0002"))
        assert raw[0]["dataAreaId"] == "usrt"
        store = await commerce.store("0002")
        worker = await commerce.worker("000010")
        tasks = await commerce.store_tasks(store="0001")
        at_store = await commerce.assignments(personnel_number="000010")
    assert store.legal_entity == "USRT" and store.status is StoreStatus.CLOSED
    assert worker.status is EmploymentStatus.TERMINATED and str(worker.termination_date) == "2026-02-01"
    assert tasks and all(t.completed_at is None for t in tasks)
    assert at_store and not any(a.active for a in at_store)


async def test_team_mapping_rows_are_created_with_post_and_read_back(sandbox: CommerceSandboxHandle) -> None:
    from shared.domain.commerce import TeamMapping, TeamSourceType

    team_id = "0b8f3a1e-5c2d-4e6f-8a9b-1c2d3e4f5a6b"  # mapping rows name teams by GUID
    mapping = TeamMapping(source_type=TeamSourceType.STORE, source_id="0004", team_id=team_id)
    sandbox.reset_counters()
    async with client_for(sandbox) as commerce:
        await commerce.create_team_mapping(mapping)
        assert mapping in await commerce.team_mappings(source_type="RetailStore", source_ids=["0004"])
        with pytest.raises(BadRequest, match="already exists"):  # a create is an insert, never an upsert
            await commerce.create_team_mapping(mapping)
    assert sandbox.counters()["POST RetailTeamsSourceTeamMappings 201"] == 1
    assert sandbox.counters()["POST RetailTeamsSourceTeamMappings 400"] == 1


async def test_entities_without_creates_refuse_a_post(sandbox: CommerceSandboxHandle) -> None:
    async with client_for(sandbox) as commerce:
        with pytest.raises(Exception, match=r"does not accept creates"):
            await commerce._send("POST", commerce.sets.stores, json={"StoreNumber": "9999"})


async def test_a_single_purpose_store_task_is_created_once_with_its_origin_and_creator(
    sandbox: CommerceSandboxHandle, sender: RecordingSender
) -> None:
    task = StoreTask(
        task_list=FROM_TEAMS_LIST,
        task=teams_task_id("planner-task-1"),
        store="0001",
        name="Fix the back door",
        due_date=date(2030, 3, 10),
        origin=TaskOrigin.TEAMS_ADHOC,
        created_by="000004",
        planner_task_id="planner-task-1",
    )
    sandbox.reset_counters()
    async with client_for(sandbox) as commerce:
        assert await commerce.find_store_task(task.task_list, task.task, "0001") is None
        created = await commerce.create_store_task(task)
        assert (created.origin, created.created_by, created.planner_task_id) == (
            TaskOrigin.TEAMS_ADHOC,
            "000004",
            "planner-task-1",
        )
        assert created.status is TaskStatus.NOT_STARTED and created.due_date == date(2030, 3, 10)
        assert created.etag and created.key == task.key
        assert await commerce.find_store_task(task.task_list, task.task, "0001") == created
        with pytest.raises(BadRequest, match="already exists"):  # an insert, never an upsert
            await commerce.create_store_task(task)
        published = task.model_copy(
            update={
                "task": teams_task_id("planner-task-2"),
                "origin": TaskOrigin.TEAMS_PUBLISHED,
                "created_by": None,
                "publication_id": "pub-1",
                "publication_name": "Spring launch",
            }
        )
        row = await commerce.create_store_task(published)
        assert (row.publication_id, row.publication_name, row.created_by) == ("pub-1", "Spring launch", None)
        with pytest.raises(BadRequest, match="StoreNumber"):
            await commerce.create_store_task(task.model_copy(update={"store": "9999"}))
        with pytest.raises(BadRequest, match="Workers"):
            await commerce.create_store_task(
                published.model_copy(update={"task": "P2", "created_by": "999999"})
            )
        with pytest.raises(BadRequest, match="TaskListId"):
            await commerce.create_store_task(task.model_copy(update={"task_list": "NO-SUCH-LIST"}))
        assert await commerce.worker_of_entra_user("00000000-0000-4000-8000-000000000001") is None
    assert sandbox.counters()["POST CTSTasks 201"] == 2
    # Commerce raises the task's business event for the create, like for every task write.
    bodies = [json.loads(m.body) for _, m in sender.sent if b"CTS_TaskChangedBusinessEvent" in m.body]
    assert any(b.get("ChangeKind") == "Created" and b.get("TaskId") == task.task for b in bodies)


async def test_a_refused_mapping_write_is_a_forbidden_error_and_reads_still_work(
    sandbox: CommerceSandboxHandle,
) -> None:
    from shared.commerce.errors import Forbidden
    from shared.domain.commerce import TeamMapping, TeamSourceType

    mapping = TeamMapping(
        source_type=TeamSourceType.STORE, source_id="0004", team_id="0b8f3a1e-5c2d-4e6f-8a9b-1c2d3e4f5a6b"
    )
    sandbox.set_faults(refuse={"method": "POST", "entity_set": "RetailTeamsSourceTeamMappings"})
    try:
        async with client_for(sandbox) as commerce:
            with pytest.raises(Forbidden, match="Access denied") as refused:
                await commerce.create_team_mapping(mapping)
            assert refused.value.status == 403 and not refused.value.transient  # not worth retrying
            assert mapping not in await commerce.team_mappings(source_type="RetailStore", source_ids=["0004"])
    finally:
        sandbox.clear_faults()
    async with client_for(sandbox) as commerce:
        await commerce.create_team_mapping(mapping)  # accepted once the privilege is there


async def test_every_read_names_its_columns_and_gets_only_those(sandbox: CommerceSandboxHandle) -> None:
    """F&O answers a read without `$select` with every column of the entity (over a hundred for
    the retail ones): the client names the ones it maps on every read, a lookup by key included."""
    sandbox.reset_counters()
    async with client_for(sandbox) as commerce:
        org = await commerce.read_org()
        await commerce.read_org(store=org.stores[0].number)
        await commerce.store_slices([s.number for s in org.stores[:3]])
        await commerce.task_lists()
        tasks = await commerce.store_tasks()
        await commerce.store_task(tasks[0].task_list, tasks[0].task, tasks[0].store)
        await commerce.communications_managers()
        rows = await commerce.query(commerce.sets.stores)
    counters = sandbox.counters()
    assert not [k for k in counters if k.startswith("unselected-read ")], counters
    assert sum(v for k, v in counters.items() if k.startswith("GET ")) >= 10
    assert org.stores and org.workers and org.assignments and tasks
    assert {o.legal_entity for o in org.stores} == {"USRT"}  # dataAreaId is among the columns
    assert set(rows[0]) == {"@odata.etag", *commerce.fields.select("store")}


async def test_query_strings_stay_within_iis_limit_which_the_sandbox_enforces(
    sandbox: CommerceSandboxHandle,
) -> None:
    """IIS refuses a query string over 2,048 characters (404.15) before F&O sees it: the sandbox
    does too, and `query_any` splits long values into more, shorter `or` chains instead."""
    import httpx

    too_long = one_of("PersonnelNumber", [f"{i:0>60}" for i in range(40)])
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        refused = await http.get(
            "/data/Workers",
            params={"$filter": too_long},
            headers={"Authorization": f"Bearer {sandbox.token}"},
        )
    assert refused.status_code == 404 and "query string is too long" in refused.text
    sandbox.reset_counters()
    async with client_for(sandbox) as commerce:
        real = [w.personnel_number for w in await commerce.workers()]
        wanted = [f"{i:0>60}" for i in range(200)] + real
        found = await commerce.query_any(commerce.sets.workers, "PersonnelNumber", wanted)
    assert sorted(r["PersonnelNumber"] for r in found) == sorted(real)
    counters = sandbox.counters()
    assert not [k for k in counters if "404.15" in k], counters
    assert counters["GET Workers 200"] > -(-len(wanted) // MAX_OR_TERMS)  # shorter chains, more of them
