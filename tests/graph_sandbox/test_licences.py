"""Licences in the Graph sandbox: licenseDetails and assignedPlans as Graph documents them, and
team creation refused for an owner without a Teams licence (local/graph/licences.py)."""

from __future__ import annotations

from typing import Any

import httpx

from local.graph.licences import TEAMS1
from local.graph.testing import GraphSandbox
from shared.graph.users import identity_from

from .conftest import TEMPLATE, member


def test_license_details_list_the_skus_and_their_service_plans(
    http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    body = http.get(f"/users/{users[0]['id']}/licenseDetails").json()
    assert body["@odata.context"].endswith(f"$metadata#users('{users[0]['id']}')/licenseDetails")
    [sku] = body["value"]
    assert set(sku) == {"id", "skuId", "skuPartNumber", "servicePlans"}
    assert {"servicePlanId": TEAMS1, "servicePlanName": "TEAMS1", "provisioningStatus": "Success",
            "appliesTo": "User"} in sku["servicePlans"]  # fmt: skip
    assert http.get("/users/00000000-0000-0000-0000-000000000000/licenseDetails").status_code == 404


def test_assigned_plans_come_only_on_select_and_say_whether_teams_is_enabled(
    graph: GraphSandbox, http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    [bare] = graph.seed_users([{"userPrincipalName": "nolicence@contoso.com", "_licences": []}])
    assert "assignedPlans" not in http.get(f"/users/{users[0]['id']}").json()
    licensed = http.get(f"/users/{users[0]['id']}", params={"$select": "id,assignedPlans"}).json()
    assert {"servicePlanId": TEAMS1, "capabilityStatus": "Enabled"}.items() <= licensed["assignedPlans"][
        0
    ].items()
    unlicensed = http.get(f"/users/{bare['id']}", params={"$select": "id,assignedPlans"}).json()
    assert unlicensed["assignedPlans"] == []
    assert identity_from(licensed).teams_licensed is True
    assert identity_from(unlicensed).teams_licensed is False
    assert identity_from({"id": "x"}).teams_licensed is None  # not selected: unknown


def test_team_creation_with_an_unlicensed_owner_is_refused_like_teams_does(
    graph: GraphSandbox, http: httpx.Client, users: list[dict[str, Any]]
) -> None:
    [bare] = graph.seed_users([{"userPrincipalName": "nolicence@contoso.com", "_licences": []}])
    resp = http.post(
        "/teams",
        json={
            "template@odata.bind": TEMPLATE,
            "displayName": "Store 0042",
            "members": [member(bare["id"], True)],
        },
    )
    assert resp.status_code == 403
    error = resp.json()["error"]
    assert error["code"] == "Forbidden" and "GetApplicableSkuCategoriesForUserFailed" in error["message"]
    # an unlicensed *member* next to a licensed owner is fine
    ok = http.post(
        "/teams",
        json={"template@odata.bind": TEMPLATE, "displayName": "Store 0043",
              "members": [member(users[0]["id"], True), member(bare["id"])]},
    )  # fmt: skip
    assert ok.status_code == 202
