"""Bench case `records_connections`: connections for 1,000 accounts / 3,000 opportunities.

Both sandboxes over HTTP, the production pass (shared/records/records_pass.py) run directly per
account with bounded concurrency: a first run that connects everything, then a converged run (the
nightly reconciliation's cost). Reports Graph and Dataverse requests against the minimum the APIs
allow for the same outcome, and wall time. Size: BENCH_RECORDS_ACCOUNTS (default 1,000; 3
opportunities each)."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

TEAMS = 20  # adopted team-based teams (Teams allows 200 channels per team)


def _count(counters: dict[str, Any]) -> int:
    return sum(sum(int(n) for n in by.values()) for by in counters["requests"].values())


def records_connections(accounts: int | None = None) -> dict[str, Any]:
    from local.dataverse.testing import running_dataverse_sandbox
    from local.graph.testing import running_graph_sandbox
    from shared.dataverse import DataverseClient
    from shared.graph import Gateway, PollPolicy
    from shared.records import parse_template
    from shared.records.records_pass import records_pass
    from shared.settings import DataverseSettings, GraphSettings, RecordsSettings, Settings
    from shared.state import StateStore
    from shared.state.sqlite import SqliteBackend

    n = accounts or int(os.environ.get("BENCH_RECORDS_ACCOUNTS", "1000"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-records-"))
    with (
        running_graph_sandbox(tmp / "graph.sqlite", scale=0.001, throttle=False) as graph,
        running_dataverse_sandbox(seed=5) as dv,
    ):
        # Dataverse allows 6,000 requests per user in 5 minutes: a first run over 1,000 accounts is
        # bound by it (reported below as a floor); the sandbox's window is shrunk so the bench
        # measures our requests and our wall time, not the wait.
        dv.set_limits(scale=0.001)
        [owner] = graph.seed_users([{"userPrincipalName": "owner@contoso.example", "displayName": "Owner"}])
        crm_user = str(uuid.uuid4())
        dts = [str(uuid.uuid4()) for _ in range(TEAMS)]
        gs = GraphSettings(base_url=graph.base_url, auth="static_token", static_token=graph.token)
        poll = PollPolicy(
            first_delay=0.01, interval=0.01, timeout=30, replication_delay=0.01, replication_attempts=3
        )

        async def teams() -> list[str]:
            gw = Gateway(gs, poll=poll)
            try:
                return [
                    await gw.create_team(display_name=f"Region {i}", owner_id=owner["id"])
                    for i in range(TEAMS)
                ]
            finally:
                await gw.aclose()

        team_ids = asyncio.run(teams())
        org: dict[str, list[dict[str, Any]]] = {
            "systemuser": [
                {"systemuserid": crm_user, "fullname": "Owner", "azureactivedirectoryobjectid": owner["id"]}
            ],
            "team": [{"teamid": d, "name": f"Region {i}"} for i, d in enumerate(dts)],
            "account": [],
            "opportunity": [],
        }
        ids = []
        for i in range(n):
            acc = str(uuid.uuid4())
            ids.append(acc)
            org["account"].append(
                {
                    "accountid": acc,
                    "name": f"Account {i:04d}",
                    "owningteam@odata.bind": f"/teams({dts[i % TEAMS]})",
                    "ownerid_systemuser@odata.bind": f"/systemusers({crm_user})",
                }
            )
            for j in range(3):
                org["opportunity"].append(
                    {
                        "opportunityid": str(uuid.uuid4()),
                        "name": f"Deal {i}-{j}",
                        "estimatedvalue": 1000,
                        "parentaccountid@odata.bind": f"/accounts({acc})",
                    }
                )
        dv.seed(org)
        template = json.dumps(
            {"patterns": [{"kind": "team_based", "teams": dict(zip(dts, team_ids, strict=True))}]}
        )
        settings = Settings(
            dataverse=DataverseSettings(base_url=dv.base_url),
            records=RecordsSettings(enabled=True, template=template),
        )

        async def run_all() -> tuple[float, list[str]]:
            gw = Gateway(gs, poll=poll)
            client = DataverseClient(
                DataverseSettings(base_url=dv.base_url, auth="static_token", static_token=dv.token)
            )
            state = StateStore(SqliteBackend(tmp / "state.sqlite"))
            sem = asyncio.Semaphore(8)
            retried: list[str] = []
            parsed = parse_template(template)

            async def one(a: str) -> str:
                # As the orchestration does (RetryOptions on the pass activity): a pass that fails
                # (e.g. a dropped connection on a POST, never repeated by the gateway) runs again.
                for attempt in range(3):
                    try:
                        async with sem:
                            r = await records_pass(
                                a,
                                dataverse=client,
                                gateway=gw,
                                state=state,
                                settings=settings,  # type: ignore[arg-type]
                                template=parsed,
                            )
                        return r.outcome
                    except Exception:
                        retried.append(a)
                        if attempt == 2:
                            raise
                return "failed"

            start = time.perf_counter()
            try:
                outcomes = await asyncio.gather(*(one(a) for a in ids))
            finally:
                await gw.aclose()
                await client.aclose()
                await state.close()
            return time.perf_counter() - start, list(outcomes) + ["retried"] * len(retried)

        graph.reset_counters()
        dv.reset_counters()
        first_s, first = asyncio.run(run_all())
        g1, d1 = _count(graph.counters()), sum(dv.counters().values())
        graph.reset_counters()
        dv.reset_counters()
        again_s, again = asyncio.run(run_all())
        g2, d2 = _count(graph.counters()), sum(dv.counters().values())
    records = n * 4
    # The least the APIs allow for the same outcome: per account one channel (POST), one
    # filesFolder read, one tab per record (no batch for tab creation), the app once per team;
    # in Dataverse one row and one location per record (no bulk create used), one site per team.
    graph_min = n * (1 + 1 + 4) + TEAMS
    dataverse_min = records * 2 + TEAMS
    return {
        "accounts": n,
        "opportunities": n * 3,
        "first_run_s": round(first_s, 2),
        "first_run_changed": first.count("changed"),
        "first_run_passes_retried": first.count("retried"),
        "graph_requests_first": g1,
        "graph_minimum_first": graph_min,
        "dataverse_requests_first": d1,
        "dataverse_minimum_first": dataverse_min,
        "dataverse_floor_first_s_at_service_limits": round(d1 / 6000 * 300, 1),
        "converged_run_s": round(again_s, 2),
        "converged_run_converged": again.count("converged"),
        "graph_requests_converged": g2,
        "dataverse_requests_converged": d2,
        "dataverse_floor_converged_s_at_service_limits": round(d2 / 6000 * 300, 1),
    }
