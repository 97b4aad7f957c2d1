"""Licences of users: ``/users/{id}/licenseDetails`` and the user's ``assignedPlans``.

- ``GET /users/{id}/licenseDetails``: https://learn.microsoft.com/graph/api/user-list-licensedetails
  (collection of licenseDetails: id, skuId, skuPartNumber, servicePlans[servicePlanId,
  servicePlanName, provisioningStatus, appliesTo]; supports ``$select``). Its permission table
  lists **no application permission** ("Application: Not supported", generated permissions file
  user-list-licensedetails-permissions.md in microsoftgraph/microsoft-graph-docs-contrib), so an
  app-only caller such as this app cannot use it; the sandbox serves it for delegated tools and
  tests and the app reads ``assignedPlans`` instead.
- ``assignedPlans`` on the user (https://learn.microsoft.com/graph/api/resources/user: "returned
  only on $select"; assignedPlan = assignedDateTime, capabilityStatus, service, servicePlanId),
  readable app-only with User.Read.All, and batchable with the identity look-up itself.

Seeded users carry ``_licences`` (a list of SKUs with their service plans); a user seeded
without it gets Microsoft 365 Business Standard (SKU ``O365_BUSINESS_PREMIUM``), the licence the
Commerce-Teams integration names as its prerequisite, which includes Microsoft Teams (``TEAMS1``,
service plan 57ff2da0-773e-42df-b2af-ffb7a2317929; Microsoft's "Product names and service plan
identifiers for licensing" table). ``"_licences": []`` is a user without any licence.
"""

from __future__ import annotations

from typing import Any

from .core import Router, Sandbox
from .errors import not_found
from .users import resolve_user
from .wire import Req, Resp

TEAMS1 = "57ff2da0-773e-42df-b2af-ffb7a2317929"
_SERVICE = {TEAMS1: "TeamspaceAPI"}  # assignedPlan.service of a plan (the workload's name)
BUSINESS_STANDARD: dict[str, Any] = {
    "skuId": "f245ecc8-75af-4f8e-b61f-27d8114de5f3",
    "skuPartNumber": "O365_BUSINESS_PREMIUM",
    "servicePlans": [
        {
            "servicePlanId": TEAMS1,
            "servicePlanName": "TEAMS1",
            "provisioningStatus": "Success",
            "appliesTo": "User",
        }
    ],
}


def licences_of(user: dict[str, Any]) -> list[dict[str, Any]]:
    found = user.get("_licences")
    return [BUSINESS_STANDARD] if found is None else list(found)


def assigned_plans(user: dict[str, Any]) -> list[dict[str, Any]]:
    """The user's assignedPlans as Graph derives them from the licences (Success -> Enabled)."""
    plans = []
    for sku in licences_of(user):
        for plan in sku.get("servicePlans", []):
            enabled = plan.get("provisioningStatus", "Success") == "Success"
            plans.append(
                {
                    "assignedDateTime": "2026-01-01T00:00:00Z",
                    "capabilityStatus": "Enabled" if enabled else "Suspended",
                    "service": _SERVICE.get(plan["servicePlanId"], plan.get("servicePlanName", "")),
                    "servicePlanId": plan["servicePlanId"],
                }
            )
    return plans


def has_teams(user: dict[str, Any]) -> bool:
    return any(
        p["servicePlanId"] == TEAMS1 and p["capabilityStatus"] == "Enabled" for p in assigned_plans(user)
    )


async def list_licence_details(sb: Sandbox, req: Req) -> Resp:
    user = resolve_user(sb, req.params["id"])
    if user is None:
        raise not_found(req.params["id"])
    value = [
        {
            "id": f"{user['id'][:8]}-{sku['skuId'][:8]}",
            "skuId": sku["skuId"],
            "skuPartNumber": sku.get("skuPartNumber"),
            "servicePlans": [
                {"appliesTo": "User", "provisioningStatus": "Success", **p}
                for p in sku.get("servicePlans", [])
            ],
        }
        for sku in licences_of(user)
    ]
    sel = {s.strip() for s in req.query.get("$select", "").split(",") if s.strip()}
    if sel:
        value = [{k: v for k, v in row.items() if k in sel or k == "id"} for row in value]
    context = f"{req.base}/$metadata#users('{user['id']}')/licenseDetails"
    return Resp(200, {"@odata.context": context, "value": value})


def register(router: Router) -> None:
    router.add("GET", "/users/{id}/licenseDetails", list_licence_details)
