"""The production Dataverse client against the Dataverse sandbox, over HTTP."""

from __future__ import annotations

import json

import httpx
import pytest

from local.commerce.testing import RecordingSender
from local.dataverse.testing import DataverseSandboxHandle
from shared.dataverse import DataverseClient, NotFound, PreconditionFailed, Throttled
from shared.dataverse.errors import BadRequest
from shared.domain.records import OpportunityState, RecordRef, RecordType
from shared.settings import DataverseSettings
from tests.contract.dataverse.conftest import ACCOUNT, USER


def client_for(handle: DataverseSandboxHandle, **settings: object) -> DataverseClient:
    async def no_sleep(_: float) -> None:
        return None

    config = DataverseSettings(
        base_url=handle.base_url, auth="static_token", static_token=handle.token, **settings
    )  # type: ignore[arg-type]
    return DataverseClient(config, sleep=no_sleep)


async def test_reading_an_account_scope_returns_domain_models(dataverse: DataverseSandboxHandle) -> None:
    async with client_for(dataverse) as dv:
        scope = await dv.read_scope(ACCOUNT)
    assert scope.account is not None and scope.account.name == "Contoso"
    assert len(scope.opportunities) == 7
    assert all(o.account_id == ACCOUNT and o.state is OpportunityState.OPEN for o in scope.opportunities)
    assert scope.users[USER].entra_object_id == "11111111-1111-1111-1111-111111111111"


async def test_collections_are_paged_with_maxpagesize_and_next_links(
    dataverse: DataverseSandboxHandle,
) -> None:
    dataverse.reset_counters()
    async with client_for(dataverse, page_size=3) as dv:
        opportunities = await dv.opportunities_of(ACCOUNT)
    assert len(opportunities) == 7
    assert dataverse.counters()["GET opportunities 200"] == 3  # 3 + 3 + 1


def test_the_server_answers_maxpagesize_with_preference_applied(
    dataverse: DataverseSandboxHandle,
) -> None:
    r = httpx.get(
        f"{dataverse.base_url}/api/data/v9.2/opportunities?$select=name",
        headers={"Authorization": f"Bearer {dataverse.token}", "Prefer": "odata.maxpagesize=2"},
    )
    body = r.json()
    assert r.headers["Preference-Applied"] == "odata.maxpagesize=2"
    assert r.headers["OData-Version"] == "4.0"
    assert len(body["value"]) == 2 and "$skiptoken" in body["@odata.nextLink"]
    assert set(body["value"][0]) == {"@odata.etag", "name", "opportunityid"}


async def test_missing_rows_are_none_and_errors_are_typed(dataverse: DataverseSandboxHandle) -> None:
    async with client_for(dataverse) as dv:
        assert await dv.account("0a000000-0000-0000-0000-0000000000ff") is None
        with pytest.raises(BadRequest) as bad:
            await dv.query("accounts", "nosuchcolumn eq 1")
        assert bad.value.code == "0x80060888"
        with pytest.raises(NotFound):
            await dv.update(
                "accounts", "0a000000-0000-0000-0000-0000000000ff", {"name": "x"}
            )  # If-Match: * never creates


async def test_an_update_with_a_stale_etag_is_refused_with_412(dataverse: DataverseSandboxHandle) -> None:
    async with client_for(dataverse) as dv:
        account = await dv.account(ACCOUNT)
        assert account is not None
        await dv.update("accounts", ACCOUNT, {"name": "Contoso Ltd"}, account.etag)
        with pytest.raises(PreconditionFailed) as stale:
            await dv.update("accounts", ACCOUNT, {"name": "Contoso again"}, account.etag)
        assert stale.value.code == "0x80060882"
        assert (await dv.account(ACCOUNT)).name == "Contoso Ltd"  # type: ignore[union-attr]


