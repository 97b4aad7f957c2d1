"""Dataverse data events: a `RemoteExecutionContext` per Create/Update/Delete of a table with a
registered step, sent as a Service Bus message the way Dataverse's Service Bus endpoint does
(JSON message format; the `http://schemas.microsoft.com/xrm/2011/Claims/` properties).
https://learn.microsoft.com/power-apps/developer/data-platform/work-with-data-azure-solution
https://learn.microsoft.com/dotnet/api/microsoft.xrm.sdk.remoteexecutioncontext

Shape: Target carries the columns written (an update: only the changed ones, plus the primary
key); the post-image the whole row after, the pre-image the row before (deletes: the Target is an
EntityReference). Sending, duplicates and reordering are the Commerce sandbox's publisher
(local/commerce/publisher.py), so both sandboxes are untidy in the same ways.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from local.commerce.publisher import Publisher, Untidiness
from local.dataverse.tables import Table
from shared.bus.protocol import BusSender, OutgoingMessage

_XRM = "http://schemas.microsoft.com/xrm/2011/Claims/"
_CONTRACTS = "http://schemas.microsoft.com/xrm/2011/Contracts"
_EMPTY = "00000000-0000-0000-0000-000000000000"


def _value(table: Table, name: str, value: Any, targets: dict[tuple[str, str, str], str], ident: str) -> Any:
    if name.startswith("_") and name.endswith("_value"):
        lookup = name[1:-6]
        if value is None:
            return None
        return {
            "__type": f"EntityReference:{_CONTRACTS}",
            "Id": value,
            "LogicalName": targets.get((table.logical, ident, lookup), ""),
            "Name": None,
        }
    if name in ("statecode", "statuscode") and value is not None:
        return {"__type": f"OptionSetValue:{_CONTRACTS}", "Value": value}
    return value


def _attrs(table: Table, row: dict[str, Any], only: set[str] | None, targets: Any) -> list[dict[str, Any]]:
    ident = row[table.primary_key]
    out = []
    for name, value in sorted(row.items()):
        if only is not None and name not in only:
            continue
        key = name[1:-6] if name.startswith("_") and name.endswith("_value") else name
        out.append({"key": key, "value": _value(table, name, value, targets, ident)})
    return out


class EventPublisher:
    def __init__(self, sender: BusSender | None, topic: str, seed: int | None, organization: str) -> None:
        self.base = Publisher(db=None, sender=sender, topic=topic, seed=seed)
        self.organization = organization

    def configure(self, cfg: dict[str, Any]) -> None:
        """duplicate_factor, shuffle_window, delay_seconds, shuffle_flush_seconds."""
        u = self.base.untidy
        self.base.untidy = Untidiness(
            duplicate_factor=int(cfg.get("duplicate_factor", u.duplicate_factor)),
            shuffle_window=int(cfg.get("shuffle_window", u.shuffle_window)),
            delay_seconds=float(cfg.get("delay_seconds", u.delay_seconds)),
            shuffle_flush_seconds=float(cfg.get("shuffle_flush_seconds", u.shuffle_flush_seconds)),
        )

    def message(
        self,
        table: Table,
        message: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        targets: dict[tuple[str, str, str], str],
    ) -> OutgoingMessage:
        row = after or before or {}
        ident = row[table.primary_key]
        if message == "Create" and after is not None:
            target_attrs = _attrs(table, after, None, targets)
        elif message == "Update" and after is not None:
            changed = {k for k, v in after.items() if before is None or before.get(k) != v}
            target_attrs = _attrs(table, after, changed | {table.primary_key}, targets)
        else:
            target_attrs = []
        if message == "Delete":
            target: dict[str, Any] = {
                "__type": f"EntityReference:{_CONTRACTS}",
                "Id": ident,
                "LogicalName": table.logical,
                "Name": None,
                "KeyAttributes": [],
                "RowVersion": None,
            }
        else:
            target = {
                "__type": f"Entity:{_CONTRACTS}",
                "Attributes": target_attrs,
                "EntityState": None,
                "FormattedValues": [],
                "Id": ident,
                "KeyAttributes": [],
                "LogicalName": table.logical,
                "RelatedEntities": [],
                "RowVersion": str(row.get("versionnumber")),
            }

        def image(name: str, data: dict[str, Any] | None) -> list[dict[str, Any]]:
            if data is None:
                return []
            return [
                {
                    "key": name,
                    "value": {
                        "Attributes": _attrs(table, data, None, targets),
                        "Id": ident,
                        "LogicalName": table.logical,
                    },
                }
            ]

        body = {
            "BusinessUnitId": _EMPTY,
            "CorrelationId": str(uuid.uuid4()),
            "Depth": 1,
            "InitiatingUserAzureActiveDirectoryObjectId": _EMPTY,
            "InitiatingUserId": _EMPTY,
            "InputParameters": [{"key": "Target", "value": target}],
            "IsExecutingOffline": False,
            "IsInTransaction": False,
            "IsOfflinePlayback": False,
            "IsolationMode": 1,
            "MessageName": message,
            "Mode": 1,
            "OperationCreatedOn": f"/Date({int(time.time() * 1000)})/",
            "OperationId": str(uuid.uuid4()),
            "OrganizationId": _EMPTY,
            "OrganizationName": self.organization,
            "OutputParameters": [],
            "ParentContext": None,
            "PostEntityImages": image("PostImage", after if message != "Delete" else None),
            "PreEntityImages": image("PreImage", before if message != "Create" else None),
            "PrimaryEntityId": ident,
            "PrimaryEntityName": table.logical,
            "RequestId": str(uuid.uuid4()),
            "SecondaryEntityName": "none",
            "SharedVariables": [],
            "Stage": 40,
            "UserAzureActiveDirectoryObjectId": _EMPTY,
            "UserId": _EMPTY,
        }
        props: dict[str, str | int | float | bool] = {
            _XRM + "EntityLogicalName": table.logical,
            _XRM + "RequestName": message,
            _XRM + "Organization": self.organization,
        }
        return OutgoingMessage(
            body=json.dumps(body).encode(),
            message_id=str(uuid.uuid4()),
            content_type="application/json",
            application_properties=props,
        )

    async def publish(
        self,
        table: Table,
        message: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        targets: dict[tuple[str, str, str], str],
    ) -> int:
        msg = self.message(table, message, before, after, targets)
        ident = (after or before or {})[table.primary_key]
        return await self.base.publish_built(
            [(msg, {"format": "data_event", "type": f"{table.logical}:{message}", "keys": [ident]})]
        )
