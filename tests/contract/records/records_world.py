"""A small CRM org on the Dataverse sandbox, its people in the Graph sandbox, one adopted Teams team,
and helpers that read the outcome the way a user sees it: through Graph and the Dataverse API."""

from __future__ import annotations

import json
import uuid
from typing import Any

from shared.dataverse import DataverseClient
from shared.domain.records import RecordRef, RecordType
from shared.graph import Gateway, PollPolicy
from shared.settings import DataverseSettings, GraphSettings

D365 = "cd2d8695-bdc9-4d8e-9620-cc963ed81f41"
SALES_TEAM = "0d000000-0000-0000-0000-00000000000a"  # the Dataverse team "Sales West"
PEOPLE = [
    ("ana@contoso.example", "Ana Seller"),
    ("ben@contoso.example", "Ben Seller"),
    ("legal@contoso.example", "Lena Legal"),
    ("guest@partner.example", "Gus Guest"),
]


def guid() -> str:
    return str(uuid.uuid4())


def template(adopted_team: str) -> str:
    return json.dumps(
        {
            "patterns": [
                {
                    "kind": "project_based",
                    "min_estimated_value": 500000,
                    "members": ["legal@contoso.example"],
                    "guests": ["guest@partner.example"],
                    "extra_channels": [
                        {"name": "Proposal", "connected": True},
                        {"name": "Partners", "connected": False, "guests": True},
                    ],
                    "on_close": "archive",
                },
                {"kind": "account_based", "min_revenue": 1000000, "on_close": "disconnect"},
                {"kind": "team_based", "teams": {SALES_TEAM: adopted_team}},
            ]
        }
    )


def gateway_for(graph: Any, **kw: Any) -> Gateway:
    return Gateway(
        GraphSettings(base_url=graph.base_url, auth="static_token", static_token=graph.token, **kw),
        poll=PollPolicy(
            first_delay=0.02, interval=0.02, timeout=20, replication_delay=0.05, replication_attempts=5
        ),
    )


def dataverse_for(handle: Any, **kw: Any) -> DataverseClient:
    return DataverseClient(
        DataverseSettings(base_url=handle.base_url, auth="static_token", static_token=handle.token, **kw)
    )


def seed_people(graph: Any, dataverse: Any) -> dict[str, str]:
    """Users in the directory and as Dataverse system users; returns UPN -> systemuserid."""
    users = graph.seed_users([{"userPrincipalName": u, "displayName": n} for u, n in PEOPLE])
    by_upn = {u["userPrincipalName"]: u["id"] for u in users}
    crm = {upn: guid() for upn, _ in PEOPLE[:3]}
    dataverse.seed(
        {
            "systemuser": [
                {
                    "systemuserid": crm[upn],
                    "fullname": name,
                    "domainname": upn,
                    "azureactivedirectoryobjectid": by_upn[upn],
                }
                for upn, name in PEOPLE[:3]
            ],
            "team": [{"teamid": SALES_TEAM, "name": "Sales West"}],
        }
    )
    return {**crm, **{f"entra:{k}": v for k, v in by_upn.items()}}


def new_account(
    dataverse: Any,
    people: dict[str, str],
    name: str,
    *,
    revenue: float = 0,
    team: bool = True,
    opportunities: list[tuple[str, float]] = (),
) -> tuple[str, list[str]]:  # type: ignore[assignment]
    """An account (owned by Ana, in the Sales West team if `team`) with open opportunities."""
    acc = guid()
    values: dict[str, Any] = {
        "accountid": acc,
        "name": name,
        "revenue": revenue,
        "ownerid_systemuser@odata.bind": f"/systemusers({people['ana@contoso.example']})",
    }
    if team:
        values["owningteam@odata.bind"] = f"/teams({SALES_TEAM})"
    dataverse.change("create", "account", **values)
    opps = []
    for opp_name, value in opportunities:
        oid = guid()
        dataverse.change(
            "create",
            "opportunity",
            opportunityid=oid,
            name=opp_name,
            estimatedvalue=value,
            **{
                "parentaccountid@odata.bind": f"/accounts({acc})",
                "ownerid_systemuser@odata.bind": f"/systemusers({people['ben@contoso.example']})",
            },
        )
        opps.append(oid)
    return acc, opps


def account(ident: str) -> RecordRef:
    return RecordRef(type=RecordType.ACCOUNT, id=ident)


def opportunity(ident: str) -> RecordRef:
    return RecordRef(type=RecordType.OPPORTUNITY, id=ident)


async def files_on(record: RecordRef, dv: DataverseClient, gw: Gateway) -> set[str]:
    """What the record's Documents tab lists: the files of every document location it has."""
    names: set[str] = set()
    for loc in await dv.locations([record]):
        files = await gw.files_at(loc.absolute_url)
        assert files is not None, f"{record} has a location pointing at nothing: {loc.absolute_url}"
        names.update(f.name for f in files)
    return names


async def tabs_in(gw: Gateway, team_id: str, channel_name: str) -> list[str]:
    """The record refs ('account:<id>') shown as Dynamics tabs in a channel."""
    channel = next((c for c in await gw.list_channels(team_id) if c.name == channel_name), None)
    if channel is None or channel.id is None:
        return []
    return sorted(t.entity_id for t in await gw.list_tabs(team_id, channel.id) if t.app_id == D365)
