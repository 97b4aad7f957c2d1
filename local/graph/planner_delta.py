"""Beta Planner task delta, plan-scoped: ``GET /beta/planner/plans/{id}/tasks/delta``.

https://learn.microsoft.com/graph/api/plannertask-delta?view=graph-rest-beta (application
permission Tasks.Read.All). The documented paths are ``/planner/tasks/delta`` and
``/me/planner/tasks/delta``; the documented example's deltaLink is scoped to one plan,
``…/beta/planner/plans('{id}')/tasks?$expand=details&$deltatoken=…``, and the beta SDKs expose a
plan-scoped builder, so the sandbox serves the plan-scoped start URL and answers deltaLinks of
that documented shape (the exact plan-scoped start path is [unconfirmed] in the reference).

- only under ``/beta`` (``/v1.0`` has no such segment → 400, as for any unknown segment);
- first round: every task of the plan (pages with ``$skiptoken``), then ``@odata.deltaLink``;
- later rounds: each task changed since the token once, as it is now; a deleted task comes back
  as ``{"id", "@removed": {"reason": "deleted"}}`` (https://learn.microsoft.com/graph/delta-query-overview);
- a token that is too old, from another plan, or issued before ``/_sandbox/expire-delta-tokens``
  → 410 Gone ``syncStateNotFound`` (the user-scoped Planner delta documents 410 for a token that is
  too old: https://learn.microsoft.com/graph/api/planneruser-list-delta); a malformed one → 400.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .core import Sandbox
from .errors import GraphError
from .wire import Req, Resp, decode_token, encode_token, public

PAGE = 100
TOKEN_LIFETIME_S = 7 * 24 * 3600


def _gone() -> GraphError:
    return GraphError(
        410, "syncStateNotFound", "The sync state generation is not found or has expired. Restart the sync."
    )


def _state(sb: Sandbox, req: Req, plan_id: str) -> dict[str, Any]:
    epoch = int(sb.store.meta("deltaEpoch") or "0")
    raw = req.query.get("$skiptoken") or req.query.get("$deltatoken")
    if not raw:  # a new round from nothing: a snapshot
        return {
            "e": epoch,
            "t": sb.now(),
            "p": plan_id,
            "from": -1,
            "to": sb.store.last_task_change(),
            "off": 0,
        }
    state = decode_token(raw)
    if state is None or "to" not in state:
        raise GraphError(400, "BadRequest", "The delta token is malformed.")
    if (
        state.get("e") != epoch
        or state.get("p") != plan_id
        or sb.now() - float(state.get("t", 0)) > sb.seconds(TOKEN_LIFETIME_S)
    ):
        raise _gone()
    if "$deltatoken" in req.query:  # the next round starts where the last one ended
        state = {"e": epoch, "t": sb.now(), "p": plan_id, "from": state["to"],
                 "to": sb.store.last_task_change(), "off": 0}  # fmt: skip
    return state


def _link(req: Req, path: str, name: str, token: dict[str, Any]) -> str:
    return f"{req.base}{path}?{name}={quote(encode_token(token))}"


async def plan_tasks_delta(sb: Sandbox, req: Req) -> Resp:
    from .planner import _get, _view

    if not req.base.endswith("/beta"):
        raise GraphError(400, "BadRequest", "Resource not found for the segment 'delta'.")
    plan = _get(sb, "plan", req.params["id"])
    state = _state(sb, req, plan["id"])
    items: list[dict[str, Any]] = []
    if state["from"] < 0:
        rows = sb.store.query("task", parent=plan["id"])
        ids = [t["id"] for _, t in rows]
        current = {t["id"]: t for _, t in rows}
    else:
        ids = sb.store.tasks_changed(plan["id"], state["from"], state["to"])
        current = {}
    for task_id in ids[state["off"] : state["off"] + PAGE]:
        task = current.get(task_id) or sb.store.get("task", task_id)
        if task is None:
            items.append({"@odata.type": "#microsoft.graph.plannerTask", "id": task_id,
                          "@removed": {"reason": "deleted"}})  # fmt: skip
        else:
            items.append(public(_view(req, task)))
    body: dict[str, Any] = {"@odata.context": f"{req.base}/$metadata#Collection(microsoft.graph.plannerTask)"}
    if state["off"] + PAGE < len(ids):
        token = {**state, "off": state["off"] + PAGE}
        body["@odata.nextLink"] = _link(req, f"/planner/plans/{plan['id']}/tasks/delta", "$skiptoken", token)
    else:
        token = {"e": state["e"], "t": sb.now(), "p": plan["id"], "to": state["to"]}
        body["@odata.deltaLink"] = _link(req, f"/planner/plans('{plan['id']}')/tasks", "$deltatoken", token)
    body["value"] = items
    return Resp(200, body)