async def test_collaboration_rows_and_document_locations_round_trip(
    dataverse: DataverseSandboxHandle,
) -> None:
    ref = RecordRef(type=RecordType.ACCOUNT, id=ACCOUNT)
    async with client_for(dataverse) as dv:
        site = await dv.ensure_site("https://contoso.sharepoint.com/sites/sales", "Sales")
        assert (await dv.ensure_site("https://contoso.sharepoint.com/sites/sales", "Sales")).id == site.id
        cid = await dv.create_collaboration(
            regarding=ref,
            team_id="g1",
            team_name="Sales",
            channel_id="19:c1@thread.tacv2",
            channel_name="Contoso",
            channel_type="standard",
            folder_url="/sites/sales/Shared Documents/Contoso",
            site_url="https://contoso.sharepoint.com/sites/sales",
            tenant_id="t",
            app_id="a",
            content_url="u",
            web_url="w",
        )
        lid = await dv.create_location(
            regarding=ref,
            name="Contoso",
            absolute_url="https://contoso.sharepoint.com/sites/sales/Shared Documents/Contoso",
            site_id=site.id,
        )
        [collab] = await dv.collaborations([ACCOUNT])
        assert collab.id == cid and collab.channel_id == "19:c1@thread.tacv2" and collab.regarding == ref
        assert [c.id for c in await dv.collaborations_in_channels(["19:c1@thread.tacv2"])] == [cid]
        [loc] = await dv.locations([ref])
        assert loc.id == lid and loc.absolute_url.endswith("/Contoso")
        assert await dv.delete_location(lid) is True
        assert await dv.delete_location(lid) is False  # already gone counts as deleted
        assert await dv.locations([ref]) == []


async def test_a_bind_to_a_missing_record_is_refused(dataverse: DataverseSandboxHandle) -> None:
    async with client_for(dataverse) as dv:
        with pytest.raises(NotFound):
            await dv.create_location(
                regarding=RecordRef(type=RecordType.ACCOUNT, id="0a000000-0000-0000-0000-0000000000ff"),
                name="x",
                absolute_url="https://x",
                site_id="0d000000-0000-0000-0000-000000000001",
            )


async def test_service_protection_429s_are_waited_out_with_retry_after(
    dataverse: DataverseSandboxHandle,
) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    dataverse.set_faults(throttle_ratio=0.3, retry_after=2)
    config = DataverseSettings(
        base_url=dataverse.base_url, auth="static_token", static_token=dataverse.token, max_retries=20
    )
    async with DataverseClient(config, sleep=record) as dv:
        for _ in range(20):
            assert (await dv.account(ACCOUNT)) is not None
    dataverse.clear_faults()
    assert waits and all(w == 2.0 for w in waits)  # Retry-After, not our own backoff
    assert any(k.endswith(" 429") for k in dataverse.counters())


async def test_the_request_limit_answers_429_with_the_documented_code(
    dataverse: DataverseSandboxHandle,
) -> None:
    dataverse.set_limits(requests=3, scale=0.01)  # 3 requests per 3 s window
    async with client_for(dataverse, max_retries=0) as dv:
        for _ in range(3):
            await dv.account(ACCOUNT)
        with pytest.raises(Throttled) as throttled:
            await dv.account(ACCOUNT)
    assert throttled.value.code == "0x80072322"
    assert throttled.value.retry_after is not None and 0 < throttled.value.retry_after <= 3
    dataverse.set_limits()


def test_a_bad_token_is_refused(dataverse: DataverseSandboxHandle) -> None:
    r = httpx.get(f"{dataverse.base_url}/api/data/v9.2/accounts", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


async def test_record_changes_publish_remote_execution_contexts(
    dataverse: DataverseSandboxHandle, sender: RecordingSender
) -> None:
    opp = "0b000000-0000-0000-0000-000000000001"
    dataverse.change("win", "opportunity", opp)
    [(topic, msg)] = sender.sent
    body = json.loads(msg.body)
    assert topic == "dataverse-events"
    assert body["MessageName"] == "Update" and body["PrimaryEntityName"] == "opportunity"
    target = body["InputParameters"][0]["value"]
    changed = {a["key"]: a["value"] for a in target["Attributes"]}
    assert changed["opportunityid"] == opp and changed["statecode"]["Value"] == 1
    assert "name" not in changed  # an update's Target carries only what changed (+ the key)
    assert body["PostEntityImages"][0]["value"]["Attributes"]
    assert (
        msg.application_properties["http://schemas.microsoft.com/xrm/2011/Claims/EntityLogicalName"]
        == "opportunity"
    )
