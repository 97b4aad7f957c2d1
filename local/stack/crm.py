"""The local stack's CRM side (`make run`): the Dataverse sandbox with a small sample org, an
adopted "Sales West" team for the team-based pattern, the records settings for the host, and the
per-record view printed after the first reconciliation (channels and the files each record shows).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from local.dataverse.server import create_app, seed

TOPIC = "dataverse-events"


class Crm:
    def __init__(self, root_url: str, token: str, dataverse: Any, sample: dict[str, Any]) -> None:
        self.root_url, self.token, self.dataverse, self.sample = root_url, token, dataverse, sample
        self.accounts: dict[str, str] = {}  # name -> id
        self.opportunities: dict[str, tuple[str, str]] = {}  # name -> (id, account name)
        self.sales_team_id = ""
        self.adopted_team = ""


def start_crm(
    stack: Any, exit_stack: ExitStack, sample_path: Path, token: str, loop: Any
) -> tuple[Crm, dict[str, str]]:
    """Start and seed the Dataverse sandbox; returns it and the host settings records need."""
    from local.stack.core import serve_in_thread
    from shared.graph import Gateway, PollPolicy
    from shared.settings import GraphSettings

    sample = json.loads(sample_path.read_text(encoding="utf-8"))
    app = create_app(sender=stack.bus, topic=TOPIC, token=token)
    root = exit_stack.enter_context(serve_in_thread(app, 0, "dataverse-sandbox"))
    crm = Crm(root, token, app.state.dataverse, sample)

    gw = Gateway(GraphSettings(base_url=stack.graph.base_url, auth="static_token", static_token=token),
                 poll=PollPolicy(first_delay=0.05, interval=0.05, timeout=30))  # fmt: skip

    async def directory() -> tuple[dict[str, str], str]:
        try:
            ids = {
                u: i.user_id for u, i in (await gw.resolve_upns([u["upn"] for u in sample["users"]])).items()
            }
            owner = (
                ids[sample["users"][0]["upn"].lower()]
                if sample["users"][0]["upn"].lower() in ids
                else next(iter(ids.values()))
            )
            team = await gw.create_team(display_name=sample["sales_team"], owner_id=owner)
            return ids, team
        finally:
            await gw.aclose()

    entra, crm.adopted_team = loop.run(directory())
    users = {u["upn"]: str(uuid.uuid4()) for u in sample["users"]}
    crm.sales_team_id = str(uuid.uuid4())
    rows: dict[str, list[dict[str, Any]]] = {
        "systemuser": [
            {"systemuserid": users[u["upn"]], "fullname": u["name"], "domainname": u["upn"],
             "azureactivedirectoryobjectid": entra.get(u["upn"].lower())}
            for u in sample["users"]
        ],
        "team": [{"teamid": crm.sales_team_id, "name": sample["sales_team"]}],
        "account": [],
        "opportunity": [],
    }  # fmt: skip
    for a in sample["accounts"]:
        aid = str(uuid.uuid4())
        crm.accounts[a["name"]] = aid
        owner = users[a["owner"]]
        row: dict[str, Any] = {"accountid": aid, "name": a["name"], "revenue": a.get("revenue", 0),
                               "ownerid_systemuser@odata.bind": f"/systemusers({owner})"}  # fmt: skip
        if a.get("sales_team"):
            row["owningteam@odata.bind"] = f"/teams({crm.sales_team_id})"
        rows["account"].append(row)
        for o in a.get("opportunities", []):
            oid = str(uuid.uuid4())
            crm.opportunities[o["name"]] = (oid, a["name"])
            rows["opportunity"].append({
                "opportunityid": oid, "name": o["name"], "estimatedvalue": o["value"],
                "parentaccountid@odata.bind": f"/accounts({aid})",
                "ownerid_systemuser@odata.bind": f"/systemusers({users[o['owner']]})",
            })  # fmt: skip
    asyncio.run(seed(crm.dataverse, rows))
    template = {
        "patterns": [
            {
                "kind": "project_based",
                "min_estimated_value": 500000,
                "on_close": "archive",
                **sample.get("project", {}),
            },
            {"kind": "account_based", "min_revenue": 1000000, "on_close": "disconnect"},
            {"kind": "team_based", "teams": {crm.sales_team_id: crm.adopted_team}},
        ]
    }
    settings = {
        "CTS_DATAVERSE__BASE_URL": root,
        "CTS_DATAVERSE__AUTH": "static_token",
        "CTS_DATAVERSE__STATIC_TOKEN": token,
        "CTS_RECORDS__ENABLED": "true",
        "CTS_RECORDS__TEMPLATE": json.dumps(template),
        "CTS_RECORDS__TOPIC": TOPIC,
    }
    return crm, settings


def connect_and_show(stack: Any, crm: Crm, say: Any, timeout: float = 180.0) -> list[str]:
    """Reconcile every connection, drop the sample files in their channels, and describe per
    record its channels and the files it shows (read back through Graph and the Dataverse API)."""
    from shared.dataverse import DataverseClient
    from shared.graph import Gateway
    from shared.settings import DataverseSettings, GraphSettings

    r = stack.call_app("POST", "ops/records/reconcile")
    r.raise_for_status()
    report_id = r.json()["report_id"]
    deadline = time.monotonic() + timeout
    while stack.call_app("GET", f"ops/records/report/{report_id}").status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError("the records reconciliation did not finish")
        time.sleep(0.5)

    async def view() -> list[str]:
        gw = Gateway(
            GraphSettings(base_url=stack.graph.base_url, auth="static_token", static_token=crm.token)
        )
        dv = DataverseClient(
            DataverseSettings(base_url=crm.root_url, auth="static_token", static_token=crm.token)
        )
        try:
            for f in crm.sample.get("files", []):
                for row in await dv.collaborations(
                    [
                        crm.accounts[f["account"]],
                        *(oid for oid, acc in crm.opportunities.values() if acc == f["account"]),
                    ]
                ):
                    if row.channel_name == f["channel"]:
                        stack.graph.act(
                            "upload-file", teamId=row.team_id, channelId=row.channel_id, name=f["name"]
                        )
                        break
            lines = []
            records = [("account", n, i) for n, i in crm.accounts.items()] + [
                ("opportunity", n, oid) for n, (oid, _) in crm.opportunities.items()
            ]
            from shared.domain.records import RecordRef, RecordType

            for kind, name, ident in records:
                ref = RecordRef(type=RecordType(kind), id=ident)
                rows = await dv.collaborations([ident])
                files: set[str] = set()
                for loc in await dv.locations([ref]):
                    files.update(x.name for x in await gw.files_at(loc.absolute_url) or [])
                where = ", ".join(f"'{r.channel_name}' ({r.team_id[:8]})" for r in rows) or "no channel"
                lines.append(f"{kind:11} {name:22} -> {where}; files: {', '.join(sorted(files)) or '-'}")
            return lines
        finally:
            await gw.aclose()
            await dv.aclose()

    return list(stack.loop.run(view(), timeout=120))
