"""`teams:` scenario steps: a person changes Teams by hand, through the Graph sandbox's side
channel (`/_sandbox/act/...`). Lookups use the side channel's tenant dump, so a person's actions
never show in the app's Graph request counters.

Which team is a store's: the Commerce mapping row, else the app's own mapping (state store),
else the team whose mailNickname is the configured `store-<number>`. Which Planner task is
`"TL-7/1"`: a task of that team's plans whose title or description carries the reference, else
whose title is the Commerce task's name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.state import teams as team_records

if TYPE_CHECKING:
    from local.stack.core import Stack


def _objects(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    return dict(stack.graph.state()["objects"])


def store_team_id(stack: Stack, store: str, objects: dict[str, list[dict[str, Any]]] | None = None) -> str:
    objects = objects if objects is not None else _objects(stack)
    live = {o["id"] for o in objects.get("team", []) if not o["deleted"]}
    candidates: list[str] = []
    if stack.commerce is not None:
        candidates += [str(m["team_id"]) for m in stack.commerce.mappings() if m.get("store") == store]
    try:
        record = stack.loop.run(team_records.get_team(stack.state(), f"store:{store}"))
        if record is not None:
            candidates.append(record.team_id)
    except Exception:
        pass
    for group in objects.get("group", []):
        if (
            not group["deleted"]
            and str(group["data"].get("mailNickname", "")).lower() == f"store-{store}".lower()
        ):
            candidates.append(group["id"])
    for team_id in candidates:
        if team_id in live:
            return team_id
    raise LookupError(
        f"store {store} has no team in the tenant (no Commerce mapping, app mapping or store-{store} group)"
    )


def _user_id(
    objects: dict[str, list[dict[str, Any]]], *, upn: str | None = None, employee_id: str | None = None
) -> str:
    for user in objects.get("user", []):
        data = user["data"]
        if upn is not None and str(data.get("userPrincipalName", "")).lower() == upn.lower():
            return str(user["id"])
        if employee_id is not None and data.get("employeeId") == employee_id:
            return str(user["id"])
    who = upn or f"employee id {employee_id}"
    raise LookupError(f"no directory user {who} in the Graph sandbox")


def _task_id(stack: Stack, objects: dict[str, list[dict[str, Any]]], team_id: str, ref: str) -> str:
    list_id, _, task_no = ref.partition("/")
    plans = {o["id"] for o in objects.get("plan", []) if o["parent"] == team_id and not o["deleted"]}
    tasks = [o for o in objects.get("task", []) if o["parent"] in plans and not o["deleted"]]
    details = {o["id"]: o["data"] for o in objects.get("details", [])}
    for t in tasks:
        text = f"{t['data'].get('title', '')} {(details.get(t['id']) or {}).get('description') or ''}"
        if ref in text:
            return str(t["id"])
    name = stack.commerce.task_name(list_id, task_no) if stack.commerce is not None else None
    for t in tasks:
        if name and t["data"].get("title") == name:
            return str(t["id"])
    raise LookupError(
        f"no Planner task for {ref} in the team's plans ({len(tasks)} tasks; Commerce name {name!r})"
    )


def act_in_teams(stack: Stack, step: dict[str, Any]) -> str:
    action = step["teams"]
    objects = _objects(stack)
    team_id = store_team_id(stack, str(step["store"]), objects)
    if action in ("remove_member", "add_member"):
        user_id = _user_id(objects, upn=str(step["upn"]))
        payload: dict[str, Any] = {"teamId": team_id, "userId": user_id}
        if action == "add_member":
            payload["owner"] = bool(step.get("owner", False))
        stack.graph.act(action.replace("_", "-"), **payload)
        return f"{step['upn']} {'removed from' if action == 'remove_member' else 'added to'} team {team_id}"
    if action == "rename_team":
        stack.graph.act("rename-team", teamId=team_id, displayName=str(step["name"]))
        return f"team {team_id} renamed to {step['name']!r}"
    if action in ("complete_task", "start_task"):
        user_id = _user_id(objects, employee_id=str(step["by"]))
        task_id = _task_id(stack, objects, team_id, str(step["task"]))
        stack.graph.act(action.replace("_", "-"), taskId=task_id, userId=user_id)
        stack.planner_changed()  # seen by the app's next Planner poll: `converged` waits for it
        done = "completed" if action == "complete_task" else "started"
        return f"Planner task {task_id} ({step['task']}) {done}"
    if action in ("create_task", "publish_task"):
        plan_id = _plan_id(objects, team_id)
        payload = {"planId": plan_id, "title": str(step["title"])}
        if step.get("by"):
            payload["userId"] = _user_id(objects, employee_id=str(step["by"]))
        if action == "publish_task":  # a list published from Teams (Tasks by Planner)
            payload.update(publicationId=str(step["publication"]), publicationName=str(step["publication"]))
        made = stack.graph.act(action.replace("_", "-"), **payload)
        stack.planner_changed()
        return f"Planner task {made['id']} {step['title']!r} made in Teams ({action})"
    raise ValueError(f"unknown teams action {action!r}")


def _plan_id(objects: dict[str, list[dict[str, Any]]], team_id: str) -> str:
    """The store team's task plan: the one titled "Store tasks" (the default plan title), else the
    first one."""
    plans = sorted(
        (o for o in objects.get("plan", []) if o["parent"] == team_id and not o["deleted"]),
        key=lambda o: (o["data"].get("title") != "Store tasks", o["id"]),
    )
    if not plans:
        raise LookupError(f"team {team_id} has no plan yet (a task list must be mirrored into it first)")
    return str(plans[0]["id"])
