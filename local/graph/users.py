"""Users: seeded through the side channel, read through ``/users``.

https://learn.microsoft.com/graph/api/user-get (id or userPrincipalName as key),
https://learn.microsoft.com/graph/api/user-list ($filter, $select, $top; default page 100, max 999).
"""

from __future__ import annotations

import uuid
from typing import Any

from .core import Router, Sandbox
from .errors import GraphError, not_found
from .filters import compile_filter
from .wire import Req, Resp, collection, entity, page_params

USER_FIELDS = (
    "id", "userPrincipalName", "displayName", "mail", "employeeId", "accountEnabled",
    "givenName", "surname", "jobTitle", "officeLocation", "department",
)  # fmt: skip


def seed_users(sb: Sandbox, users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert or update users (by id, else by UPN); missing ids get a GUID."""
    out = []
    with sb.store.tx():
        for raw in users:
            upn = raw.get("userPrincipalName")
            if not upn:
                raise GraphError(400, "BadRequest", "Every seeded user needs a userPrincipalName.")
            existing = (
                sb.store.get("user", raw["id"])
                if raw.get("id")
                else sb.store.find_one("user", "userPrincipalName", upn)
            )
            user: dict[str, Any] = {
                "id": raw.get("id") or (existing or {}).get("id") or str(uuid.uuid4()),
                "businessPhones": [],
                "displayName": None,
                "mail": None,
                "employeeId": None,
                "accountEnabled": True,
            }
            user.update({k: v for k, v in raw.items() if k in USER_FIELDS or k.startswith("_")})
            sb.store.put("user", user)
            out.append(user)
    return out


def resolve_user(sb: Sandbox, ident: str) -> dict[str, Any] | None:
    user = sb.store.get("user", ident)
    if user is None and "@" in ident:
        user = sb.store.find_one("user", "userPrincipalName", ident)
    return user


def _shown(user: dict[str, Any], req: Req) -> dict[str, Any]:
    """assignedPlans is "returned only on $select" (resources/user); derived from the licences."""
    if "assignedPlans" in req.query.get("$select", ""):
        from .licences import assigned_plans

        return {**user, "assignedPlans": assigned_plans(user)}
    return user


async def get_user(sb: Sandbox, req: Req) -> Resp:
    user = resolve_user(sb, req.params["id"])
    if user is None:
        raise not_found(req.params["id"])
    return entity(req, "users", _shown(user, req))


async def list_users(sb: Sandbox, req: Req) -> Resp:
    top, after = page_params(req, default=100, maximum=999)
    where, args = compile_filter(req.query["$filter"]) if req.query.get("$filter") else ("", [])
    rows = sb.store.query("user", where=where, args=args, after=after, limit=top + 1)
    return collection(req, "users", [(n, _shown(u, req)) for n, u in rows], top)


def register(router: Router) -> None:
    router.add("GET", "/users", list_users)
    router.add("GET", "/users/{id}", get_user)
