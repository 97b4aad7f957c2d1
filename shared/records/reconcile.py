"""The nightly reconciliation of every connection: the records pass over every account, with a
drift report (what each pass changed, or would change in a dry run, and its problems).

Entries are written by each pass (`records-report-<id>` partition), the summary and the pointer
to the latest report under `records-reports`, apart from the teams' drift reports."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from shared.records.desired import pass_key
from shared.records.records_pass import PARTITION, RecordsPassResult, busy_result
from shared.records.services import RecordServices
from shared.spine import RequestQueue, run_pass
from shared.spine.features import RECORDS

REPORTS = "records-reports"


async def all_accounts(s: RecordServices) -> list[str]:
    """Every account in Dataverse and every account the app remembers connections for."""
    ids = {a.lower() for a in await s.dataverse.account_ids()}
    ids.update(k.removeprefix("account:") for k in await s.base.state.list_values(PARTITION))
    return sorted(ids)


async def begin(
    s: RecordServices, accounts: list[str] | None, *, report_id: str | None = None
) -> dict[str, Any]:
    return {
        "accounts": sorted(a.lower() for a in accounts) if accounts else await all_accounts(s),
        "batch_size": s.base.settings.records.batch_size,
        "report_id": report_id or "rr-" + uuid.uuid4().hex[:12],
        "started": datetime.now(UTC).isoformat(),
    }


async def reconcile_account(
    s: RecordServices, account_id: str, *, report_id: str, dry_run: bool, instance_id: str | None
) -> dict[str, Any]:
    key = pass_key(account_id)

    async def run(_: str) -> RecordsPassResult:
        return await s.run_pass(account_id, dry_run=dry_run)

    # A dry run writes nothing, so it needs no lease; a real pass holds the account's (it may run
    # beside the account's orchestration: a held lease answers "busy" and requests one more pass).
    if dry_run:
        result = await run(key)
    else:
        result = await run_pass(
            RequestQueue(s.base.state, RECORDS), key, run, owner=instance_id, busy=busy_result
        )
    entry = result.to_json()
    if result.operations or result.problems or result.outcome != "converged":
        await s.base.state.put_value(f"records-report-{report_id}", pass_key(account_id), entry)
    return {
        "key": result.key,
        "outcome": result.outcome,
        "operations": len(result.operations),
        "problems": len(result.problems),
    }


async def finish(s: RecordServices, payload: dict[str, Any]) -> dict[str, Any]:
    summary = {
        "id": payload["report_id"],
        "dry_run": payload["dry_run"],
        "started": payload["started"],
        "finished": datetime.now(UTC).isoformat(),
        "accounts": payload["accounts"],
        "outcomes": payload["outcomes"],
    }
    await s.base.state.put_value(REPORTS, payload["report_id"], summary)
    await s.base.state.put_value(REPORTS, "latest", {"id": payload["report_id"]})
    return summary


async def get_report(s: RecordServices, report_id: str | None = None) -> dict[str, Any] | None:
    """A records drift report with its entries (accounts with changes or problems)."""
    state = s.base.state
    if report_id is None:
        pointer = await state.get_value(REPORTS, "latest")
        if pointer is None:
            return None
        report_id = str(pointer["id"])
    summary = await state.get_value(REPORTS, report_id)
    if summary is None:
        return None
    return {**summary, "drift": await state.list_values(f"records-report-{report_id}")}
