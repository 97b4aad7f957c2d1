"""``GET /groups/delta`` with ``members@delta``: https://learn.microsoft.com/graph/delta-query-groups

- first round: every group (pages with ``$skiptoken``), then ``@odata.deltaLink`` (``$deltatoken``);
- later rounds: only groups changed since the token; ``members@delta`` lists added members and
  removed ones with ``"@removed": {"reason": "deleted"}``; a soft-deleted group comes back as
  ``{"id", "@removed": {"reason": "changed"}}`` (https://learn.microsoft.com/graph/delta-query-overview);
- ``$select`` of a directoryObject-collection relationship tracks it too: ``owners`` gives
  ``owners@delta`` the same way (team owners are the group's owners); only ids are returned
  (https://learn.microsoft.com/graph/api/group-delta, "Query parameters");
- an expired or unknown token → 410 Gone, code ``syncStateNotFound``, ``Location`` = a fresh
  delta link with an empty token (full resync). Directory tokens live 7 days (times ``scale``);
  ``POST /_sandbox/expire-delta-tokens`` expires every token issued so far.
- ``$filter`` only by id (``id eq '…'`` / ``or`` / ``in``), as Graph allows on groups delta.
"""

from __future__ import annotations

import re
from typing import Any

from .core import Router, Sandbox
from .errors import GraphError
from .wire import Req, Resp, decode_token, encode_token, next_link, select

PAGE = 100
TOKEN_LIFETIME_S = 7 * 24 * 3600
_ID = re.compile(r"'((?:[^']|'')*)'")


def _ids(req: Req) -> list[str] | None:
    expr = req.query.get("$filter")
    if not expr:
        return None
    if not re.fullmatch(r"\s*(id\s+eq\s+'[^']*'(\s+or\s+id\s+eq\s+'[^']*')*|id\s+in\s+\(.*\))\s*", expr):
        raise GraphError(
            400, "Request_UnsupportedQuery", "Only 'id' filters are supported with delta on groups."
        )
    return [m.replace("''", "'") for m in _ID.findall(expr)]


def _gone(sb: Sandbox, req: Req) -> GraphError:
    query = "&".join(f"{k}={v}" for k, v in req.query.items() if k in ("$select", "$filter"))
    location = f"{req.base}/groups/delta?{query}{'&' if query else ''}$deltatoken="
    return GraphError(
        410,
        "syncStateNotFound",
        "The sync state generation is not found or has expired. Restart the sync.",
        {"Location": location},
    )


def _state(sb: Sandbox, req: Req) -> dict[str, Any]:
    epoch = int(sb.store.meta("deltaEpoch") or "0")
    raw = req.query.get("$skiptoken") or req.query.get("$deltatoken")
    if not raw or raw == "latest":
        # A new round: "$deltatoken=latest" means "from now on, no data".
        latest = raw == "latest"
        return {"e": epoch, "t": sb.now(), "from": sb.store.last_change() if latest else -1,
                "to": sb.store.last_change(), "off": 0, "latest": latest}  # fmt: skip
    state = decode_token(raw)
    if not state or state.get("e") != epoch or sb.now() - state.get("t", 0) > sb.seconds(TOKEN_LIFETIME_S):
        raise _gone(sb, req)
    if "$deltatoken" in req.query:  # next round from where the last one ended
        state = {"e": epoch, "t": sb.now(), "from": state["to"], "to": sb.store.last_change(), "off": 0}
    return state


def _member(user_id: str, removed: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"@odata.type": "#microsoft.graph.user", "id": user_id}
    if removed:
        item["@removed"] = {"reason": "deleted"}
    return item


def _all_members(sb: Sandbox, group_id: str, *, owners: bool = False) -> list[dict[str, Any]]:
    rows = sb.store.query("member", parent=group_id)
    return [_member(m["userId"], False) for _, m in rows if not owners or "owner" in (m.get("roles") or [])]


def _group_view(
    sb: Sandbox,
    req: Req,
    group: dict[str, Any],
    members: list[dict[str, Any]] | None,
    owners: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    item = select(group, req.query)
    selected = [s.strip() for s in (req.query.get("$select") or "").split(",")]
    for relation, items in (("members", members), ("owners", owners)):
        if relation in selected:
            item.pop(relation, None)
            item[f"{relation}@delta"] = items if items is not None else []
    return item


def _snapshot(
    sb: Sandbox, req: Req, state: dict[str, Any], ids: list[str] | None
) -> tuple[list[dict[str, Any]], int | None]:
    where, args = ("", [])
    if ids is not None:
        where, args = f"id IN ({','.join('?' * len(ids))})", ids
    rows = sb.store.query("group", where=where, args=args, after=state["off"], limit=PAGE + 1)
    items = [
        _group_view(sb, req, g, _all_members(sb, g["id"]), _all_members(sb, g["id"], owners=True))
        for _, g in rows[:PAGE]
    ]
    return items, (rows[PAGE - 1][0] if len(rows) > PAGE else None)


def _changes(
    sb: Sandbox, req: Req, state: dict[str, Any], ids: list[str] | None
) -> tuple[list[dict[str, Any]], int | None]:
    per_group: dict[str, dict[str, Any]] = {}
    for seq, group_id, member_id, change in sb.store.changes_since(state["from"]):
        if seq > state["to"]:
            break
        if ids is not None and group_id not in ids:
            continue
        entry = per_group.setdefault(group_id, {"full": False, "members": {}, "owners": {}})
        if change == "group*":
            entry["full"] = True
        elif change in ("member+", "member-") and member_id:
            entry["members"][member_id] = change == "member-"
        elif change in ("owner+", "owner-") and member_id:
            entry["owners"][member_id] = change == "owner-"
    group_ids = list(per_group)[state["off"] : state["off"] + PAGE]
    items: list[dict[str, Any]] = []
    for group_id in group_ids:
        group = sb.store.get("group", group_id, deleted=None)
        if group is None:
            items.append({"id": group_id, "@removed": {"reason": "deleted"}})
            continue
        if group.get("deletedDateTime"):
            items.append({"id": group_id, "@removed": {"reason": "changed"}})
            continue
        entry = per_group[group_id]
        if entry["full"]:
            members, owners = _all_members(sb, group_id), _all_members(sb, group_id, owners=True)
        else:
            members = [_member(u, r) for u, r in entry["members"].items()]
            owners = [_member(u, r) for u, r in entry["owners"].items()]
        items.append(_group_view(sb, req, group, members, owners))
    more = state["off"] + PAGE < len(per_group)
    return items, (state["off"] + PAGE if more else None)


async def groups_delta(sb: Sandbox, req: Req) -> Resp:
    state = _state(sb, req)
    ids = _ids(req)
    items: list[dict[str, Any]] = []
    next_off: int | None = None
    if state.get("latest"):
        pass
    elif state["from"] < 0:
        items, next_off = _snapshot(sb, req, state, ids)
    else:
        items, next_off = _changes(sb, req, state, ids)
    body: dict[str, Any] = {
        "@odata.context": f"{req.base}/$metadata#groups(" + req.query.get("$select", "") + ")"
    }
    if next_off is not None:
        body["@odata.nextLink"] = next_link(
            req, {"$skiptoken": encode_token({**state, "off": next_off, "latest": False})}
        )
    else:
        token = {"e": state["e"], "t": sb.now(), "to": state["to"]}
        body["@odata.deltaLink"] = next_link(req, {"$deltatoken": encode_token(token)})
    body["value"] = items
    return Resp(200, body)


def register(router: Router) -> None:
    router.add("GET", "/groups/delta", groups_delta)
