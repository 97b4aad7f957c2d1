"""The Dataverse Web API client: OData v4 over httpx with azure-identity tokens.

    async with DataverseClient.from_settings(settings) as dv:
        scope = await dv.read_scope(account_id)

Every collection read sends `Prefer: odata.maxpagesize` and follows `@odata.nextLink` to the last
page (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results).
429 (service protection) waits `Retry-After`, as Dataverse asks: retrying earlier extends the
wait (https://learn.microsoft.com/power-apps/developer/data-platform/api-limits#how-to-re-try);
5xx and dropped connections back off with jitter. Writes: POST (id from `OData-EntityId`),
PATCH with `If-Match` (`*` = update, never create; an etag = only if unchanged -> 412),
DELETE (a row already gone counts as deleted). Results are domain models (shared/domain/records.py).
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

import httpx

from shared.commerce.auth import StaticToken, TokenProvider, token_provider
from shared.commerce.odata import MAX_OR_TERMS, chunks_of, literal
from shared.commerce.transport import ODataTransport, Sleep
from shared.dataverse.errors import DataverseUnavailable, NotFound, error_from_response
from shared.domain.ids import is_graph_guid
from shared.domain.records import (
    Account,
    AccountScope,
    Collaboration,
    CrmTeam,
    CrmUser,
    DocumentLocation,
    Opportunity,
    OpportunityState,
    RecordRef,
    RecordType,
    SharePointSite,
)
from shared.pool import POOL_LIMITS
from shared.settings import DataverseSettings, Settings

Row = dict[str, Any]
_ENTITY_ID = re.compile(r"\(([0-9a-fA-F-]{36})\)\s*$")
_BY_CODE = {t.type_code: t for t in RecordType}


def guid(value: str) -> str:
    """An Edm.Guid literal (unquoted in Dataverse's $filter); refuses anything else."""
    if not is_graph_guid(value):
        raise ValueError(f"not a GUID: {value!r}")
    return value.lower()


def guid_in(field: str, ids: Sequence[str]) -> str:
    return "(" + " or ".join(f"{field} eq {guid(i)}" for i in ids) + ")"


class DataverseClient:
    def __init__(
        self,
        settings: DataverseSettings,
        *,
        tokens: TokenProvider | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._tokens = tokens or token_provider(settings, "CTS_DATAVERSE")
        self._http = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/") + settings.api_path + "/",
            timeout=settings.timeout_seconds,
            transport=transport,
            limits=POOL_LIMITS,  # shared/pool.py
        )
        # GET and DELETE are safe to repeat after a dropped connection (a row already gone counts
        # as deleted); a POST or PATCH may have been applied.
        self._transport = ODataTransport(
            self._http,
            self._tokens,
            settings,
            headers={"OData-Version": "4.0", "OData-MaxVersion": "4.0", "Accept": "application/json"},
            repeatable=frozenset({"GET", "DELETE"}),
            error_from_response=error_from_response,
            unavailable=lambda what, method, url: DataverseUnavailable(
                f"no answer from Dataverse: {what}", method=method, url=url
            ),
            sleep=sleep,
            rng=rng or random.Random(),
        )

    @property
    def requests(self) -> int:
        return self._transport.requests

    @property
    def retries(self) -> int:
        return self._transport.retries

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> DataverseClient:
        return cls(settings.dataverse, **kw)

    @classmethod
    def for_sandbox(cls, base_url: str, token: str = "sandbox-token", **kw: Any) -> DataverseClient:
        settings = DataverseSettings(base_url=base_url, auth="static_token", static_token=token)
        return cls(settings, tokens=StaticToken(token), **kw)

    async def __aenter__(self) -> DataverseClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._tokens.close()

    # --- HTTP --------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One request with bounded retries (shared/commerce/transport.py)."""
        return await self._transport.send(method, url, params=params, json=json, headers=headers)

    async def query(
        self, entity_set: str, filter_: str | None = None, *, select: Sequence[str] = ()
    ) -> list[Row]:
        params: dict[str, str] = {}
        if filter_:
            params["$filter"] = filter_
        if select:
            params["$select"] = ",".join(select)
        return await self._transport.rows(entity_set, params, self.settings.page_size)

    async def query_ids(
        self,
        entity_set: str,
        field: str,
        ids: Iterable[str],
        *,
        select: Sequence[str] = (),
        extra: str | None = None,
    ) -> list[Row]:
        rows: list[Row] = []
        for chunk in chunks_of(ids):
            text = guid_in(field, chunk) + (f" and ({extra})" if extra else "")
            rows.extend(await self.query(entity_set, text, select=select))
        return rows

    async def get(self, entity_set: str, ident: str, select: Sequence[str] = ()) -> Row | None:
        params = {"$select": ",".join(select)} if select else None
        try:
            response = await self._send("GET", f"{entity_set}({guid(ident)})", params=params)
        except NotFound:
            return None
        data: Row = response.json()
        return data

    async def create(self, entity_set: str, body: Row) -> str:
        response = await self._send(
            "POST", entity_set, json=body, headers={"MSCRM.SuppressDuplicateDetection": "true"}
        )
        m = _ENTITY_ID.search(response.headers.get("OData-EntityId", ""))
        if m is None:
            raise DataverseUnavailable(
                "Dataverse answered a create without OData-EntityId", method="POST", url=entity_set
            )
        return m.group(1).lower()

    async def update(self, entity_set: str, ident: str, body: Row, etag: str = "*") -> None:
        """PATCH with If-Match (`*`: the row must exist; an etag: it must be unchanged)."""
        await self._send("PATCH", f"{entity_set}({guid(ident)})", json=body, headers={"If-Match": etag})

    async def delete(self, entity_set: str, ident: str) -> bool:
        """True if deleted now, False if it was already gone."""
        try:
            await self._send("DELETE", f"{entity_set}({guid(ident)})")
        except NotFound:
            return False
        return True

    # --- records -----------------------------------------------------------------------------

    _ACCOUNT = (
        "accountid",
        "name",
        "revenue",
        "cts_topaccount",
        "statecode",
        "_ownerid_value",
        "_owningteam_value",
    )
    _OPPORTUNITY = (
        "opportunityid",
        "name",
        "_parentaccountid_value",
        "estimatedvalue",
        "statecode",
        "_ownerid_value",
    )

    @staticmethod
    def _account(row: Row) -> Account:
        return Account(
            id=row["accountid"],
            name=row.get("name") or "",
            revenue=row.get("revenue"),
            top_account=bool(row.get("cts_topaccount")),
            active=row.get("statecode", 0) == 0,
            owner_id=row.get("_ownerid_value"),
            owning_team_id=row.get("_owningteam_value"),
            etag=row.get("@odata.etag", ""),
        )

    @staticmethod
    def _opportunity(row: Row) -> Opportunity:
        return Opportunity(
            id=row["opportunityid"],
            name=row.get("name") or "",
            account_id=row.get("_parentaccountid_value"),
            estimated_value=row.get("estimatedvalue"),
            state=OpportunityState(int(row.get("statecode") or 0)),
            owner_id=row.get("_ownerid_value"),
            etag=row.get("@odata.etag", ""),
        )

    async def account(self, account_id: str) -> Account | None:
        row = await self.get("accounts", account_id, self._ACCOUNT)
        return self._account(row) if row else None

    async def account_ids(self) -> list[str]:
        """Every account (active or not): the nightly reconciliation's keys."""
        return sorted(r["accountid"] for r in await self.query("accounts", select=("accountid",)))

    async def opportunity(self, opportunity_id: str) -> Opportunity | None:
        row = await self.get("opportunities", opportunity_id, self._OPPORTUNITY)
        return self._opportunity(row) if row else None

    async def account_of_opportunity(self, opportunity_id: str) -> str | None:
        found = await self.opportunity(opportunity_id)
        return found.account_id if found else None

    async def opportunities_of(self, account_id: str) -> list[Opportunity]:
        rows = await self.query(
            "opportunities", f"_parentaccountid_value eq {guid(account_id)}", select=self._OPPORTUNITY
        )
        return sorted((self._opportunity(r) for r in rows), key=lambda o: o.id)

    async def users(self, ids: Iterable[str]) -> dict[str, CrmUser]:
        rows = await self.query_ids(
            "systemusers",
            "systemuserid",
            sorted(set(ids)),
            select=("systemuserid", "fullname", "azureactivedirectoryobjectid", "domainname"),
        )
        return {
            r["systemuserid"]: CrmUser(
                id=r["systemuserid"],
                name=r.get("fullname") or "",
                entra_object_id=r.get("azureactivedirectoryobjectid"),
                upn=r.get("domainname"),
            )
            for r in rows
        }

    async def team(self, team_id: str) -> CrmTeam | None:
        row = await self.get("teams", team_id, ("teamid", "name"))
        return CrmTeam(id=row["teamid"], name=row.get("name") or "") if row else None

    async def read_scope(self, account_id: str, *, team_name: bool = True) -> AccountScope:
        """The account, its opportunities and their owners (and the owning team's name when
        `team_name`: only a template that maps teams by name needs it)."""
        account = await self.account(account_id)
        opportunities = await self.opportunities_of(account_id)
        owners = {o.owner_id for o in opportunities if o.owner_id}
        if account and account.owner_id:
            owners.add(account.owner_id)
        users = await self.users(owners) if owners else {}
        team = None
        if team_name and account and account.owning_team_id:
            team = await self.team(account.owning_team_id)
        return AccountScope(
            account=account,
            account_id=account_id,
            opportunities=tuple(opportunities),
            users=users,
            owning_team=team,
        )

    # --- connections -------------------------------------------------------------------------

    _COLLAB = (
        "msdyn_teamscollaborationid",
        "regardingobjectid",
        "regardingobjecttypecode",
        "msdyn_groupid",
        "msdyn_channelid",
        "msdyn_channelname",
        "msdyn_channelfolderrelativeurl",
        "msdyn_teamsiteurl",
    )

    @staticmethod
    def _collaboration(row: Row) -> Collaboration | None:
        kind = _BY_CODE.get(int(row.get("regardingobjecttypecode") or 0))
        if kind is None or not row.get("regardingobjectid"):
            return None  # a row about a record type the app does not connect
        return Collaboration(
            id=row["msdyn_teamscollaborationid"],
            regarding=RecordRef(type=kind, id=row["regardingobjectid"]),
            team_id=row.get("msdyn_groupid") or "",
            channel_id=row.get("msdyn_channelid") or "",
            channel_name=row.get("msdyn_channelname") or "",
            channel_folder_url=row.get("msdyn_channelfolderrelativeurl") or "",
            team_site_url=row.get("msdyn_teamsiteurl") or "",
            etag=row.get("@odata.etag", ""),
        )

    async def collaborations(self, regarding: Iterable[str]) -> list[Collaboration]:
        rows = await self.query_ids(
            "msdyn_teamscollaborations", "regardingobjectid", sorted(set(regarding)), select=self._COLLAB
        )
        return [c for c in map(self._collaboration, rows) if c is not None]

    async def collaborations_about(
        self, regarding: Iterable[str], channel_ids: Iterable[str]
    ) -> list[Collaboration]:
        """Rows regarding these records or in these channels: one query while the `or` chain is
        short (MAX_OR_TERMS), else one per kind."""
        ids, channels = sorted(set(regarding)), sorted(set(channel_ids))
        if not channels:
            return await self.collaborations(ids)
        if len(ids) + len(channels) > MAX_OR_TERMS:
            found = {c.id: c for c in await self.collaborations(ids)}
            found.update((c.id, c) for c in await self.collaborations_in_channels(channels))
            return list(found.values())
        terms = [f"regardingobjectid eq {guid(i)}" for i in ids] + [
            f"msdyn_channelid eq {literal(c)}" for c in channels
        ]
        rows = await self.query(
            "msdyn_teamscollaborations", "(" + " or ".join(terms) + ")", select=self._COLLAB
        )
        return [c for c in map(self._collaboration, rows) if c is not None]

    async def collaborations_in_channels(self, channel_ids: Iterable[str]) -> list[Collaboration]:
        ids = sorted(set(channel_ids))
        out: list[Collaboration] = []
        for chunk in chunks_of(ids):
            text = "(" + " or ".join(f"msdyn_channelid eq {literal(c)}" for c in chunk) + ")"
            rows = await self.query("msdyn_teamscollaborations", text, select=self._COLLAB)
            out.extend(c for c in map(self._collaboration, rows) if c is not None)
        return out

    async def create_collaboration(
        self,
        *,
        regarding: RecordRef,
        team_id: str,
        team_name: str,
        channel_id: str,
        channel_name: str,
        channel_type: str,
        folder_url: str,
        site_url: str,
        tenant_id: str,
        app_id: str,
        content_url: str,
        web_url: str,
    ) -> str:
        return await self.create(
            "msdyn_teamscollaborations",
            {
                "regardingobjectid": regarding.id,
                "regardingobjecttypecode": regarding.type.type_code,
                "regardingobjecttypename": regarding.type.value,
                "msdyn_groupid": team_id,
                "msdyn_teamid": team_id,
                "msdyn_teamname": team_name,
                "msdyn_channelid": channel_id,
                "msdyn_channelname": channel_name,
                "msdyn_channeltype": channel_type,
                "msdyn_channelfolderrelativeurl": folder_url,
                "msdyn_teamsiteurl": site_url,
                "msdyn_tenantid": tenant_id,
                "msdyn_appid": app_id,
                "msdyn_contenturl": content_url,
                "msdyn_weburl": web_url,
            },
        )

    async def delete_collaboration(self, collaboration_id: str) -> bool:
        return await self.delete("msdyn_teamscollaborations", collaboration_id)

    _LOCATION = ("sharepointdocumentlocationid", "name", "absoluteurl", "_regardingobjectid_value")

    async def locations(self, regarding: Sequence[RecordRef]) -> list[DocumentLocation]:
        kinds = {r.id.lower(): r for r in regarding}
        rows = await self.query_ids(
            "sharepointdocumentlocations", "_regardingobjectid_value", sorted(kinds), select=self._LOCATION
        )
        return [
            DocumentLocation(
                id=r["sharepointdocumentlocationid"],
                regarding=kinds[r["_regardingobjectid_value"].lower()],
                name=r.get("name") or "",
                absolute_url=r.get("absoluteurl") or "",
                etag=r.get("@odata.etag", ""),
            )
            for r in rows
            if r.get("_regardingobjectid_value") and r["_regardingobjectid_value"].lower() in kinds
        ]

    async def create_location(
        self, *, regarding: RecordRef, name: str, absolute_url: str, site_id: str
    ) -> str:
        return await self.create(
            "sharepointdocumentlocations",
            {
                "name": name[:100],
                "absoluteurl": absolute_url,
                "locationtype": 0,
                "servicetype": 0,
                f"regardingobjectid_{regarding.type.value}@odata.bind": (
                    f"/{regarding.type.entity_set}({guid(regarding.id)})"
                ),
                "parentsiteorlocation_sharepointsite@odata.bind": f"/sharepointsites({guid(site_id)})",
            },
        )

    async def delete_location(self, location_id: str) -> bool:
        return await self.delete("sharepointdocumentlocations", location_id)

    async def ensure_site(self, absolute_url: str, name: str) -> SharePointSite:
        rows = await self.query(
            "sharepointsites",
            f"absoluteurl eq {literal(absolute_url)}",
            select=("sharepointsiteid", "name", "absoluteurl"),
        )
        if rows:
            r = rows[0]
            return SharePointSite(
                id=r["sharepointsiteid"], name=r.get("name") or "", absolute_url=r["absoluteurl"]
            )
        ident = await self.create("sharepointsites", {"name": name[:160], "absoluteurl": absolute_url})
        return SharePointSite(id=ident, name=name, absolute_url=absolute_url)
